package events_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parleyhq/parley/platform/events"
)

func TestTimeOrFallsBackToThePublicationTime(t *testing.T) {
	published := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	ev := events.Event{Time: published}
	if got := ev.TimeOr(nil); !got.Equal(published) {
		t.Fatalf("unset field: %v, want the publication time %v", got, published)
	}
	said := published.Add(-time.Minute)
	if got := ev.TimeOr(timestamppb.New(said)); !got.Equal(said) {
		t.Fatalf("set field: %v, want %v", got, said)
	}
}
