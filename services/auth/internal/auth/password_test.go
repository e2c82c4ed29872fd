package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func newTestHasher(t *testing.T, p Argon2Params) *PasswordHasher {
	t.Helper()
	h, err := NewPasswordHasher(p, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDefaultParamsMeetOWASPMinimum(t *testing.T) {
	if err := DefaultArgon2Params.Validate(); err != nil {
		t.Fatal(err)
	}
	if MinArgon2Params.MemoryKiB < 19*1024 || MinArgon2Params.Time < 2 || MinArgon2Params.Threads < 1 {
		t.Fatalf("minimum %v is below OWASP's m=19456,t=2,p=1", MinArgon2Params)
	}
	for _, p := range []Argon2Params{
		{MemoryKiB: 19*1024 - 1, Time: 2, Threads: 1},
		{MemoryKiB: 64 * 1024, Time: 1, Threads: 1},
		{MemoryKiB: 64 * 1024, Time: 2, Threads: 0},
	} {
		if _, err := NewPasswordHasher(p, 1, time.Second); err == nil {
			t.Errorf("NewPasswordHasher(%v) accepted parameters below the minimum", p)
		}
	}
}

func TestHashFormatAndVerify(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, MinArgon2Params)
	encoded, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the configured parameters", encoded)
	}
	d, err := decodeArgon2(encoded)
	if err != nil || len(d.salt) != 16 || len(d.key) != 32 {
		t.Fatalf("decode: %+v %v", d, err)
	}
	again, _ := h.Hash(ctx, "correct horse")
	if again == encoded {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	ok, rehash, err := h.Verify(ctx, "correct horse", encoded)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, _, err = h.Verify(ctx, "correct horsf", encoded)
	if err != nil || ok {
		t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyAsksForRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, MinArgon2Params)
	encoded, _ := old.Hash(ctx, "password1")
	stronger := newTestHasher(t, Argon2Params{MemoryKiB: 24 * 1024, Time: 2, Threads: 1})

	ok, rehash, err := stronger.Verify(ctx, "password1", encoded)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify with changed params = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	ok, rehash, _ = stronger.Verify(ctx, "wrong-password", encoded)
	if ok || rehash {
		t.Fatal("a wrong password must neither verify nor ask for a rehash")
	}
	fresh, _ := stronger.Hash(ctx, "password1")
	if _, rehash, _ := stronger.Verify(ctx, "password1", fresh); rehash {
		t.Fatal("a hash made with the current params must not need a rehash")
	}
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	h := newTestHasher(t, MinArgon2Params)
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, _, err := h.Verify(context.Background(), "x", bad); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestVerifyDummyFails(t *testing.T) {
	h := newTestHasher(t, MinArgon2Params)
	if err := h.VerifyDummy(context.Background(), "anything"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("dummy hash %q does not use the current parameters, so it would not cost the same", h.dummy)
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	h, err := NewPasswordHasher(MinArgon2Params, 2, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Take both slots as two running hashes would: a third hash must not start.
	h.sem <- struct{}{}
	h.sem <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with every slot taken and a cancelled context = %v; want context.Canceled", err)
	}
	if _, _, err := h.Verify(context.Background(), "password1", h.dummy); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with every slot taken after the queue timeout = %v; want ErrBusy", err)
	}
	<-h.sem
	if _, err := h.Hash(context.Background(), "password1"); err != nil {
		t.Fatalf("Hash with a free slot = %v", err)
	}
	if len(h.sem) != 1 {
		t.Fatalf("Hash did not give its slot back: %d taken, want 1", len(h.sem))
	}
}
