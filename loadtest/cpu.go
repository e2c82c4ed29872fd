package main

// CPU per process: the stack's processes are found on this machine by the TCP ports they listen
// on, and their utime+stime is read from /proc at the start and end of each phase. Postgres is a
// tree (postmaster, backends, background workers): its whole tree is summed, plus the
// postmaster's reaped children's times, so backends that exited during the phase still count.

import (
	"os"
	"slices"
	"strings"
	"time"
)

// procWant names a process of the stack by the port it listens on.
type procWant struct {
	Name string
	Port int  // 0: not known (not on this machine)
	Tree bool // sum the process's descendants and its reaped children too
}

// procRef is a wanted process, resolved.
type procRef struct {
	procWant
	PID int // 0: not found
}

// cpuWatch samples a fixed set of processes.
type cpuWatch struct {
	procRoot string
	selfPID  int
	procs    []procRef
}

// newCPUWatch finds the wanted processes by their listening ports.
func newCPUWatch(procRoot string, wants []procWant) *cpuWatch {
	w := &cpuWatch{procRoot: procRoot, selfPID: os.Getpid()}
	ports, err := listeningInodes(procRoot)
	if err != nil {
		ports = nil
	}
	wanted := map[uint64]bool{}
	for _, want := range wants {
		for _, ino := range ports[want.Port] {
			wanted[ino] = true
		}
	}
	owners := inodeOwners(procRoot, wanted)
	var parents map[int]int
	for _, want := range wants {
		ref := procRef{procWant: want}
		var holders []int
		for _, ino := range ports[want.Port] {
			holders = append(holders, owners[ino]...)
		}
		if len(holders) > 0 {
			if parents == nil {
				parents = parentMap(procRoot)
			}
			ref.PID = rootMost(holders, parents)
		}
		w.procs = append(w.procs, ref)
	}
	return w
}

// rootMost picks, of the processes holding a listening socket (a forked child may inherit it),
// the one whose parent does not hold it too.
func rootMost(holders []int, parents map[int]int) int {
	slices.Sort(holders)
	holders = slices.Compact(holders)
	set := map[int]bool{}
	for _, p := range holders {
		set[p] = true
	}
	for _, p := range holders {
		if !set[parents[p]] {
			return p
		}
	}
	return holders[0]
}

// pid returns the process found for name, or 0.
func (w *cpuWatch) pid(name string) int {
	for _, p := range w.procs {
		if p.Name == name {
			return p.PID
		}
	}
	return 0
}

// cpuSnapshot is one reading of every watched process.
type cpuSnapshot struct {
	at      time.Time
	ticks   map[string]uint64 // by process name; absent: not readable (exited)
	pids    map[string][]int
	self    uint64
	machine machineCPU
}

func (w *cpuWatch) snapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), ticks: map[string]uint64{}, pids: map[string][]int{}}
	var parents map[int]int
	for _, p := range w.procs {
		if p.PID == 0 {
			continue
		}
		root, err := readProcStat(w.procRoot, p.PID)
		if err != nil {
			continue
		}
		if !p.Tree {
			s.ticks[p.Name] = root.Utime + root.Stime
			s.pids[p.Name] = []int{p.PID}
			continue
		}
		if parents == nil {
			parents = parentMap(w.procRoot)
		}
		sum := root.Cutime + root.Cstime
		tree := descendants(parents, p.PID)
		for _, pid := range tree {
			if t, err := readProcStat(w.procRoot, pid); err == nil {
				sum += t.Utime + t.Stime
			}
		}
		s.ticks[p.Name] = sum
		s.pids[p.Name] = tree
	}
	if t, err := readProcStat(w.procRoot, w.selfPID); err == nil {
		s.self = t.Utime + t.Stime
	}
	s.machine, _ = readMachineCPU(w.procRoot)
	return s
}

// ProcessCPU is one process's CPU over a phase.
type ProcessCPU struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid,omitempty"`
	Processes  int     `json:"processes,omitempty"` // for a tree (Postgres): how many at the end
	Found      bool    `json:"found"`
	CPUSeconds float64 `json:"cpu_seconds"`
	MsPerUnit  float64 `json:"cpu_ms_per_unit"`
	// InStackTotal is false for a process that is also the load generator (the embedded broker
	// of a stack started inside a test).
	InStackTotal bool   `json:"in_stack_total"`
	Note         string `json:"note,omitempty"`
}

// PhaseCPU is every process's CPU over one phase.
type PhaseCPU struct {
	Unit        string       `json:"unit"`  // what MsPerUnit divides by: message, row, call, connection
	Units       int64        `json:"units"` // how many of them
	WallSeconds float64      `json:"wall_seconds"`
	Processes   []ProcessCPU `json:"processes"`
	// StackSeconds sums the found stack processes (not the load generator).
	StackSeconds   float64    `json:"stack_cpu_seconds"`
	StackMsPerUnit float64    `json:"stack_cpu_ms_per_unit"`
	LoadGenerator  ProcessCPU `json:"load_generator"`
	// MachineBusySeconds is all CPU time spent on the machine (every process, the kernel), from
	// /proc/stat, so other work on a shared machine shows; MachineCapacitySeconds = wall × CPUs.
	MachineBusySeconds     float64 `json:"machine_busy_cpu_seconds"`
	MachineCapacitySeconds float64 `json:"machine_capacity_cpu_seconds"`
}

// diff turns two snapshots into per-process CPU, divided by units of unit.
func (w *cpuWatch) diff(a, b cpuSnapshot, unit string, units int64) PhaseCPU {
	pc := PhaseCPU{Unit: unit, Units: units, WallSeconds: b.at.Sub(a.at).Seconds()}
	per := func(sec float64) float64 {
		if units <= 0 {
			return 0
		}
		return sec * 1000 / float64(units)
	}
	for _, p := range w.procs {
		r := ProcessCPU{Name: p.Name, PID: p.PID, InStackTotal: p.PID != w.selfPID}
		t0, ok0 := a.ticks[p.Name]
		t1, ok1 := b.ticks[p.Name]
		switch {
		case p.PID == 0 && p.Port == 0:
			r.Note = "not on this machine"
		case p.PID == 0:
			r.Note = "not found (nothing listens on its port here)"
		case !ok0 || !ok1 || t1 < t0:
			r.Note = "exited during the phase"
		default:
			r.Found = true
			r.CPUSeconds = ticksToSeconds(t1 - t0)
			r.MsPerUnit = per(r.CPUSeconds)
			if p.Tree {
				r.Processes = len(b.pids[p.Name])
			}
			switch {
			case !r.InStackTotal:
				r.Note = "the load generator's own process: not in the stack total"
			case strings.Contains(p.Name, "devstack"):
				r.Note = "also the dev stack's log console, which every service's output passes through"
				pc.StackSeconds += r.CPUSeconds
			default:
				pc.StackSeconds += r.CPUSeconds
			}
		}
		pc.Processes = append(pc.Processes, r)
	}
	pc.StackMsPerUnit = per(pc.StackSeconds)
	self := ticksToSeconds(b.self - a.self)
	pc.LoadGenerator = ProcessCPU{Name: "load generator", PID: w.selfPID, Found: true, CPUSeconds: self, MsPerUnit: per(self)}
	if b.machine.Total > a.machine.Total {
		pc.MachineBusySeconds = ticksToSeconds(b.machine.Busy - a.machine.Busy)
	}
	pc.MachineCapacitySeconds = pc.WallSeconds * float64(numCPU())
	return pc
}
