package profile

import (
	"context"
	"log/slog"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/pagetoken"
	"github.com/parleyhq/parley/platform/validate"
)

// Store keeps profiles (profiledb implements it).
type Store interface {
	// Get returns one profile, or domainerr.ErrNotFound.
	Get(ctx context.Context, userID string) (Profile, error)
	// GetMany returns the profiles that exist among userIDs, in no particular order.
	GetMany(ctx context.Context, userIDs []string) ([]Profile, error)
	// NicknameOwner returns who holds nick (compared case-insensitively), or "" when nobody does.
	NicknameOwner(ctx context.Context, nick string) (string, error)
	// Update locks the profile, applies change and, when it changed anything, stores the result
	// with the version bumped and a ProfileUpdated event in the same transaction. beforeCommit
	// runs inside that transaction, after the write: an error from it rolls everything back.
	// Returns domainerr.ErrNotFound, or ErrNicknameTaken when the new nickname belongs to someone else.
	Update(ctx context.Context, userID string, change func(*Profile), beforeCommit func(context.Context, Profile) error) (Profile, error)
	// Search returns up to p.Limit hits ranked after p.After.
	Search(ctx context.Context, p SearchParams) ([]SearchHit, error)
}

// Cache holds profiles for reads (profilecache implements it over Redis). Implementations must
// never let a value older than an invalidation be served once Invalidate has returned.
type Cache interface {
	// GetMany returns the cached profiles among userIDs.
	GetMany(ctx context.Context, userIDs []string) (map[string]Profile, error)
	// Put stores profiles read from the database, unless a newer version was invalidated meanwhile.
	Put(ctx context.Context, ps ...Profile) error
	// Invalidate drops userID's entry and refuses entries older than version from then on.
	Invalidate(ctx context.Context, userID string, version int64) error
}

// AvatarFiles looks up a file the caller wants as their avatar (mediaclient implements it over the
// media service). It returns the avatar, or domainerr.ErrNotFound, domainerr.ErrPermissionDenied (not the caller's),
// domainerr.ErrInvalidArgument (not an avatar upload), domainerr.ErrFailedPrecondition (not ready), domainerr.ErrUnavailable or
// domainerr.ErrUnauthenticated (the media service refused the caller's token) — always profile's own errors
// and messages, never the media service's.
type AvatarFiles interface {
	AvatarFile(ctx context.Context, callerID, fileID string) (Avatar, error)
}

// Service holds the profile use cases behind the RPCs.
type Service struct {
	store  Store
	cache  Cache
	files  AvatarFiles
	logger *slog.Logger
}

// NewService wires the use cases.
func NewService(store Store, cache Cache, files AvatarFiles, logger *slog.Logger) *Service {
	return &Service{store: store, cache: cache, files: files, logger: logger}
}

// Get returns userID's profile as callerID may see it: the whole profile when it is the caller's
// own (userID empty or equal to callerID), the public part otherwise.
func (s *Service) Get(ctx context.Context, callerID, userID string) (Profile, error) {
	if userID == "" {
		userID = callerID
	}
	id, err := validate.UUID("user_id", userID)
	if err != nil {
		return Profile{}, err
	}
	ps, err := s.read(ctx, []string{id})
	if err != nil {
		return Profile{}, err
	}
	if len(ps) == 0 {
		if id == callerID {
			return Profile{}, ErrOwnProfileMissing
		}
		return Profile{}, domainerr.Errorf(domainerr.ErrNotFound, "user_id: no profile for %s", id)
	}
	if id == callerID {
		return ps[0], nil
	}
	return ps[0].Public(), nil
}

// BatchGet returns the public profiles of up to 100 users; unknown ids are left out.
func (s *Service) BatchGet(ctx context.Context, userIDs []string) ([]Profile, error) {
	ids, err := validate.UUIDs("user_ids", userIDs, MaxBatch)
	if err != nil {
		return nil, err
	}
	ps, err := s.read(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i] = ps[i].Public()
	}
	return ps, nil
}

// read returns the profiles among ids, from the cache where it has them, in the order of ids.
// The cache is an optimisation: when Redis fails, reads go to the database.
func (s *Service) read(ctx context.Context, ids []string) ([]Profile, error) {
	cached, err := s.cache.GetMany(ctx, ids)
	if err != nil {
		s.logger.WarnContext(ctx, "profile cache read failed; reading the database", slog.Any("error", err))
		cached = nil
	}
	var missing []string
	for _, id := range ids {
		if _, ok := cached[id]; !ok {
			missing = append(missing, id)
		}
	}
	byID := cached
	if len(missing) > 0 {
		loaded, err := s.store.GetMany(ctx, missing)
		if err != nil {
			return nil, err
		}
		if len(loaded) > 0 {
			if err := s.cache.Put(ctx, loaded...); err != nil {
				s.logger.WarnContext(ctx, "profile cache fill failed", slog.Any("error", err))
			}
		}
		if byID == nil {
			byID = make(map[string]Profile, len(loaded))
		}
		for _, p := range loaded {
			byID[p.UserID] = p
		}
	}
	out := make([]Profile, 0, len(ids))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Update changes the caller's nickname and/or about text. Every bad field is reported in one
// InvalidArgument error; a nickname held by someone else is ErrNicknameTaken. Setting a nickname
// (even the current one) makes its status Chosen.
func (s *Service) Update(ctx context.Context, callerID string, c Changes) (Profile, error) {
	var problems validate.Problems
	if c.Nickname != nil {
		problems.Add(ValidateNickname(*c.Nickname))
	}
	if c.About != nil {
		problems.Add(ValidateAbout(*c.About))
	}
	if err := problems.Err(); err != nil {
		return Profile{}, err
	}
	return s.store.Update(ctx, callerID, func(p *Profile) {
		if c.Nickname != nil {
			p.Nickname = *c.Nickname
			p.NicknameStatus = NicknameChosen
			p.RequestedNickname = ""
		}
		if c.About != nil {
			p.About = *c.About
		}
	}, s.invalidate)
}

// SetAvatar makes fileID (an avatar upload of the caller's, ready) the caller's avatar; an empty
// fileID removes it.
func (s *Service) SetAvatar(ctx context.Context, callerID, fileID string) (Profile, error) {
	var avatar *Avatar
	if fileID != "" {
		id, err := validate.UUID("file_id", fileID)
		if err != nil {
			return Profile{}, err
		}
		a, err := s.files.AvatarFile(ctx, callerID, id)
		if err != nil {
			return Profile{}, err
		}
		avatar = &a
	}
	return s.store.Update(ctx, callerID, func(p *Profile) { p.Avatar = avatar }, s.invalidate)
}

// invalidate runs inside an update's transaction, after the write and before the commit: once it
// has returned, no reader can put the previous version back into the cache, and if it fails the
// update is rolled back rather than leaving a stale entry behind.
func (s *Service) invalidate(ctx context.Context, p Profile) error {
	if err := s.cache.Invalidate(ctx, p.UserID, p.Version); err != nil {
		return domainerr.Wrap(domainerr.ErrUnavailable, err, "the profile cache cannot be reached; nothing was changed, try again shortly")
	}
	return nil
}

// CheckNickname says whether nick can be taken by callerID ("" for an anonymous caller): it must
// be well-formed and held by nobody else. reason says why not, for a person to read.
func (s *Service) CheckNickname(ctx context.Context, callerID, nick string) (available bool, reason string, err error) {
	if problem := nicknameProblem(nick); problem != "" {
		return false, "nickname: " + problem, nil
	}
	owner, err := s.store.NicknameOwner(ctx, nick)
	if err != nil {
		return false, "", err
	}
	if owner != "" && owner != callerID {
		return false, ErrNicknameTaken.Error(), nil
	}
	return true, "", nil
}

// Search finds people by nickname: exact matches, then prefix matches, then fuzzy ones.
func (s *Service) Search(ctx context.Context, query string, pageSize int32, pageToken string) (SearchPage, error) {
	q, err := NormalizeQuery(query)
	if err != nil {
		return SearchPage{}, err
	}
	n, err := validate.PageSize(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return SearchPage{}, err
	}
	after, err := DecodeCursor(q, pageToken)
	if err != nil {
		return SearchPage{}, err
	}
	hits, err := s.store.Search(ctx, SearchParams{Query: q, Limit: n + 1, After: after})
	if err != nil {
		return SearchPage{}, err
	}
	var page SearchPage
	page.Hits, page.NextPageToken = pagetoken.Cut(hits, n, func(last SearchHit) string {
		return EncodeCursor(q, Cursor{Match: last.Match, Length: last.Length, Similarity: last.Similarity, SortKey: last.SortKey, UserID: last.Profile.UserID})
	})
	for i := range page.Hits {
		page.Hits[i].Profile = page.Hits[i].Profile.Public()
	}
	return page, nil
}
