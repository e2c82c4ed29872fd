package main

// Profiles (-profile), taken during the closed loop so they show where the cost of a message
// goes: a pprof CPU profile from every service's admin listener, Postgres' pg_stat_statements,
// and Redis' commandstats. Profiling costs CPU itself; figures of a -profile run are a little
// worse than without it.

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
)

// Profiles is what -profile collected.
type Profiles struct {
	PprofDir      string         `json:"pprof_dir,omitempty"`
	Pprof         []PprofResult  `json:"pprof"`
	PGSkipped     string         `json:"pg_stat_statements_skipped,omitempty"`
	PGStatements  []PGStatement  `json:"pg_stat_statements"`
	RedisSkipped  string         `json:"redis_commandstats_skipped,omitempty"`
	RedisCommands []RedisCommand `json:"redis_commandstats"`
}

// PprofResult is one service's CPU profile.
type PprofResult struct {
	Service string `json:"service"`
	File    string `json:"file,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	Error   string `json:"error,omitempty"`
}

// PGStatement is one row of pg_stat_statements.
type PGStatement struct {
	Database        string  `json:"database"`
	Query           string  `json:"query"`
	Calls           int64   `json:"calls"`
	TotalMs         float64 `json:"total_exec_ms"`
	MeanMs          float64 `json:"mean_exec_ms"`
	Rows            int64   `json:"rows"`
	CallsPerMessage float64 `json:"calls_per_message"`
}

// RedisCommand is one line of INFO commandstats.
type RedisCommand struct {
	Command         string  `json:"command"`
	Calls           int64   `json:"calls"`
	Usec            int64   `json:"usec"`
	UsecPerCall     float64 `json:"usec_per_call"`
	CallsPerMessage float64 `json:"calls_per_message"`
}

type profileJob struct {
	r     *runner
	wg    sync.WaitGroup
	mu    sync.Mutex
	res   Profiles
	redis rueidis.Client
	pgOK  bool
}

// startProfiles resets the statistics and starts the CPU profiles, which run for the phase's
// duration less a second (so they end before the phase does).
func (r *runner) startProfiles(ctx context.Context, phase time.Duration) *profileJob {
	j := &profileJob{r: r}
	j.res.PprofDir = filepath.Join(r.outDir, "pprof")
	secs := max(int((phase-time.Second)/time.Second), 1)
	dirErr := os.MkdirAll(j.res.PprofDir, 0o755)
	if len(r.tgt.AdminPorts) == 0 {
		j.res.Pprof = append(j.res.Pprof, PprofResult{Service: "all", Error: "no admin listeners known (-admin-offset 0, or the deployment is not on this machine)"})
	} else if dirErr != nil {
		j.res.Pprof = append(j.res.Pprof, PprofResult{Service: "all", Error: dirErr.Error()})
	} else {
		for _, s := range serviceOffsets {
			port, ok := r.tgt.AdminPorts[s.name]
			if !ok {
				continue
			}
			j.wg.Add(1)
			go func() {
				defer j.wg.Done()
				pr := fetchPprof(ctx, s.name, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, secs), j.res.PprofDir, secs)
				j.mu.Lock()
				j.res.Pprof = append(j.res.Pprof, pr)
				j.mu.Unlock()
			}()
		}
	}

	if dirErr == nil {
		// The load generator's own CPU, profiled the same way: it shares the machine with the
		// stack, so what it spends per message is capacity the stack does not get.
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			pr := profileSelf(ctx, j.res.PprofDir, secs)
			j.mu.Lock()
			j.res.Pprof = append(j.res.Pprof, pr)
			j.mu.Unlock()
		}()
	}

	if r.tgt.PostgresURL == "" {
		j.res.PGSkipped = "no Postgres URL"
	} else if err := resetPGStatements(ctx, r.tgt.PostgresURL); err != nil {
		j.res.PGSkipped = err.Error()
	} else {
		j.pgOK = true
	}

	if r.tgt.RedisURL == "" {
		j.res.RedisSkipped = "no Redis URL"
	} else if opt, err := rueidis.ParseURL(r.tgt.RedisURL); err != nil {
		j.res.RedisSkipped = err.Error()
	} else {
		opt.DisableCache = true
		opt.Dialer.Timeout = 3 * time.Second
		c, err := rueidis.NewClient(opt)
		if err != nil {
			j.res.RedisSkipped = "Redis unreachable: " + err.Error()
		} else if err := c.Do(ctx, c.B().ConfigResetstat().Build()).Error(); err != nil {
			j.res.RedisSkipped = "CONFIG RESETSTAT: " + err.Error()
			c.Close()
		} else {
			j.redis = c
		}
	}
	return j
}

// finish waits for the CPU profiles and reads the statistics, per message where it helps.
func (j *profileJob) finish(ctx context.Context, messages int64) *Profiles {
	j.wg.Wait()
	slices.SortFunc(j.res.Pprof, func(a, b PprofResult) int { return strings.Compare(a.Service, b.Service) })
	per := func(n int64) float64 {
		if messages <= 0 {
			return 0
		}
		return float64(n) / float64(messages)
	}
	if j.pgOK {
		st, err := readPGStatements(ctx, j.r.tgt.PostgresURL, 25)
		if err != nil {
			j.res.PGSkipped = err.Error()
		}
		for i := range st {
			st[i].CallsPerMessage = per(st[i].Calls)
		}
		j.res.PGStatements = st
	}
	if j.redis != nil {
		info, err := j.redis.Do(ctx, j.redis.B().Info().Section("commandstats").Build()).ToString()
		j.redis.Close()
		if err != nil {
			j.res.RedisSkipped = "INFO commandstats: " + err.Error()
		} else {
			cmds := parseCommandStats(info)
			for i := range cmds {
				cmds[i].CallsPerMessage = per(cmds[i].Calls)
			}
			j.res.RedisCommands = cmds
		}
	}
	return &j.res
}

func fetchPprof(ctx context.Context, service, url, dir string, secs int) PprofResult {
	pr := PprofResult{Service: service}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs+15)*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		pr.Error = "admin listener unreachable (is ADMIN_ADDR set?): " + shortReason(err.Error())
		return pr
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		pr.Error = fmt.Sprintf("HTTP %d: %s", res.StatusCode, strings.TrimSpace(string(b)))
		return pr
	}
	path := filepath.Join(dir, service+".pb.gz")
	f, err := os.Create(path)
	if err != nil {
		pr.Error = err.Error()
		return pr
	}
	n, err := io.Copy(f, res.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		pr.Error = err.Error()
		return pr
	}
	pr.File, pr.Bytes = path, n
	return pr
}

// profileSelf writes a CPU profile of this process for secs seconds (or until ctx ends) to
// dir/loadtest.pb.gz.
func profileSelf(ctx context.Context, dir string, secs int) PprofResult {
	pr := PprofResult{Service: "loadtest"}
	path := filepath.Join(dir, "loadtest.pb.gz")
	f, err := os.Create(path)
	if err != nil {
		pr.Error = err.Error()
		return pr
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		pr.Error = err.Error()
		return pr
	}
	t := time.NewTimer(time.Duration(secs) * time.Second)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		pr.Error = err.Error()
		return pr
	}
	st, err := os.Stat(path)
	if err != nil {
		pr.Error = err.Error()
		return pr
	}
	pr.File, pr.Bytes = path, st.Size()
	return pr
}

// resetPGStatements installs pg_stat_statements in the postgres database (it works only when the
// server preloads it) and empties its statistics.
func resetPGStatements(ctx context.Context, serverURL string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, serverURL)
	if err != nil {
		return fmt.Errorf("postgres unreachable: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return fmt.Errorf("pg_stat_statements is not available: %w", err)
	}
	if _, err := conn.Exec(cctx, `SELECT pg_stat_statements_reset()`); err != nil {
		return fmt.Errorf("pg_stat_statements is not loaded (shared_preload_libraries): %w", err)
	}
	return nil
}

func readPGStatements(ctx context.Context, serverURL string, limit int) ([]PGStatement, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("postgres unreachable: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(cctx, `
		SELECT coalesce(d.datname, '?'), s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.rows
		FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid
		ORDER BY s.total_exec_time DESC
		LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	defer rows.Close()
	var out []PGStatement
	for rows.Next() {
		var s PGStatement
		if err := rows.Scan(&s.Database, &s.Query, &s.Calls, &s.TotalMs, &s.MeanMs, &s.Rows); err != nil {
			return out, err
		}
		s.Query = strings.Join(strings.Fields(s.Query), " ")
		out = append(out, s)
	}
	return out, rows.Err()
}

// parseCommandStats parses INFO commandstats ("cmdstat_get:calls=1,usec=3,usec_per_call=3.00,…"),
// most expensive first.
func parseCommandStats(info string) []RedisCommand {
	var out []RedisCommand
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name, ok = strings.CutPrefix(name, "cmdstat_")
		if !ok {
			continue
		}
		c := RedisCommand{Command: name}
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				c.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				c.Usec, _ = strconv.ParseInt(v, 10, 64)
			case "usec_per_call":
				c.UsecPerCall, _ = strconv.ParseFloat(v, 64)
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b RedisCommand) int { return cmp.Compare(b.Usec, a.Usec) })
	return out
}
