package presence_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/services/notification/internal/presence"
)

func TestLastSeenReadsTheGatewaysKeys(t *testing.T) {
	ctx := context.Background()
	client := redistest.New(t)
	p := presence.New(client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	online, gone, never, garbled := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	now := time.Now().Truncate(time.Millisecond)
	if err := presence.Touch(ctx, client, online, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := presence.Touch(ctx, client, gone, now.Add(-time.Hour), time.Minute); err != nil {
		t.Fatal(err)
	}
	// A value a gateway should never write.
	if err := client.Do(ctx, client.B().Set().Key(presence.Key(garbled)).Value("yesterday").Px(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Do(context.Background(), client.B().Del().Key(presence.Key(online), presence.Key(gone), presence.Key(garbled)).Build())
	})
	// The contract: Unix milliseconds as a decimal string under parley:presence:<user_id>.
	if raw, ok := redistest.Get(t, client, "parley:presence:"+online); !ok || raw != strconv.FormatInt(now.UnixMilli(), 10) {
		t.Fatalf("key parley:presence:<id> = %q (kept: %v); want %d", raw, ok, now.UnixMilli())
	}
	seen, err := p.LastSeen(ctx, []string{online, gone, never, garbled})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !seen[online].Equal(now) || !seen[gone].Equal(now.Add(-time.Hour)) {
		t.Fatalf("LastSeen = %v; want the two written times only", seen)
	}
	if got, err := p.LastSeen(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("LastSeen(nil) = %v, %v", got, err)
	}
}
