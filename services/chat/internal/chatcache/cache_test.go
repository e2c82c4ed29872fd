package chatcache_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
)

// Two replicas share the answers: one caches, the other handles the friend event, and from the
// moment Invalidate returns nobody reads the old answer.
func TestAnswersAreSharedAndInvalidatedAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	replica1 := chatcache.New(redistest.New(t), time.Minute)
	replica2 := chatcache.New(redistest.New(t), time.Minute)
	a, b := uuid.NewString(), uuid.NewString()

	if _, found, err := replica1.Get(ctx, a, b); err != nil || found {
		t.Fatalf("empty cache: found %v, %v", found, err)
	}
	if err := replica1.Put(ctx, a, b, false); err != nil {
		t.Fatal(err)
	}
	if friends, found, err := replica2.Get(ctx, b, a); err != nil || !found || friends {
		t.Fatalf("the other replica, pair reversed: friends %v found %v, %v; want the cached 'not friends'", friends, found, err)
	}
	if err := replica2.Invalidate(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if _, found, err := replica1.Get(ctx, a, b); err != nil || found {
		t.Fatalf("after invalidation: found %v, %v; want no answer", found, err)
	}
	if err := replica2.Put(ctx, b, a, true); err != nil {
		t.Fatal(err)
	}
	if friends, found, err := replica1.Get(ctx, a, b); err != nil || !found || !friends {
		t.Fatalf("a new answer: friends %v found %v, %v", friends, found, err)
	}
	r := redistest.New(t)
	ttl, err := r.Do(ctx, r.B().Pttl().Key(chatcache.Key(a, b)).Build()).AsInt64()
	if err != nil || ttl <= 0 || ttl > time.Minute.Milliseconds() {
		t.Fatalf("entry TTL %dms (%v); want within the configured minute", ttl, err)
	}
}
