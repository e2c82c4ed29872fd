package pg_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/pgtest"
)

func TestMigrateAppliesEachFileOnceInOrder(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	files := fstest.MapFS{
		"002_add.sql":    {Data: []byte(`INSERT INTO things (name) VALUES ('second')`)},
		"001_create.sql": {Data: []byte(`CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL)`)},
	}
	for range 2 { // the second run finds nothing to do
		if err := pg.Migrate(ctx, pool, "demo", files); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want exactly one (each migration applied once)", n, err)
	}

	// A failing migration leaves nothing behind and is retried next time.
	bad := fstest.MapFS{"003_bad.sql": {Data: []byte(`INSERT INTO things (name) VALUES ('third'); SELECT 1/0`)}}
	for k, v := range files {
		bad[k] = v
	}
	err := pg.Migrate(ctx, pool, "demo", bad)
	if err == nil || !strings.Contains(err.Error(), "003_bad") {
		t.Fatalf("want an error naming 003_bad, got %v", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d after a failed migration; want 1", n)
	}

	// Components are tracked separately.
	if err := pg.Migrate(ctx, pool, "other", fstest.MapFS{"001_create.sql": {Data: []byte(`CREATE TABLE others (id int)`)}}); err != nil {
		t.Fatal(err)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v int)`); err != nil {
		t.Fatal(err)
	}
	err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			return err
		}
		return context.Canceled
	})
	if err == nil {
		t.Fatal("want the callback's error")
	}
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
	if n != 0 {
		t.Fatalf("rows = %d; the transaction should have rolled back", n)
	}
}

// Release rolls back the transaction a connection is still in, even once ctx has ended, and the
// pool keeps the connection; a committed transaction stays committed.
func TestReleaseEndsAnOpenTransaction(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v int)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := conn.Conn().PgConn().PID()
	for _, sql := range []string{`BEGIN`, `INSERT INTO t VALUES (1)`, `COMMIT`, `BEGIN`, `INSERT INTO t VALUES (2)`} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	pg.Release(ended, conn)

	var got []int32
	if err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(v), '{}') FROM t`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("rows = %v; want the committed 1 alone", got)
	}
	idle := pool.AcquireAllIdle(ctx)
	kept := false
	for _, c := range idle {
		kept = kept || c.Conn().PgConn().PID() == pid && c.Conn().PgConn().TxStatus() == 'I'
		c.Release()
	}
	if !kept {
		t.Fatal("the pool did not keep the connection, out of its transaction")
	}
}

func TestQueryAllScansEveryRow(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	type pair struct {
		n    int
		name string
	}
	scan := func(r pgx.Row) (pair, error) {
		var p pair
		err := r.Scan(&p.n, &p.name)
		return p, err
	}
	got, err := pg.QueryAll(ctx, pool, scan, `SELECT n, 'n' || n FROM generate_series(1, $1) AS n ORDER BY n`, 3)
	if err != nil || len(got) != 3 || got[0] != (pair{1, "n1"}) || got[2] != (pair{3, "n3"}) {
		t.Fatalf("QueryAll = %v, %v; want (1 n1) (2 n2) (3 n3)", got, err)
	}
	if _, err := pg.QueryAll(ctx, pool, scan, `SELECT n FROM generate_series(1, 2) AS n`); err == nil {
		t.Fatal("QueryAll with a scan that does not fit the rows: want the scan error")
	}
	if _, err := pg.QueryAll(ctx, pool, scan, `SELECT nonsense FROM nowhere`); err == nil {
		t.Fatal("QueryAll of a bad query: want its error")
	}
}

func TestWithDatabaseURLForm(t *testing.T) {
	ctx := context.Background()
	name := pgtest.New(t).Config().ConnConfig.Database
	url, err := pg.WithDatabase(pgtest.ServerURL(), name)
	if err != nil || !strings.Contains(url, "/"+name) {
		t.Fatalf("WithDatabase = %q, %v", url, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to the database WithDatabase named: %v", err)
	}
	if got := conn.Config().Database; got != name {
		t.Errorf("connected to %q, want %q", got, name)
	}
	conn.Close(ctx)
}

func TestWithDatabaseKeywordForm(t *testing.T) {
	got, err := pg.WithDatabase("host=127.0.0.1 user=postgres dbname=postgres", "x")
	if err != nil || !strings.HasSuffix(got, "dbname=x") {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := pg.WithDatabase("postgres://%zz", "x"); err == nil {
		t.Fatal("want an error for a malformed URL")
	}
}

func TestMigrationsDirHoldsTheMigrationsDirectory(t *testing.T) {
	files := fstest.MapFS{
		"migrations/001_create.sql": {Data: []byte(`CREATE TABLE things ()`)},
		"migrations/002_add.sql":    {Data: []byte(`ALTER TABLE things ADD COLUMN name text`)},
		"seed.sql":                  {Data: []byte(`not a migration`)},
	}
	names, err := fs.Glob(pg.MigrationsDir(files), "*.sql")
	if err != nil || strings.Join(names, " ") != "001_create.sql 002_add.sql" {
		t.Fatalf("MigrationsDir's *.sql = %v, %v; want the two files under migrations/", names, err)
	}
}

func TestIsUniqueViolationNamesTheConstraint(t *testing.T) {
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE people (email text CONSTRAINT people_email_key UNIQUE, nick text);
		CREATE UNIQUE INDEX people_nick_key ON people (lower(nick))`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO people VALUES ('a@example.com', 'Al')`); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO people VALUES ('a@example.com', 'Bo')`)
	if !pg.IsUniqueViolation(err, "people_email_key") || pg.IsUniqueViolation(err, "people_nick_key") {
		t.Fatalf("a taken email: %v; want a violation of people_email_key only", err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO people VALUES ('b@example.com', 'AL')`)
	if !pg.IsUniqueViolation(err, "people_nick_key") || pg.IsUniqueViolation(err, "people_email_key") {
		t.Fatalf("a taken nickname: %v; want a violation of the unique index people_nick_key only", err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO people VALUES (1/0, 'Cy')`)
	if err == nil || pg.IsUniqueViolation(err, "people_email_key") || pg.IsUniqueViolation(nil, "people_email_key") {
		t.Fatalf("another error (%v) or none counts as a unique violation", err)
	}
}
