package profiledb

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// Search ranks every profile whose nickname matches the query by the tuple
//
//	exact:  (1, lower(nickname), user_id)                  — the nickname equals the query
//	prefix: (2, char_length, lower(nickname), user_id)     — starts with it; shortest first
//	fuzzy:  (3, -similarity, lower(nickname), user_id)     — trigram similarity ≥ FuzzyThreshold
//
// Each tier is one query that an index answers: the exact tier an equality lookup on
// profiles_nickname_lower_key; the prefix tier one short range scan per nickname length on
// profiles_nickname_length_idx, so its cost does not grow with how many people share a prefix;
// the fuzzy tier a trigram search on profiles_nickname_trgm_idx (GIN). Tiers are asked in order
// only until the page is full, each continuing after the cursor (keyset pagination: no OFFSET,
// deep pages cost about what the first does).
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
		var got []profile.SearchHit
		var err error
		switch tier {
		case profile.MatchExact:
			got, err = s.searchExact(ctx, p.Query, after)
		case profile.MatchPrefix:
			got, err = s.searchPrefix(ctx, p.Query, p.Limit-len(hits), after)
		case profile.MatchFuzzy:
			got, err = s.searchFuzzy(ctx, p.Query, p.Limit-len(hits), after)
		}
		if err != nil {
			return nil, err
		}
		hits = append(hits, got...)
	}
	return hits, nil
}

// hitColumns follow profileColumns in every tier's select list.
const hitColumns = `, char_length(nickname), similarity(lower(nickname), $1), lower(nickname)`

const exactSQL = `SELECT ` + profileColumns + hitColumns + `
	FROM profiles WHERE lower(nickname) COLLATE "C" = $1`

func (s *Store) searchExact(ctx context.Context, q string, after *profile.Cursor) ([]profile.SearchHit, error) {
	if after != nil { // the exact tier has at most one row, and it was on an earlier page
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, exactSQL, q)
	return collectHits(rows, err, profile.MatchExact)
}

// prefixSQL: for each length from $3 (the query's length + 1, or the cursor's length) to 32, the
// first $5 nicknames of that length in [$1, $2) — the strings starting with $1 — after the cursor
// ($4 = its length, $6 its key, $7 its user id; $4 = 0 on the first page).
const prefixSQL = `SELECT p.* FROM generate_series($3::int, 32) AS l
	CROSS JOIN LATERAL (
		SELECT ` + profileColumns + hitColumns + `
		FROM profiles
		WHERE char_length(nickname) = l
			AND lower(nickname) COLLATE "C" >= (CASE WHEN l = $4 THEN $6 ELSE $1 END)
			AND lower(nickname) COLLATE "C" < $2
			AND (l <> $4 OR (lower(nickname) COLLATE "C", user_id) > ($6 COLLATE "C", $7::uuid))
		ORDER BY lower(nickname) COLLATE "C", user_id
		LIMIT $5) AS p
	ORDER BY p.char_length, p.lower COLLATE "C", p.user_id
	LIMIT $5`

func (s *Store) searchPrefix(ctx context.Context, q string, limit int, after *profile.Cursor) ([]profile.SearchHit, error) {
	hi, ok := prefixUpperBound(q)
	if !ok {
		return nil, nil // q ends in U+10FFFF: no nickname (ASCII) starts with it
	}
	from, afterLen, afterKey, afterID := utf8.RuneCountInString(q)+1, 0, q, nilUUID
	if after != nil {
		from, afterLen, afterKey, afterID = max(from, after.Length), after.Length, after.SortKey, after.UserID
	}
	rows, err := s.pool.Query(ctx, prefixSQL, q, hi, from, afterLen, limit, afterKey, afterID)
	return collectHits(rows, err, profile.MatchPrefix)
}

// fuzzySQL: nicknames similar to $1 (% with the session's pg_trgm.similarity_threshold) that do
// not start with it, after the cursor ($2 its similarity, 2 on the first page; $3 its key, $4 its
// user id).
const fuzzySQL = `SELECT ` + profileColumns + hitColumns + `
	FROM profiles
	WHERE lower(nickname) % $1 AND NOT starts_with(lower(nickname), $1)
		AND (similarity(lower(nickname), $1) < $2::real
			OR (similarity(lower(nickname), $1) = $2::real AND (lower(nickname) COLLATE "C", user_id) > ($3 COLLATE "C", $4::uuid)))
	ORDER BY similarity(lower(nickname), $1) DESC, lower(nickname) COLLATE "C", user_id
	LIMIT $5`

func (s *Store) searchFuzzy(ctx context.Context, q string, limit int, after *profile.Cursor) ([]profile.SearchHit, error) {
	afterSim, afterKey, afterID := float32(2), "", nilUUID
	if after != nil {
		afterSim, afterKey, afterID = after.Similarity, after.SortKey, after.UserID
	}
	// % reads pg_trgm.similarity_threshold. set_config(…, true) lasts until the end of the
	// transaction, and a batch is sent in one round trip and runs as one implicit transaction.
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('pg_trgm.similarity_threshold', $1, true)`, strconv.FormatFloat(s.FuzzyThreshold, 'f', -1, 64))
	b.Queue(fuzzySQL, q, afterSim, afterKey, afterID, limit)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("search fuzzy tier: set threshold: %w", err)
	}
	rows, err := br.Query()
	return collectHits(rows, err, profile.MatchFuzzy)
}

const nilUUID = "00000000-0000-0000-0000-000000000000"

func collectHits(rows pgx.Rows, err error, tier profile.MatchKind) ([]profile.SearchHit, error) {
	if err != nil {
		return nil, fmt.Errorf("search tier %d: %w", tier, err)
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (profile.SearchHit, error) {
		h := profile.SearchHit{Match: tier}
		p, err := scanProfile(r, &h.Length, &h.Similarity, &h.SortKey)
		h.Profile = p
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("search tier %d: %w", tier, err)
	}
	return hits, nil
}

// prefixUpperBound returns the least string greater than every string starting with q in byte
// order: q with its last character replaced by the next one (UTF-8 byte order is code point
// order). ok is false when there is none (q ends in the last code point).
func prefixUpperBound(q string) (string, bool) {
	r, size := utf8.DecodeLastRuneInString(q)
	switch r {
	case utf8.MaxRune:
		return "", false
	case 0xD7FF: // skip the surrogates, which UTF-8 cannot hold
		r = 0xE000
	default:
		r++
	}
	return q[:len(q)-size] + string(r), true
}
