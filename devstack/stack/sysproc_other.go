//go:build !linux

package stack

import "syscall"

// sysProcAttr puts the child in its own process group. Without Linux's parent-death signal, a dev
// stack killed with SIGKILL leaves its children running.
func sysProcAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
