// Package pg holds the Postgres plumbing every service shares: a pgx pool, embedded migrations
// applied at start, InTx for transactions (Release for one run by hand) and QueryAll for listings.
package pg

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool and checks the server answers, retrying for up to wait so a service that
// starts a moment before its database does not fail. configure, when given, adjusts the pool's
// configuration before it connects (telemetry's tracer: Telemetry.ConfigurePool).
func Open(ctx context.Context, url string, wait time.Duration, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = pool.Ping(pingCtx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("ping database %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// InTx runs fn in a transaction: committed when fn returns nil, rolled back otherwise.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}

// Release gives back to its pool a connection on which a transaction is run by hand: BEGIN and
// COMMIT sent as statements, where InTx does not fit (the whole transaction queued in one
// pgx.Batch, one round trip; a transaction kept open across other work). Defer it right after
// Acquire. A transaction still open, after an error or a return before the COMMIT, is rolled back
// first, even when ctx has ended (within 5s), so that the pool can keep the connection; if the
// rollback fails, the pool closes the connection, which ends the transaction on the server.
func Release(ctx context.Context, conn *pgxpool.Conn) {
	if c := conn.Conn(); !c.IsClosed() && c.PgConn().TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = c.Exec(rctx, "ROLLBACK")
		cancel()
	}
	conn.Release()
}

// Querier runs a query: a *pgxpool.Pool, a pgx.Tx or a *pgx.Conn.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// QueryAll runs sql on q and returns every row it yields, each turned into a T by scan. Use it
// for a listing whose rows one scan function reads (the same one a single-row read passes
// QueryRow to); the error, of the query or of a row, is pgx's, for the caller to wrap once.
func QueryAll[T any](ctx context.Context, q Querier, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// IsUniqueViolation reports whether err is Postgres refusing a row because constraint, a unique
// constraint or unique index named as in the migrations, already holds its value. Use it where a
// store turns such a refusal into a domain error ("email: already registered").
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// WithDatabase returns url with its database name replaced by name.
func WithDatabase(url, name string) (string, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		u, err := neturl.Parse(url)
		if err != nil {
			return "", fmt.Errorf("parse database url: %w", err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	if _, err := pgx.ParseConfig(url); err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	return url + " dbname=" + name, nil // keyword/value form: the last dbname wins
}
