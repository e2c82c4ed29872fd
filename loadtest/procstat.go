package main

// Reading /proc: which process listens on a TCP port, a process's CPU times, memory and parent,
// and the machine's CPU counters. Every function takes the /proc root so tests can feed samples.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc (`getconf CLK_TCK`). The kernel fixes
// it at 100 for user space on every architecture Linux runs Go on, so it is not asked for (that
// would need cgo's sysconf).
const clockTicks = 100

// tcpListen is the state column of a listening socket in /proc/net/tcp{,6}.
const tcpListen = "0A"

// parseListeners reads /proc/net/tcp or /proc/net/tcp6 text and returns, for each listening
// port, the socket inodes listening on it (one per address family or bound address).
func parseListeners(r io.Reader) (map[int][]uint64, error) {
	out := map[int][]uint64{}
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the header line
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("bad local address %q", f[1])
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port %q: %w", portHex, err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad inode %q: %w", f[9], err)
		}
		if inode == 0 {
			continue
		}
		out[int(port)] = append(out[int(port)], inode)
	}
	return out, sc.Err()
}

// listeningInodes merges the IPv4 and IPv6 tables under procRoot.
func listeningInodes(procRoot string) (map[int][]uint64, error) {
	all := map[int][]uint64{}
	found := false
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, name))
		if err != nil {
			continue // no IPv6 on this machine, say
		}
		m, err := parseListeners(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		found = true
		for p, inodes := range m {
			all[p] = append(all[p], inodes...)
		}
	}
	if !found {
		return nil, fmt.Errorf("cannot read %s/net/tcp", procRoot)
	}
	return all, nil
}

// socketInode parses a /proc/<pid>/fd link target such as "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	rest, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// pids lists the numeric entries of procRoot.
func pids(procRoot string) []int {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// inodeOwners maps each wanted socket inode to the processes holding it open. Processes we may
// not look into (another user's, without root) are skipped.
func inodeOwners(procRoot string, wanted map[uint64]bool) map[uint64][]int {
	out := map[uint64][]int{}
	for _, pid := range pids(procRoot) {
		dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			link, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if ino, ok := socketInode(link); ok && wanted[ino] {
				out[ino] = append(out[ino], pid)
			}
		}
	}
	return out
}

// procTimes is what CPU accounting needs from /proc/<pid>/stat, in clock ticks.
type procTimes struct {
	PPid           int
	Utime, Stime   uint64
	Cutime, Cstime uint64 // reaped children's times
	Comm           string
}

// parseProcStat parses the one line of /proc/<pid>/stat. The command name is in parentheses and
// may itself contain spaces and parentheses, so fields are counted from the last ')'.
func parseProcStat(line string) (procTimes, error) {
	open := strings.IndexByte(line, '(')
	end := strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procTimes{}, fmt.Errorf("bad stat line %q", line)
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state); utime is field 14, so f[11].
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("short stat line %q", line)
	}
	num := func(i int) (uint64, error) { return strconv.ParseUint(f[i], 10, 64) }
	var t procTimes
	t.Comm = line[open+1 : end]
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return t, fmt.Errorf("ppid: %w", err)
	}
	t.PPid = ppid
	for i, dst := range []*uint64{&t.Utime, &t.Stime} {
		if *dst, err = num(11 + i); err != nil {
			return t, fmt.Errorf("cpu times: %w", err)
		}
	}
	// cutime and cstime are signed in the kernel's format; they are never negative in practice.
	for i, dst := range []*uint64{&t.Cutime, &t.Cstime} {
		v, err := strconv.ParseInt(f[13+i], 10, 64)
		if err != nil {
			return t, fmt.Errorf("children's cpu times: %w", err)
		}
		*dst = uint64(max(v, 0))
	}
	return t, nil
}

func readProcStat(procRoot string, pid int) (procTimes, error) {
	return readProcFile(procRoot, func(s string) (procTimes, error) { return parseProcStat(strings.TrimSpace(s)) }, strconv.Itoa(pid), "stat")
}

// readProcFile reads the file at path (elements joined) under procRoot and parses its text.
func readProcFile[T any](procRoot string, parse func(string) (T, error), path ...string) (T, error) {
	b, err := os.ReadFile(filepath.Join(append([]string{procRoot}, path...)...))
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(string(b))
}

// parseVmRSS returns VmRSS from /proc/<pid>/status text, in bytes.
func parseVmRSS(status string) (int64, error) {
	f, line, ok := procLine(status, "VmRSS:")
	if !ok {
		return 0, fmt.Errorf("no VmRSS (a kernel thread or a zombie?)")
	}
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("bad VmRSS line %q", line)
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad VmRSS line %q", line)
	}
	return kb * 1024, nil
}

// procLine finds the first line of a /proc key-value file (status, limits) that starts with key
// and returns the fields after the key, and the line.
func procLine(text, key string) (fields []string, line string, ok bool) {
	for line := range strings.SplitSeq(text, "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			return strings.Fields(rest), line, true
		}
	}
	return nil, "", false
}

func readRSS(procRoot string, pid int) (int64, error) {
	return readProcFile(procRoot, parseVmRSS, strconv.Itoa(pid), "status")
}

// parseMaxOpenFiles reads the soft "Max open files" limit from /proc/<pid>/limits text.
func parseMaxOpenFiles(limits string) (int64, bool) {
	f, _, ok := procLine(limits, "Max open files")
	if !ok || len(f) < 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	return n, err == nil
}

// machineCPU is the first line of /proc/stat summed into busy and total ticks.
type machineCPU struct{ Busy, Total uint64 }

// parseMachineCPU reads the aggregate "cpu" line of /proc/stat: user nice system idle iowait irq
// softirq steal guest guest_nice. Idle and iowait are not busy; guest time is already in user.
func parseMachineCPU(stat string) (machineCPU, error) {
	for line := range strings.SplitSeq(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return machineCPU{}, fmt.Errorf("bad cpu line %q", line)
			}
			v[i] = n
		}
		idle := v[3] + v[4]
		busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		return machineCPU{Busy: busy, Total: busy + idle}, nil
	}
	return machineCPU{}, fmt.Errorf("no cpu line in /proc/stat")
}

func readMachineCPU(procRoot string) (machineCPU, error) {
	return readProcFile(procRoot, parseMachineCPU, "stat")
}

// parentMap reads every process's parent, for finding a process's descendants.
func parentMap(procRoot string) map[int]int {
	out := map[int]int{}
	for _, pid := range pids(procRoot) {
		if t, err := readProcStat(procRoot, pid); err == nil {
			out[pid] = t.PPid
		}
	}
	return out
}

// descendants lists root and every process below it, root first.
func descendants(parents map[int]int, root int) []int {
	children := map[int][]int{}
	for pid, pp := range parents {
		children[pp] = append(children[pp], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// ticksToSeconds converts clock ticks to seconds.
func ticksToSeconds(t uint64) float64 { return float64(t) / clockTicks }
