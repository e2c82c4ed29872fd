package pgtest_test

import (
	"testing"

	"github.com/parleyhq/parley/platform/pgtest"
)

// Count returns the query's integer, and fails the test when the query fails.
func TestCount(t *testing.T) {
	pool := pgtest.New(t)
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM generate_series(1, $1::int)`, 3); n != 3 {
		t.Fatalf("Count = %d, want 3", n)
	}
	ft := &fatalRecorder{T: t}
	func() {
		defer func() { _ = recover() }()
		pgtest.Count(ft, pool, `SELECT count(*) FROM no_such_table`)
	}()
	if !ft.failed {
		t.Fatal("Count of a failing query did not fail the test")
	}
}

// fatalRecorder records Fatalf instead of failing the test, and stops the helper as Fatalf does.
type fatalRecorder struct {
	*testing.T
	failed bool
}

func (f *fatalRecorder) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
