package events_test

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/pgtest"
)

func TestOpenDatabaseAppliesEventsThenOwnMigrations(t *testing.T) {
	empty := pgtest.New(t) // no migrations yet
	url := pgtest.URL(t, empty)
	ctx := context.Background()
	own := fstest.MapFS{"0001_widgets.sql": {Data: []byte(`CREATE TABLE widgets (id bigint PRIMARY KEY);`)}}

	pool, err := events.OpenDatabase(ctx, url, time.Second, "widgets", own, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('outbox', 'inbox', 'widgets')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("tables = %d, %v; want outbox, inbox and widgets", tables, err)
	}
	var components []string
	rows, err := pool.Query(ctx, `SELECT DISTINCT component FROM schema_migrations ORDER BY component`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		components = append(components, c)
	}
	if len(components) != 2 || components[0] != "events" || components[1] != "widgets" {
		t.Fatalf("components = %v", components)
	}

	bad := fstest.MapFS{"0001_bad.sql": {Data: []byte(`CREATE TABLE nonsense (`)}}
	if _, err := events.OpenDatabase(ctx, url, time.Second, "bad", bad, nil); err == nil {
		t.Fatal("a failing migration was not reported")
	}
	if _, err := events.OpenDatabase(ctx, "postgres://nobody@127.0.0.1:1/x?sslmode=disable", 0, "widgets", own, nil); err == nil {
		t.Fatal("an unreachable database was not reported")
	}
}
