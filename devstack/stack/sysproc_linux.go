package stack

import "syscall"

// sysProcAttr puts the child in its own process group and has the kernel send it sig if the dev
// stack dies without stopping it (SIGKILL, a crash), so nothing is orphaned.
func sysProcAttr(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
