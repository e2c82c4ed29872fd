package stack

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresClusterRunsAsPostgresAndKeepsData starts a throwaway cluster in a temporary
// directory on a free port, writes a row, stops it and starts it again.
func TestPostgresClusterRunsAsPostgresAndKeepsData(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	out := output(t)
	console := NewConsole(out, false, 8)
	base, err := FreePortBase()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its path carries the test's long name, and under a TMPDIR a few characters
	// longer than /tmp the socket's path would pass the limit where the stack falls back to TCP
	// only, while this test checks the socket.
	short, err := os.MkdirTemp("", "pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(short) })
	if err := os.Chmod(short, 0o755); err != nil { // reachable by the postgres user
		t.Fatal(err)
	}
	dir := filepath.Join(short, "postgres")
	st := &starter{o: Options{NoInstall: true, PostgresSynchronousCommit: "on"}, console: console}

	start := func() (*pgCluster, *process) {
		t.Helper()
		c, err := newPGCluster(ctx, st, dir, base)
		if err != nil {
			t.Fatal(err)
		}
		w := console.Writer("postgres")
		if err := c.prepare(ctx, w); err != nil {
			t.Fatal(err)
		}
		p, err := startProcess(c.spec(w))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.stop(10 * time.Second) })
		if err := waitFor(ctx, "postgres", p, time.Minute, func(ctx context.Context) error { return pgAccepts(ctx, c.URL()) }); err != nil {
			t.Fatal(err)
		}
		return c, p
	}

	c, p := start()
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		if uid := procUID(t, p.pid()); uid != pg.Uid {
			t.Errorf("postmaster runs as uid %s, want postgres (%s)", uid, pg.Uid)
		}
		fi, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); got != pg.Uid {
			t.Errorf("cluster files belong to uid %s, want postgres (%s)", got, pg.Uid)
		}
	}
	if _, err := os.Stat(filepath.Join(c.runDir(), fmt.Sprintf(".s.PGSQL.%d", base))); err != nil {
		t.Errorf("no unix socket in the run directory: %v", err)
	}

	// The settings the dev stack starts the server with: synchronous_commit as asked, and the
	// statement statistics a profiler reads (docs/performance.md).
	var syncCommit string
	sqlQueryRow(t, ctx, c.URL(), "SHOW synchronous_commit", &syncCommit)
	if syncCommit != "on" {
		t.Errorf("synchronous_commit = %q, want on (PARLEY_PG_SYNCHRONOUS_COMMIT)", syncCommit)
	}
	if c.hasStatStatements() {
		if err := enableStatStatements(ctx, c.URL()); err != nil {
			t.Fatal(err)
		}
		var calls int64
		sqlQueryRow(t, ctx, c.URL(), "SELECT count(*) FROM pg_stat_statements", &calls)
		if calls == 0 {
			t.Error("pg_stat_statements shows no statements")
		}
	} else {
		t.Logf("no pg_stat_statements module next to %s; statement statistics are off", c.binDir)
	}

	if err := createDatabases(ctx, c.URL(), []string{"parley_auth", "parley_chat"}); err != nil {
		t.Fatal(err)
	}
	// Creating them again is a no-op, not an error.
	if err := createDatabases(ctx, c.URL(), []string{"parley_auth"}); err != nil {
		t.Fatal(err)
	}
	authURL, _ := withDatabase(c.URL(), "parley_auth")
	sqlExec(t, ctx, authURL, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('still here')")

	p.stop(10 * time.Second)
	if alive(p.pid()) {
		t.Fatal("postmaster still running after stop")
	}
	if err := waitFor(ctx, "postgres", nil, 200*time.Millisecond, func(ctx context.Context) error { return pgAccepts(ctx, c.URL()) }); err == nil {
		t.Fatal("postgres still answers after stop")
	}

	start()
	conn, err := pgx.Connect(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "still here" {
		t.Fatalf("after a restart: %q, %v", v, err)
	}
}

func sqlExec(t *testing.T, ctx context.Context, url string, stmts ...string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func sqlQueryRow(t *testing.T, ctx context.Context, url, query string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, query).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// procUID is the real uid of a process, from /proc.
func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return ""
}

func TestPostgresUserMustReachTheDataDirectory(t *testing.T) {
	closed := t.TempDir() // 0700, owned by us
	dir := filepath.Join(closed, "data", "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := checkReachable(dir, &syscall.Credential{Uid: 4242, Gid: 4242})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), closed) {
		t.Fatalf("err = %v, want one naming %s", err, closed)
	}
	open := filepath.Join(reachableTempDir(t), "data", "postgres")
	if err := os.MkdirAll(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkReachable(open, &syscall.Credential{Uid: 4242, Gid: 4242}); err != nil {
		t.Fatalf("reachable directory refused: %v", err)
	}
}

func TestFindPostgresPrefersTheClusterVersion(t *testing.T) {
	dir, ok := findPostgres("", "")
	if !ok {
		t.Fatal("no Postgres binaries on this machine (the dev stack would install them)")
	}
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	if _, ok := findPostgres(t.TempDir(), ""); ok {
		t.Error("an explicit directory without binaries was accepted")
	}
}
