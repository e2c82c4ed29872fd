package profiledb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// Search implements profile.Store. Results are ranked by the tuple
//
//	(match kind: exact < prefix < fuzzy, similarity descending, lower(nickname), user_id)
//
// and each tier is its own query that an index answers: the exact tier an equality lookup and
// the prefix tier a range scan on profiles_nickname_lower_key (lower(nickname) text_pattern_ops),
// the fuzzy tier a trigram search on profiles_nickname_trgm_idx (GIN, % with the similarity
// threshold). Tiers are asked in order, only until the page is full, each continuing after the
// cursor (keyset pagination: no OFFSET, so deep pages cost the same as the first).
func (s *Store) Search(ctx context.Context, p profile.SearchParams) ([]profile.SearchHit, error) {
	var hits []profile.SearchHit
	for _, tier := range []profile.MatchKind{profile.MatchExact, profile.MatchPrefix, profile.MatchFuzzy} {
		if len(hits) >= p.Limit {
			break
		}
		var after *profile.Cursor
		if p.After != nil {
			if tier < p.After.Match {
				continue
			}
			if tier == p.After.Match {
				after = p.After
			}
		}
		got, err := s.searchTier(ctx, tier, p.Query, p.Limit-len(hits), after)
		if err != nil {
			return nil, err
		}
		hits = append(hits, got...)
	}
	return hits, nil
}

func (s *Store) searchTier(ctx context.Context, tier profile.MatchKind, q string, limit int, after *profile.Cursor) ([]profile.SearchHit, error) {
	const key = `lower(nickname) COLLATE "C"`
	const sim = `similarity(lower(nickname), $1)`
	args := []any{q}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where []string
	switch tier {
	case profile.MatchExact:
		if after != nil { // the exact tier has at most one row, and it was on an earlier page
			return nil, nil
		}
		where = append(where, `lower(nickname) = $1`)
	case profile.MatchPrefix:
		where = append(where, `lower(nickname) ~>=~ $1`, `lower(nickname) <> $1`)
		if hi, ok := prefixUpperBound(q); ok {
			where = append(where, `lower(nickname) ~<~ `+arg(hi))
		}
		where = append(where, `starts_with(lower(nickname), $1)`)
	case profile.MatchFuzzy:
		where = append(where, `lower(nickname) % $1`, `NOT starts_with(lower(nickname), $1)`)
	}
	if after != nil {
		s, k, u := arg(after.Similarity), arg(after.SortKey), arg(after.UserID)
		where = append(where, fmt.Sprintf(`(%[1]s < %[2]s::real OR (%[1]s = %[2]s::real AND (%[3]s, user_id) > (%[4]s COLLATE "C", %[5]s::uuid)))`,
			sim, s, key, k, u))
	}
	sql := `SELECT ` + profileColumns + `, ` + sim + `, lower(nickname)
		FROM profiles WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY ` + sim + ` DESC, ` + key + `, user_id LIMIT ` + arg(limit)

	var rows pgx.Rows
	var err error
	if tier == profile.MatchFuzzy {
		// % uses pg_trgm.similarity_threshold. set_config(…, true) lasts until the end of the
		// transaction: the batch is sent in one round trip and runs as one implicit transaction.
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('pg_trgm.similarity_threshold', $1, true)`, strconv.FormatFloat(s.FuzzyThreshold, 'f', -1, 64))
		b.Queue(sql, args...)
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("search %s tier: set threshold: %w", tierName(tier), err)
		}
		rows, err = br.Query()
	} else {
		rows, err = s.pool.Query(ctx, sql, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("search %s tier: %w", tierName(tier), err)
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (profile.SearchHit, error) {
		h := profile.SearchHit{Match: tier}
		p, err := scanProfile(r, &h.Similarity, &h.SortKey)
		h.Profile = p
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("search %s tier: %w", tierName(tier), err)
	}
	return hits, nil
}

// prefixUpperBound returns the least string greater than every string starting with q in byte
// order: q with its last character replaced by the next one (UTF-8 byte order is code point
// order). ok is false when no such bound is needed (q ends in the last code point).
func prefixUpperBound(q string) (string, bool) {
	r, size := utf8.DecodeLastRuneInString(q)
	switch {
	case r == utf8.MaxRune:
		return "", false
	case r == 0xD7FF: // skip the surrogates, which UTF-8 cannot hold
		r = 0xE000
	default:
		r++
	}
	return q[:len(q)-size] + string(r), true
}

func tierName(t profile.MatchKind) string {
	switch t {
	case profile.MatchExact:
		return "exact"
	case profile.MatchPrefix:
		return "prefix"
	default:
		return "fuzzy"
	}
}
