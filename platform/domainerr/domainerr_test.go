package domainerr

import (
	"errors"
	"io"
	"testing"
)

func TestMessageIsTheCallersAndKindAndCauseStayReachable(t *testing.T) {
	errQuota := errors.New("quota")
	err := Wrap(ResourceExhausted, io.ErrUnexpectedEOF, "storage: %d bytes over your quota", 12)
	if err.Error() != "storage: 12 bytes over your quota" {
		t.Fatalf("message %q", err.Error())
	}
	if !errors.Is(err, ResourceExhausted) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, NotFound) || errors.Is(err, errQuota) {
		t.Fatalf("errors.Is sees the wrong chain: %v", err)
	}
	var de *Error
	if !errors.As(err, &de) || de.Kind != ResourceExhausted {
		t.Fatalf("errors.As: %#v", de)
	}
	plain := Errorf(errQuota, "no cause")
	if !errors.Is(plain, errQuota) || len(plain.(*Error).Unwrap()) != 1 {
		t.Fatalf("a service's own kind: %v", plain)
	}
}
