package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgCluster is a throwaway Postgres cluster in <data>/postgres: data/ (PGDATA) and run/ (its unix
// socket). Started by root, it runs as the postgres user, since Postgres refuses to run as root.
type pgCluster struct {
	dir     string // <data>/postgres
	port    int
	binDir  string
	cred    *syscall.Credential // nil: run as ourselves
	version string              // major version of the binaries
	// syncCommit is synchronous_commit (Options.PostgresSynchronousCommit).
	syncCommit string
}

func (c *pgCluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *pgCluster) runDir() string  { return filepath.Join(c.dir, "run") }

// URL is the server URL of the cluster (database postgres, user postgres, trust auth).
func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// pgVersionRE finds the major version in `postgres --version` ("postgres (PostgreSQL) 15.19 (Debian...)").
var pgVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// findPostgres looks for initdb and postgres: in want (if set), then /usr/lib/postgresql/<v>/bin
// for the version the existing cluster needs, else the newest there, else on PATH.
func findPostgres(want, clusterVersion string) (string, bool) {
	has := func(dir string) bool {
		for _, b := range []string{"postgres", "initdb"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if want != "" {
		return want, has(want)
	}
	if clusterVersion != "" {
		if dir := filepath.Join("/usr/lib/postgresql", clusterVersion, "bin"); has(dir) {
			return dir, true
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va // newest first
	})
	for _, d := range dirs {
		if has(d) {
			return d, true
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), true
	}
	return "", false
}

// newPGCluster prepares (but does not start) the cluster: finds or installs the binaries, checks
// they match an existing cluster, and settles which user runs it.
func newPGCluster(ctx context.Context, st *starter, dir string, port int) (*pgCluster, error) {
	c := &pgCluster{dir: dir, port: port, syncCommit: st.o.PostgresSynchronousCommit}
	clusterVersion := ""
	if b, err := os.ReadFile(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		clusterVersion = strings.TrimSpace(string(b))
	}
	binDir, ok := findPostgres(st.o.PostgresBinDir, clusterVersion)
	if !ok && st.o.PostgresBinDir != "" {
		return nil, fmt.Errorf("PARLEY_PG_BINDIR=%s holds no initdb and postgres", st.o.PostgresBinDir)
	}
	if !ok {
		if err := st.install(ctx, "no Postgres binaries under /usr/lib/postgresql/*/bin or on PATH", "postgresql"); err != nil {
			return nil, fmt.Errorf("postgres: %w (or set DATABASE_URL to a server you run)", err)
		}
		if binDir, ok = findPostgres("", clusterVersion); !ok {
			return nil, fmt.Errorf("postgres: installed the postgresql package but still no initdb and postgres under /usr/lib/postgresql/*/bin")
		}
	}
	c.binDir = binDir
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("postgres --version: %w", err)
	}
	m := pgVersionRE.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("postgres --version said %q; cannot tell the version", strings.TrimSpace(string(out)))
	}
	c.version = string(m[1])
	if clusterVersion != "" && clusterVersion != c.version {
		return nil, fmt.Errorf("the cluster in %s was made by Postgres %s, but the binaries in %s are Postgres %s: install Postgres %s, point PARLEY_PG_BINDIR at it, or delete %s to start afresh",
			c.dataDir(), clusterVersion, binDir, c.version, clusterVersion, c.dir)
	}

	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, the cluster must run as the postgres user, but there is none: install the postgresql package, which creates it: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	return c, nil
}

// prepare creates the directories (owned by the user that runs the cluster) and, the first time,
// the cluster itself with initdb.
func (c *pgCluster) prepare(ctx context.Context, out *LineWriter) error {
	for _, d := range []string{c.dir, c.runDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if c.cred != nil {
		if err := chownTree(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("hand %s to the postgres user: %w", c.dir, err)
		}
		if err := checkReachable(c.dir, c.cred); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	// A half-made cluster from an interrupted initdb is useless; initdb wants an empty directory.
	if err := os.RemoveAll(c.dataDir()); err != nil {
		return err
	}
	fmt.Fprintf(out, "(devstack) creating a cluster in %s with Postgres %s (first run only)\n", c.dataDir(), c.version)
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "initdb"),
		"--pgdata", c.dataDir(), "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync")
	cmd.Env = pgEnv()
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if err := cmd.Run(); err != nil {
		out.Flush()
		return fmt.Errorf("initdb: %w; its last lines:\n%s", err, tailText(out))
	}
	return nil
}

// spec is the postmaster's process: listening on 127.0.0.1 only, socket in run/.
func (c *pgCluster) spec(out *LineWriter) procSpec {
	socketDir := c.runDir()
	// A unix socket path is limited to 107 bytes; a deep data directory gets TCP only.
	if len(socketDir)+len("/.s.PGSQL.65535") > 100 {
		fmt.Fprintf(out, "(devstack) %s is too long a path for a unix socket; TCP only\n", socketDir)
		socketDir = ""
	}
	args := []string{
		"-D", c.dataDir(),
		"-p", strconv.Itoa(c.port),
		"-k", socketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		// off by default: a development cluster that a crash may cost its last few commits, never
		// its consistency. PARLEY_PG_SYNCHRONOUS_COMMIT=on measures what production runs.
		"-c", "synchronous_commit=" + c.syncCommit,
	}
	if c.hasStatStatements() {
		// Statement statistics for profiling (docs/performance.md): a few percent of CPU at most.
		args = append(args, "-c", "shared_preload_libraries=pg_stat_statements")
	}
	return procSpec{
		name: "postgres",
		path: filepath.Join(c.binDir, "postgres"),
		args: args,
		dir:  c.dir,
		env:  pgEnv(),
		cred: c.cred,
		// SIGINT is Postgres's fast shutdown: it does not wait for clients to disconnect.
		stopSignal: syscall.SIGINT,
		out:        out,
	}
}

// hasStatStatements reports whether the binaries come with the pg_stat_statements module (Debian's
// postgresql packages do, in <version>/lib next to <version>/bin); without it the option would
// keep the server from starting.
func (c *pgCluster) hasStatStatements() bool {
	_, err := os.Stat(filepath.Join(filepath.Dir(c.binDir), "lib", "pg_stat_statements.so"))
	return err == nil
}

// enableStatStatements creates the pg_stat_statements view in the postgres database, where a
// profiler reads it (the view shows every database's statements).
func enableStatStatements(ctx context.Context, serverURL string) error {
	return onServer(ctx, serverURL, func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			return fmt.Errorf("create extension pg_stat_statements: %w", err)
		}
		return nil
	})
}

// onServer runs fn on a connection to the server, within 30 s.
func onServer(ctx context.Context, serverURL string, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", maskURL(serverURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(cctx, conn)
}

func pgEnv() []string { return []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"} }

// chownTree gives dir and everything in it to uid:gid, unless dir already belongs to them.
func chownTree(dir string, uid, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// checkReachable fails clearly when the postgres user cannot reach dir because a directory above it
// is closed to others (a repository under /root, a test's 0700 temporary directory).
func checkReachable(dir string, cred *syscall.Credential) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == cred.Uid:
			can = mode&0o100 != 0
		case st.Gid == cred.Gid:
			can = mode&0o010 != 0
		default:
			can = mode&0o001 != 0
		}
		if !can {
			return fmt.Errorf("the postgres user cannot reach %s: %s is mode %o (owner uid %d); make it traversable (chmod o+x %s), move the data directory (PARLEY_DATA_DIR) to a place it can reach such as /var/tmp/parley, or set DATABASE_URL",
				dir, d, mode, st.Uid, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// pgAccepts succeeds when the server at url accepts a connection (a readiness check).
func pgAccepts(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// createDatabases creates each database that does not exist yet on the server.
func createDatabases(ctx context.Context, serverURL string, names []string) error {
	return onServer(ctx, serverURL, func(ctx context.Context, conn *pgx.Conn) error {
		for _, name := range names {
			var exists bool
			if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
				return fmt.Errorf("look for database %s: %w", name, err)
			}
			if exists {
				continue
			}
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by another stack
					continue
				}
				return fmt.Errorf("create database %s: %w", name, err)
			}
		}
		return nil
	})
}
