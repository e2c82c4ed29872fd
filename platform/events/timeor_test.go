package events_test

import (
	"strings"
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

func TestUUIDRefusesAMalformedIDForGood(t *testing.T) {
	ev := events.Event{ID: "e1", Type: "parley.events.v1.UserDeleted"}
	id, err := ev.UUID("user_id", "7F1C2F4E-8A55-4D0E-9A43-3F0C0F6D2B11")
	if err != nil || id != "7f1c2f4e-8a55-4d0e-9a43-3f0c0f6d2b11" {
		t.Fatalf("a valid id: %q, %v; want it lower-cased", id, err)
	}
	_, err = ev.UUID("user_id", "nope")
	if err == nil || !strings.HasPrefix(err.Error(), "parley.events.v1.UserDeleted e1: user_id: must be a UUID") {
		t.Fatalf("a malformed id: %v; want an error naming the event and the field", err)
	}
	if !events.IsPermanent(err) {
		t.Fatalf("a malformed id: %v is not Permanent; retrying cannot fix it", err)
	}
}
