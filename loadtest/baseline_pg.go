package main

// The database baseline: what the same Postgres does with the simplest durable write a message
// needs, a single-row autocommit INSERT, from as many workers as the message phase has senders.
// A message through Parley can never be cheaper than this; the ratio says how far above it is.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const baselineDB = "parley_loadtest_baseline"

// PGBaseline is the raw INSERT baseline's result.
type PGBaseline struct {
	Skipped         string  `json:"skipped,omitempty"`
	Workers         int     `json:"workers"`
	DurationSeconds float64 `json:"duration_seconds"`
	Rows            int64   `json:"rows"`
	Errors          int64   `json:"errors"`
	RowsPerSecond   float64 `json:"rows_per_second"`
	InsertLatency   Latency `json:"insert_latency"`
	// SynchronousCommit is the setting the baseline's own connections ran with.
	SynchronousCommit string    `json:"synchronous_commit"`
	PostgresMsPerRow  float64   `json:"postgres_cpu_ms_per_row"`
	CPU               *PhaseCPU `json:"cpu,omitempty"`
}

// SyncCommit is synchronous_commit as a new connection to a database sees it.
type SyncCommit struct {
	Database string `json:"database"`
	Setting  string `json:"setting,omitempty"`
	Source   string `json:"source,omitempty"` // where it came from: default, configuration file, command line, database…
	Error    string `json:"error,omitempty"`
}

func (s SyncCommit) String() string {
	if s.Error != "" {
		return "unknown (" + s.Error + ")"
	}
	return fmt.Sprintf("%s (source: %s, database %s)", s.Setting, s.Source, s.Database)
}

// withDatabase replaces the database of a Postgres server URL.
func withDatabase(serverURL, db string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("postgres URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// readSyncCommit asks a new connection to db what synchronous_commit it runs with, and why.
func readSyncCommit(ctx context.Context, serverURL, db string) SyncCommit {
	sc := SyncCommit{Database: db}
	dbURL, err := withDatabase(serverURL, db)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dbURL)
	if err != nil {
		sc.Error = err.Error()
		return sc
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(cctx, `SELECT setting, source FROM pg_settings WHERE name = 'synchronous_commit'`).Scan(&sc.Setting, &sc.Source); err != nil {
		sc.Error = err.Error()
	}
	return sc
}

// prepareBaselineTable creates the baseline's database and table when missing and empties the
// table, so a long-lived deployment's baseline does not grow run after run.
func prepareBaselineTable(ctx context.Context, serverURL string) (string, error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, baselineDB).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+baselineDB)
	}
	conn.Close(context.Background())
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", baselineDB, err)
	}
	dbURL, err := withDatabase(serverURL, baselineDB)
	if err != nil {
		return "", err
	}
	conn, err = pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", baselineDB, err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS messages (
			id         bigserial   PRIMARY KEY,
			chat_id    uuid        NOT NULL,
			body       text        NOT NULL,
			created_at timestamptz NOT NULL DEFAULT now()
		)`,
		`TRUNCATE messages`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", strings.Fields(q)[0], err)
		}
	}
	return dbURL, nil
}

// runPGBaseline runs workers single-row INSERT loops (pgx, prepared, autocommit) for dur.
func (r *runner) runPGBaseline(ctx context.Context) PGBaseline {
	res := PGBaseline{Workers: r.cfg.Workers}
	if r.tgt.PostgresURL == "" {
		res.Skipped = "no Postgres URL (give -postgres-url)"
		return res
	}
	dbURL, err := prepareBaselineTable(ctx, r.tgt.PostgresURL)
	if err != nil {
		res.Skipped = "Postgres unreachable: " + err.Error()
		return res
	}
	conns := make([]*pgx.Conn, r.cfg.Workers)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	const insert = `INSERT INTO messages (chat_id, body) VALUES ($1, $2)`
	for i := range conns {
		c, err := pgx.Connect(ctx, dbURL)
		if err == nil {
			_, err = c.Prepare(ctx, "insert", insert)
		}
		if err != nil {
			res.Skipped = "Postgres connection: " + err.Error()
			return res
		}
		conns[i] = c
	}
	if err := conns[0].QueryRow(ctx, `SHOW synchronous_commit`).Scan(&res.SynchronousCommit); err != nil {
		res.SynchronousCommit = "unknown: " + err.Error()
	}

	var errs atomic.Int64
	body := strings.Repeat("x", 40) // the size of a short chat message
	run := r.runTimed(ctx, "pg-baseline", "row", len(conns),
		func(ctx context.Context, w int) error {
			_, err := conns[w].Exec(ctx, "insert", [16]byte(uuid.New()), body)
			return err
		},
		func(w int, err error) bool {
			errs.Add(1)
			return errors.Is(err, context.Canceled) || conns[w].IsClosed()
		})
	res.DurationSeconds = run.elapsed.Seconds()
	res.Rows, res.Errors = run.done, errs.Load()
	res.RowsPerSecond = float64(res.Rows) / run.elapsed.Seconds()
	res.InsertLatency = run.latency
	res.CPU = &run.cpu
	res.PostgresMsPerRow = msPerUnitOf(res.CPU, "postgres")
	return res
}
