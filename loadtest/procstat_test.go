package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A /proc/net/tcp sample: a listener on 127.0.0.1:8080 (0x1F90), a connection from it (not a
// listener), and a listener on 0.0.0.0:5433 (0x1539).
const sampleTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 41002 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1539 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 41003 1 0000000000000000 100 0 0 10 0
`

// A /proc/net/tcp6 sample: [::1]:6380 (0x18EC) listening.
const sampleTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:18EC 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41004 1 0000000000000000 100 0 0 10 0
`

func TestParseListeners(t *testing.T) {
	got, err := parseListeners(strings.NewReader(sampleTCP))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]uint64{8080: {41001}, 5433: {41003}}
	if len(got) != len(want) || !slices.Equal(got[8080], want[8080]) || !slices.Equal(got[5433], want[5433]) {
		t.Fatalf("listeners = %v, want %v (the established connection must not count)", got, want)
	}
	got6, err := parseListeners(strings.NewReader(sampleTCP6))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got6[6380], []uint64{41004}) || len(got6) != 1 {
		t.Fatalf("tcp6 listeners = %v", got6)
	}
	if _, err := parseListeners(strings.NewReader("header\n 0: 0100007F:ZZZZ 00000000:0000 0A 0 0 0 0 0 1 1\n")); err == nil {
		t.Fatal("a bad port was accepted")
	}
}

// statLine builds a /proc/<pid>/stat line with the given parent and times.
func statLine(pid int, comm string, ppid int, utime, stime, cutime, cstime uint64) string {
	// Fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority …
	return strconv.Itoa(pid) + " (" + comm + ") S " + strconv.Itoa(ppid) + " 1 1 0 -1 4194560 100 0 0 0 " +
		strconv.FormatUint(utime, 10) + " " + strconv.FormatUint(stime, 10) + " " +
		strconv.FormatUint(cutime, 10) + " " + strconv.FormatUint(cstime, 10) + " 20 0 8 0 12345 0 0"
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	got, err := parseProcStat(statLine(42, "postgres: a (b) c", 7, 150, 50, 30, 20))
	if err != nil {
		t.Fatal(err)
	}
	want := procTimes{PPid: 7, Utime: 150, Stime: 50, Cutime: 30, Cstime: 20, Comm: "postgres: a (b) c"}
	if got != want {
		t.Fatalf("parseProcStat = %+v, want %+v", got, want)
	}
	if _, err := parseProcStat("42 (x) S 1 2"); err == nil {
		t.Fatal("a short line was accepted")
	}
}

func TestParseStatusLimitsAndMachineCPU(t *testing.T) {
	rss, err := parseVmRSS("Name:\tgateway\nVmPeak:\t  900 kB\nVmRSS:\t   61712 kB\nThreads:\t9\n")
	if err != nil || rss != 61712*1024 {
		t.Fatalf("VmRSS = %d, %v", rss, err)
	}
	if _, err := parseVmRSS("Name:\tkthreadd\n"); err == nil {
		t.Fatal("no VmRSS line was accepted")
	}
	limits := "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 524288               files     \n"
	if n, ok := parseMaxOpenFiles(limits); !ok || n != 1024 {
		t.Fatalf("max open files = %d, %v", n, ok)
	}
	m, err := parseMachineCPU("cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n")
	if err != nil {
		t.Fatal(err)
	}
	// busy = user+nice+system+irq+softirq+steal = 100+5+50+3+2+1; idle = idle+iowait.
	if m.Busy != 161 || m.Total != 161+1020 {
		t.Fatalf("machine cpu = %+v", m)
	}
}

func TestDescendantsAndRootMost(t *testing.T) {
	parents := map[int]int{10: 1, 11: 10, 12: 10, 13: 11, 20: 1}
	got := descendants(parents, 10)
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Fatalf("descendants = %v", got)
	}
	// A forked child inheriting the listening socket must not be taken for the listener.
	if p := rootMost([]int{13, 11}, parents); p != 11 {
		t.Fatalf("rootMost = %d, want 11", p)
	}
}

// fakeProc builds a /proc tree: net/tcp, and per process a stat file and fd links.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &fakeProc{t: t, root: root}
}

func (f *fakeProc) write(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeProc) proc(pid, ppid int, utime, stime, cutime, cstime uint64, sockets ...uint64) {
	f.t.Helper()
	f.write(strconv.Itoa(pid)+"/stat", statLine(pid, "p"+strconv.Itoa(pid), ppid, utime, stime, cutime, cstime)+"\n")
	dir := filepath.Join(f.root, strconv.Itoa(pid), "fd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	for i, ino := range sockets {
		_ = os.Remove(filepath.Join(dir, strconv.Itoa(i+3)))
		if err := os.Symlink("socket:["+strconv.FormatUint(ino, 10)+"]", filepath.Join(dir, strconv.Itoa(i+3))); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestCPUWatchFindsProcessesByPortAndSumsPostgresTree(t *testing.T) {
	f := newFakeProc(t)
	f.write("net/tcp", sampleTCP)
	f.write("net/tcp6", sampleTCP6)
	f.write("stat", "cpu  1000 0 0 5000 0 0 0 0 0 0\n")
	f.proc(100, 1, 500, 100, 0, 0, 41001)    // gateway on 8080
	f.proc(200, 1, 1000, 200, 40, 10, 41003) // postmaster on 5433
	f.proc(201, 200, 300, 100, 0, 0)         // a backend
	f.proc(202, 200, 50, 50, 0, 0)           // a backend that will exit
	f.proc(300, 1, 70, 30, 0, 0, 41004)      // redis on [::1]:6380
	w := newCPUWatch(f.root, []procWant{
		{Name: "gateway", Port: 8080},
		{Name: "postgres", Port: 5433, Tree: true},
		{Name: "redis", Port: 6380},
		{Name: "chat", Port: 8084}, // nothing listens there
		{Name: "broker", Port: 0},  // not on this machine
	})
	if w.pid("gateway") != 100 || w.pid("postgres") != 200 || w.pid("redis") != 300 || w.pid("chat") != 0 {
		t.Fatalf("found %+v", w.procs)
	}
	a := w.snapshot()

	// One second later: gateway +2 s of CPU; backend 202 exited having used 0.5 s more
	// (its total 1.5 s now in the postmaster's cutime/cstime); a new backend 203 used 0.3 s;
	// the postmaster itself 0.1 s; the machine 10 s busy.
	f.proc(100, 1, 600, 200, 0, 0)
	if err := os.RemoveAll(filepath.Join(f.root, "202")); err != nil {
		t.Fatal(err)
	}
	f.proc(200, 1, 1005, 205, 40+100, 10+50, 41003)
	f.proc(201, 200, 300, 100, 0, 0)
	f.proc(203, 200, 20, 10, 0, 0)
	f.write("stat", "cpu  2000 0 0 5500 0 0 0 0 0 0\n")
	b := w.snapshot()
	b.at = a.at.Add(1e9)

	pc := w.diff(a, b, "message", 100)
	got := map[string]ProcessCPU{}
	for _, p := range pc.Processes {
		got[p.Name] = p
	}
	if g := got["gateway"]; !g.Found || g.CPUSeconds != 2 || g.MsPerUnit != 20 {
		t.Errorf("gateway = %+v, want 2 s, 20 ms per message", g)
	}
	// postgres: the postmaster +0.1 s, the exited backend +0.5 s (its whole 1.5 s moved into the
	// postmaster's reaped-children times), the new backend 0.3 s: 0.9 s in all.
	start := uint64(1000+200+40+10) + (300 + 100) + (50 + 50)
	end := uint64(1005+205+140+60) + (300 + 100) + (20 + 10)
	if g := got["postgres"]; !g.Found || g.CPUSeconds != ticksToSeconds(end-start) || g.Processes != 3 {
		t.Errorf("postgres = %+v, want %.2f s over 3 processes", g, ticksToSeconds(end-start))
	}
	if g := got["chat"]; g.Found || !strings.Contains(g.Note, "not found") {
		t.Errorf("chat = %+v, want not found", g)
	}
	if g := got["broker"]; g.Found || g.Note != "not on this machine" {
		t.Errorf("broker = %+v", g)
	}
	if g := got["postgres"]; math.Abs(g.CPUSeconds-0.9) > 1e-9 {
		t.Errorf("postgres = %v s, want 0.9", g.CPUSeconds)
	}
	if g := got["redis"]; !g.Found || g.CPUSeconds != 0 {
		t.Errorf("redis = %+v, want found, idle", g)
	}
	if math.Abs(pc.StackSeconds-2.9) > 1e-9 {
		t.Errorf("stack total = %v, want 2.9 (gateway 2 + postgres 0.9)", pc.StackSeconds)
	}
	if pc.MachineBusySeconds != 10 {
		t.Errorf("machine busy = %v, want 10", pc.MachineBusySeconds)
	}
}
