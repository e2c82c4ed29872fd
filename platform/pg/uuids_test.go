package pg_test

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/parleyhq/parley/platform/pg"
)

// UUIDs hands canonical UUIDs to pgx in binary, and anything else as it was, so the database
// still refuses what it refused before.
func TestUUIDs(t *testing.T) {
	ids := []string{"0190b3c2-7a4e-7cde-8f00-1234567890ab", "0190B3C2-7A4E-7CDE-8F00-1234567890AC"}
	got, ok := pg.UUIDs(ids).([]pgtype.UUID)
	if !ok || len(got) != 2 || !got[0].Valid || !got[1].Valid {
		t.Fatalf("UUIDs(%q) = %#v, want two valid pgtype.UUIDs", ids, pg.UUIDs(ids))
	}
	if s := got[1].String(); s != "0190b3c2-7a4e-7cde-8f00-1234567890ac" {
		t.Errorf("second id encoded as %s", s)
	}
	for _, bad := range [][]string{
		{ids[0], "not-a-uuid"},
		{"{0190b3c2-7a4e-7cde-8f00-1234567890ab}"},
		{"urn:uuid:0190b3c2-7a4e-7cde-8f00-1234567890ab"},
	} {
		if same, ok := pg.UUIDs(bad).([]string); !ok || !slices.Equal(same, bad) {
			t.Errorf("UUIDs(%q) = %#v, want the strings as they were", bad, pg.UUIDs(bad))
		}
	}
}
