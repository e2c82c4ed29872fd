package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/parleyhq/parley/platform/domainerr"
)

// Argon2Params are the argon2id cost parameters. They are stored in every hash (PHC string format),
// so they can be raised at any time: hashes made with other parameters are re-made at the next
// successful login.
type Argon2Params struct {
	MemoryKiB uint32 // m, in KiB
	Time      uint32 // t, passes
	Threads   uint8  // p, lanes
}

// MinArgon2Params is the floor the service refuses to go below: OWASP's Password Storage Cheat
// Sheet minimum for argon2id (m=19 MiB, t=2, p=1).
var MinArgon2Params = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// DefaultArgon2Params is what the service uses unless configured otherwise: above the OWASP minimum
// in memory (32 MiB, t=2, p=1), about 40-60 ms on one core of a current server. Memory is the cost
// that hurts GPU/ASIC attackers; one lane keeps a login from occupying more than one core.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 32 * 1024, Time: 2, Threads: 1}

const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
	// maxArgon2MemoryKiB bounds what a stored hash may ask for (4 GiB), so a corrupt row cannot make
	// the service allocate without limit.
	maxArgon2MemoryKiB = 4 * 1024 * 1024
)

// Validate reports parameters below MinArgon2Params or beyond sane bounds.
func (p Argon2Params) Validate() error {
	if p.MemoryKiB < MinArgon2Params.MemoryKiB || p.Time < MinArgon2Params.Time || p.Threads < MinArgon2Params.Threads {
		return fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d are below the minimum m=%d,t=%d,p=%d",
			p.MemoryKiB, p.Time, p.Threads, MinArgon2Params.MemoryKiB, MinArgon2Params.Time, MinArgon2Params.Threads)
	}
	if p.MemoryKiB > maxArgon2MemoryKiB {
		return fmt.Errorf("argon2id memory %d KiB is above the %d KiB limit", p.MemoryKiB, maxArgon2MemoryKiB)
	}
	if p.Time > 100 {
		return fmt.Errorf("argon2id time %d is above the limit of 100", p.Time)
	}
	return nil
}

func (p Argon2Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads)
}

// PasswordHasher hashes and verifies passwords with argon2id. A semaphore bounds how many hashes run
// at once (each holds MemoryKiB of memory), so a flood of logins queues instead of exhausting memory;
// a caller that waits longer than the queue timeout gets ErrBusy.
type PasswordHasher struct {
	params       Argon2Params
	sem          chan struct{}
	queueTimeout time.Duration
	dummy        string // a hash of a random password, verified when the account does not exist
	computed     atomic.Uint64
}

// NewPasswordHasher returns a hasher with params, running at most concurrency hashes at once and
// letting a caller wait at most queueTimeout for a slot.
func NewPasswordHasher(params Argon2Params, concurrency int, queueTimeout time.Duration) (*PasswordHasher, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	if concurrency < 1 {
		return nil, fmt.Errorf("password hash concurrency must be at least 1, got %d", concurrency)
	}
	if queueTimeout <= 0 {
		return nil, fmt.Errorf("password hash queue timeout must be positive, got %s", queueTimeout)
	}
	h := &PasswordHasher{params: params, sem: make(chan struct{}, concurrency), queueTimeout: queueTimeout}
	var random [32]byte
	_, _ = rand.Read(random[:])
	h.dummy = h.encode(random[:])
	return h, nil
}

// Computed returns how many argon2id keys the hasher has derived (hashes and verifications, the
// dummy included). Tests use it to prove that two paths cost the same work without timing them.
func (h *PasswordHasher) Computed() uint64 { return h.computed.Load() }

// Params returns the parameters new hashes are made with.
func (h *PasswordHasher) Params() Argon2Params { return h.params }

func (h *PasswordHasher) acquire(ctx context.Context) error {
	timer := time.NewTimer(h.queueTimeout)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return domainerr.Errorf(ErrBusy, "too many sign-in attempts are being processed; try again in a moment")
	}
}

func (h *PasswordHasher) release() { <-h.sem }

// Hash returns the PHC-style encoding of password's argon2id hash with a fresh random salt:
// $argon2id$v=19$m=32768,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.encode([]byte(password)), nil
}

func (h *PasswordHasher) encode(password []byte) string {
	salt := make([]byte, argon2SaltLen)
	_, _ = rand.Read(salt) // crypto/rand never fails on supported platforms
	h.computed.Add(1)
	key := argon2.IDKey(password, salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, argon2KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.MemoryKiB, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches encoded (compared in constant time) and, when it does,
// whether encoded was made with other parameters than the current ones and should be replaced.
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	d, err := decodeArgon2(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	h.computed.Add(1)
	key := argon2.IDKey([]byte(password), d.salt, d.params.Time, d.params.MemoryKiB, d.params.Threads, uint32(len(d.key)))
	if subtle.ConstantTimeCompare(key, d.key) != 1 {
		return false, false, nil
	}
	rehash = d.params != h.params || len(d.salt) != argon2SaltLen || len(d.key) != argon2KeyLen
	return true, rehash, nil
}

// VerifyDummy spends the time and memory of a real verification and always fails. Login calls it
// for an unknown email so that the answer takes as long as for a wrong password.
func (h *PasswordHasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

type decodedArgon2 struct {
	params    Argon2Params
	salt, key []byte
}

var errBadHash = errors.New("stored password hash is not a valid argon2id PHC string")

func decodeArgon2(encoded string) (decodedArgon2, error) {
	var d decodedArgon2
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return d, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return d, fmt.Errorf("%w: unsupported version %q", errBadHash, parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &d.params.MemoryKiB, &d.params.Time, &d.params.Threads); err != nil {
		return d, fmt.Errorf("%w: parameters %q", errBadHash, parts[3])
	}
	if d.params.MemoryKiB == 0 || d.params.MemoryKiB > maxArgon2MemoryKiB || d.params.Time == 0 || d.params.Time > 100 ||
		d.params.Threads == 0 || d.params.MemoryKiB < 8*uint32(d.params.Threads) {
		return d, fmt.Errorf("%w: parameters %q out of range", errBadHash, parts[3])
	}
	var err error
	if d.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(d.salt) < 8 {
		return d, fmt.Errorf("%w: salt", errBadHash)
	}
	if d.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(d.key) < 16 || len(d.key) > 128 {
		return d, fmt.Errorf("%w: hash", errBadHash)
	}
	return d, nil
}
