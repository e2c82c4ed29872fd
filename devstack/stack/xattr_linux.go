package stack

import (
	"errors"
	"syscall"
)

// xattrSupported reports whether dir's file system keeps user extended attributes, where
// versitygw's posix backend stores object metadata.
func xattrSupported(dir string) bool {
	const name = "user.parley-devstack-probe"
	err := syscall.Setxattr(dir, name, []byte("1"), 0)
	if err != nil {
		return !errors.Is(err, syscall.ENOTSUP) && !errors.Is(err, syscall.EOPNOTSUPP)
	}
	_ = syscall.Removexattr(dir, name)
	return true
}
