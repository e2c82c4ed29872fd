package main

// The machine a run measured: printed beside every figure, since figures from a 2-core laptop and
// from a 32-core server are not comparable.

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Machine describes where the run happened.
type Machine struct {
	CPUModel      string `json:"cpu_model"`
	CPUs          int    `json:"cpus"`
	Kernel        string `json:"kernel"`
	GoVersion     string `json:"go_version"`
	Hostname      string `json:"hostname"`
	LoadAvgStart  string `json:"loadavg_start"`
	LoadAvgEnd    string `json:"loadavg_end"`
	OpenFileLimit uint64 `json:"open_file_limit"`
	Date          string `json:"date"`
}

func numCPU() int { return runtime.NumCPU() }

func describeMachine(now time.Time) Machine {
	m := Machine{CPUs: numCPU(), GoVersion: runtime.Version(), Date: now.UTC().Format(time.RFC3339), LoadAvgStart: loadAvg()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(b))
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:]) + " " + utsString(u.Machine[:])
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.OpenFileLimit = rl.Cur
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo text.
func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// utsString reads a NUL-terminated utsname field (int8 or uint8 depending on the architecture).
func utsString[T int8 | uint8](b []T) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// raiseFileLimit lifts RLIMIT_NOFILE as far as it goes (thousands of sockets each need a
// descriptor) and returns the limit now in force: a privileged process (root) raises the hard
// limit too, up to the kernel's fs.nr_open (at most 1<<20); anyone else the soft limit to the
// hard one. Children (the private stack, the bare server) inherit it.
func raiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want := min(n, 1<<20)
			if want > rl.Max {
				_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) // fails unless privileged
				_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
			}
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}
