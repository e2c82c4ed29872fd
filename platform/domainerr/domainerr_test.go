package domainerr

import (
	"errors"
	"io"
	"testing"
)

func TestMessageIsTheCallersAndKindAndCauseStayReachable(t *testing.T) {
	errQuota := errors.New("quota")
	err := Wrap(ErrResourceExhausted, io.ErrUnexpectedEOF, "storage: %d bytes over your quota", 12)
	if err.Error() != "storage: 12 bytes over your quota" {
		t.Fatalf("message %q", err.Error())
	}
	if !errors.Is(err, ErrResourceExhausted) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrNotFound) || errors.Is(err, errQuota) {
		t.Fatalf("errors.Is sees the wrong chain: %v", err)
	}
	var de *Error
	if !errors.As(err, &de) || !errors.Is(de.Kind, ErrResourceExhausted) || de.Msg != err.Error() {
		t.Fatalf("errors.As: %#v", de)
	}
	plain := Errorf(errQuota, "no cause")
	if !errors.Is(plain, errQuota) || !errors.As(plain, &de) || len(de.Unwrap()) != 1 {
		t.Fatalf("a service's own kind: %v", plain)
	}
}
