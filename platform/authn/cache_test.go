package authn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// countingKeys counts how often a verification asked for the keys: once per full check.
type countingKeys struct {
	StaticKeys
	mu    sync.Mutex
	asked int
}

func (c *countingKeys) KeySet(ctx context.Context) (jwk.Set, error) {
	c.mu.Lock()
	c.asked++
	c.mu.Unlock()
	return c.StaticKeys.KeySet(ctx)
}

func (c *countingKeys) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestVerifiedTokensAreCheckedOnceUntilTheyExpire(t *testing.T) {
	k := newKeyPair(t, "k1")
	keys := &countingKeys{StaticKeys: StaticKeys{Set: k.set(t)}}
	clock := &fakeClock{t: time.Now()}
	v := newVerifier(keys, "parley", "parley", clock.now)
	raw := k.sign(t, func(b *jwt.Builder) *jwt.Builder {
		return b.IssuedAt(clock.now()).Expiration(clock.now().Add(time.Minute))
	})

	for i := range 3 {
		p, err := v.Verify(context.Background(), raw)
		if err != nil || p.UserID != "user-1" || p.SessionID != "session-1" || p.Token != raw {
			t.Fatalf("verify %d: %+v, %v", i, p, err)
		}
	}
	if n := keys.count(); n != 1 {
		t.Fatalf("three verifications of one token checked it in full %d times, want once", n)
	}

	// A byte changed in the signature is another token: checked in full, and refused.
	swap := "A"
	if raw[len(raw)-2] == 'A' {
		swap = "B"
	}
	tampered := raw[:len(raw)-2] + swap + raw[len(raw)-1:]
	if _, err := v.Verify(context.Background(), tampered); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a tampered copy of a cached token: %v, want ErrInvalidToken", err)
	}

	// Past exp (and the 30 s skew) the cache no longer answers and the full check refuses it.
	clock.advance(time.Minute + 31*time.Second)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after expiry: %v, want ErrInvalidToken", err)
	}
}

func TestRefusedTokensAreNotRemembered(t *testing.T) {
	k := newKeyPair(t, "k1")
	keys := &countingKeys{StaticKeys: StaticKeys{Set: k.set(t)}}
	v := NewVerifier(keys, "parley", "parley")
	bad := k.sign(t, func(b *jwt.Builder) *jwt.Builder { return b.Issuer("someone-else") })
	for range 2 {
		if _, err := v.Verify(context.Background(), bad); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("wrong issuer: %v", err)
		}
	}
	if n := keys.count(); n != 2 {
		t.Fatalf("a refused token was checked %d times in two calls, want 2 (never cached)", n)
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("cache holds %d entries after refusals, want 0", n)
	}
}

func TestVerifiedCacheStaysBounded(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	c := newVerifiedCache(100, clock.now)
	c.put("old", Principal{UserID: "o"}, clock.now().Add(time.Second))
	clock.advance(2 * time.Second)
	for i := range 1000 {
		c.put(string(rune('a'+i%26))+time.Duration(i).String(), Principal{UserID: "u"}, clock.now().Add(time.Minute))
		if n := c.len(); n > 100 {
			t.Fatalf("after %d puts the cache holds %d entries, over its bound of 100", i+1, n)
		}
	}
	if _, ok := c.get("old"); ok {
		t.Fatal("an expired entry answered")
	}
	c.put("expired", Principal{}, clock.now().Add(-time.Second))
	if _, ok := c.get("expired"); ok {
		t.Fatal("a token already expired was remembered")
	}
}
