package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Started by `go run ./devstack up`, the dev stack is the go command's child. A Ctrl-C
// reaches both, and the go command ignores it; but a SIGTERM sent to the go command alone kills it
// without passing anything on, which would orphan the dev stack and all it runs. So the dev stack
// asks the kernel for SIGTERM when the go command dies, and stops cleanly. Only then: a dev stack
// started by a shell and left running on purpose (nohup) keeps running.
func init() {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	// init runs on the main thread, the one the parent-death signal must be set on.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return
	}
	if os.Getppid() != ppid { // the go command died before the request took effect
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
