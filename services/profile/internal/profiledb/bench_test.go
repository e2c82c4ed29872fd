package profiledb_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// benchProfiles is how many profiles BenchmarkSearchUsers loads.
const benchProfiles = 1_000_000

// BenchmarkSearchUsers measures the first page (20 results) of searches over a million profiles.
// It loads them once, in SQL (generate_series), into a fresh pgtest database: only when benchmarks
// run (go test -run '^$' -bench SearchUsers -benchtime 200x ./internal/profiledb/), never in
// go test.
//
// Nicknames are two or three syllables from a list of 54, an optional '_' or '.', and a number
// ("mariko_48213"), plus a few plain names ("alice", "alicia", "alex", …); so a two-letter prefix
// such as "ma" matches about 1/54 of everyone (≈18,500 profiles), a four-letter one ≈340.
func BenchmarkSearchUsers(b *testing.B) {
	s, pool := newStore(b)
	ctx := context.Background()
	start := time.Now()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Build the indexes after the load, as the migration defines them: much faster than keeping
	// them up to date row by row, and the same indexes in the end.
	rows, err := conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'profiles' AND indexname <> 'profiles_pkey'`)
	if err != nil {
		b.Fatal(err)
	}
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			b.Fatal(err)
		}
		names, defs = append(names, n), append(defs, d)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		mustExec(b, conn.Exec, `DROP INDEX `+n)
	}
	mustExec(b, conn.Exec, `SET maintenance_work_mem = '512MB'`)
	mustExec(b, conn.Exec, `
		WITH syl AS (SELECT ARRAY['al','an','ar','ba','be','bo','ca','ch','da','de','di','el','em','fa','fe','ga','gi','ha',
			'he','ja','jo','ka','ki','la','le','li','lu','ma','me','mi','mo','na','ne','ni','no','pa','pe','ra','re','ri',
			'ro','sa','se','si','so','ta','te','ti','to','va','ve','vi','za','ze'] AS s)
		INSERT INTO profiles (user_id, nickname, nickname_status)
		SELECT gen_random_uuid(),
			s[1 + abs(hashint8extended(i, 1) % 54)] || s[1 + abs(hashint8extended(i, 2) % 54)] ||
			CASE WHEN i % 3 = 0 THEN s[1 + abs(hashint8extended(i, 3) % 54)] ELSE '' END ||
			CASE i % 4 WHEN 1 THEN '_' WHEN 2 THEN '.' ELSE '' END || i::text,
			1
		FROM syl, generate_series(1, $1::bigint) AS i`, benchProfiles-20)
	mustExec(b, conn.Exec, `
		INSERT INTO profiles (user_id, nickname, nickname_status)
		SELECT gen_random_uuid(), n, 1 FROM unnest(ARRAY['alice','alicia','alex','alina','alissa','alistair','alicja',
			'malice','maria','marina','mario','marko','bob','bobby','robert','roberta','anna','hannah','ann','annie']) AS n`)
	for _, d := range defs {
		mustExec(b, conn.Exec, d)
	}
	mustExec(b, conn.Exec, `VACUUM ANALYZE profiles`)
	conn.Release()
	if n := pgtest.Count(b, pool, `SELECT count(*) FROM profiles`); n != benchProfiles {
		b.Fatalf("loaded %d profiles, want %d", n, benchProfiles)
	}
	b.Logf("loaded %d profiles and built the indexes in %s", benchProfiles, time.Since(start).Round(time.Second))

	svc := newService(s)
	for _, q := range []struct{ name, query string }{
		{"exact", "alice"},          // one exact match, then prefix and fuzzy ones to fill the page
		{"prefix", "mari"},          // ≈340 prefix matches
		{"short_prefix", "ma"},      // ≈18,500 prefix matches: the worst case for ranking by similarity
		{"typo", "alcie"},           // no exact or prefix match: the fuzzy tier
		{"typo_long", "marikosa12"}, // a long query with a typo
	} {
		b.Run(q.name, func(b *testing.B) {
			var page profile.SearchPage
			for range b.N {
				var err error
				if page, err = svc.Search(ctx, q.query, 20, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			kinds := map[profile.MatchKind]int{}
			for _, h := range page.Hits {
				kinds[h.Match]++
			}
			b.ReportMetric(float64(kinds[profile.MatchExact]), "exact/op")
			b.ReportMetric(float64(kinds[profile.MatchPrefix]), "prefix/op")
			b.ReportMetric(float64(kinds[profile.MatchFuzzy]), "fuzzy/op")
		})
	}
	b.Run("second_page_short_prefix", func(b *testing.B) {
		first, err := svc.Search(ctx, "ma", 20, "")
		if err != nil || first.NextPageToken == "" {
			b.Fatalf("first page: %v", err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := svc.Search(ctx, "ma", 20, first.NextPageToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func mustExec[T any](b *testing.B, exec func(context.Context, string, ...any) (T, error), sql string, args ...any) {
	b.Helper()
	if _, err := exec(context.Background(), sql, args...); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}
