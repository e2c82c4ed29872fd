package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// Reasons a session is revoked by its owner, as carried by SessionRevoked events.
const (
	// RevokeUser: ended with RevokeSession or RevokeOtherSessions.
	RevokeUser = "user_revoked"
	// RevokePasswordChanged: ended because the password was changed from another session.
	RevokePasswordChanged = "password_changed"
)

// MaxUserAgentRunes bounds the User-Agent kept with a session: enough to recognise a browser and
// a device, not a place to store whatever a client sends.
const MaxUserAgentRunes = 256

// Client is the device a sign-in comes from, as its owner sees it later in ListSessions.
type Client struct {
	// UserAgent is the request's User-Agent header.
	UserAgent string
	// Network is the client's network key (authrpc.ClientKey: an IPv4 address or an IPv6 /64,
	// "unknown" when there is none); only ApproximateNetwork of it is stored.
	Network string
}

type clientKey struct{}

// WithClient returns ctx carrying the device a request comes from. The Connect handler attaches
// it to every request, so each way of signing in (Register, Login, CompleteOAuth) records it on
// the session without every use case taking it as an argument.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// clientOf returns the device ctx carries, trimmed to what a session keeps.
func clientOf(ctx context.Context) (userAgent, network string) {
	c, _ := ctx.Value(clientKey{}).(Client)
	return truncateRunes(strings.ToValidUTF8(c.UserAgent, "\uFFFD"), MaxUserAgentRunes), ApproximateNetwork(c.Network)
}

// ApproximateNetwork coarsens a client network key to what a person recognises and no more: an
// IPv4 address becomes its /24 ("203.0.113.0/24"), an IPv6 address or prefix its /48
// ("2001:db8:1::/48"). Anything else ("unknown", "") gives "".
func ApproximateNetwork(key string) string {
	if addr, err := netip.ParseAddr(key); err == nil {
		return approximate(addr)
	}
	if p, err := netip.ParsePrefix(key); err == nil {
		return approximate(p.Addr())
	}
	return ""
}

func approximate(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	return netip.PrefixFrom(addr, bits).Masked().String()
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Session is a live session as its owner sees it.
type Session struct {
	ID            string
	Method        string
	CreatedAt     time.Time
	LastUsedAt    time.Time // the last refresh, or CreatedAt
	ExpiresAt     time.Time
	UserAgent     string
	ClientNetwork string
	Current       bool
}

// PasswordChange is a password change to store: the new hash replaces OldHash (nothing happens
// when the stored hash is no longer OldHash), every live session of the user but SessionID is
// revoked (RevokePasswordChanged), and PasswordChanged is written, in one transaction.
type PasswordChange struct {
	UserID    string
	SessionID string
	OldHash   string
	NewHash   string
	At        time.Time
}

// AccountPassword is an account's email and password credential, found by user id.
type AccountPassword struct {
	Email        string
	PasswordHash string // "" when the account has no password (it signs in with a provider)
}

// SessionStore is the persistence of the session and password use cases.
type SessionStore interface {
	// LiveSessions returns the user's sessions that are neither revoked nor expired at now, the
	// most recently used first.
	LiveSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// RevokeUserSession revokes the user's session sessionID with reason and writes SessionRevoked
	// (nothing when it was already revoked). found is false when the user has no such session.
	RevokeUserSession(ctx context.Context, userID, sessionID, reason string, now time.Time) (found bool, err error)
	// RevokeOtherSessions revokes every live session of the user but keep, each with reason and
	// its SessionRevoked, and returns how many it revoked.
	RevokeOtherSessions(ctx context.Context, userID, keep, reason string, now time.Time) (int, error)
	// AccountPassword returns the user's email and password hash; an error wrapping domainerr.ErrNotFound
	// when the account does not exist.
	AccountPassword(ctx context.Context, userID string) (AccountPassword, error)
	// ChangePassword stores c (see PasswordChange) and returns how many sessions it revoked;
	// ErrPasswordChangedMeanwhile when the stored hash is no longer c.OldHash.
	ChangePassword(ctx context.Context, c PasswordChange) (int, error)
}

// Errors of the session and password use cases.
var (
	// ErrSessionNotFound: the caller has no session with that id.
	ErrSessionNotFound = domainerr.Errorf(domainerr.ErrNotFound, "session_id: you have no such session")
	// ErrNoPassword: the account signs in only with an identity provider.
	ErrNoPassword = domainerr.Errorf(domainerr.ErrFailedPrecondition, "this account has no password: it signs in with an identity provider")
	// ErrWrongCurrentPassword: ChangePassword's current_password is not the account's password.
	ErrWrongCurrentPassword = domainerr.Errorf(domainerr.ErrInvalidArgument, "current_password: is not your current password")
	// ErrPasswordChangedMeanwhile: another request changed the password while this one checked it.
	ErrPasswordChangedMeanwhile = domainerr.Errorf(domainerr.ErrFailedPrecondition, "the password was changed by another request meanwhile; try again")
)

// ListSessions returns the caller's live sessions, marking currentSessionID's.
func (s *Service) ListSessions(ctx context.Context, userID, currentSessionID string) ([]Session, error) {
	sessions, err := s.store.LiveSessions(ctx, userID, s.clock())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	for i := range sessions {
		sessions[i].Current = sessions[i].ID == currentSessionID
	}
	return sessions, nil
}

// RevokeSession ends one of the caller's sessions (the current one too). Ending a session that
// already ended succeeds; a session that is not the caller's is ErrSessionNotFound, whoever's it is.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	id, err := validate.UUID("session_id", sessionID)
	if err != nil {
		return err
	}
	found, err := s.store.RevokeUserSession(ctx, userID, id, RevokeUser, s.clock())
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if !found {
		return ErrSessionNotFound
	}
	return nil
}

// RevokeOtherSessions ends every live session of the caller's but currentSessionID and says how
// many it ended.
func (s *Service) RevokeOtherSessions(ctx context.Context, userID, currentSessionID string) (int, error) {
	if currentSessionID == "" {
		return 0, ErrNoSession
	}
	n, err := s.store.RevokeOtherSessions(ctx, userID, currentSessionID, RevokeUser, s.clock())
	if err != nil {
		return 0, fmt.Errorf("revoke other sessions: %w", err)
	}
	return n, nil
}

// ChangePassword sets a new password for the caller after checking the current one, from client
// (a network key, as Login's: wrong current passwords are throttled like failed logins of the
// account's email, so a stolen access token cannot be used to guess the password). Every other
// session ends; the number ended is returned.
func (s *Service) ChangePassword(ctx context.Context, userID, sessionID, current, next, client string) (int, error) {
	if sessionID == "" {
		return 0, ErrNoSession
	}
	var currentErr error
	if current == "" {
		currentErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "current_password: required")
	}
	acc, err := accountOf(s.store.AccountPassword(ctx, userID))
	if err != nil {
		return 0, err
	}
	nextErr := renameField(ValidateNewPassword(next, acc.Email, ""), "password", "new_password")
	if nextErr == nil && next == current {
		nextErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "new_password: must differ from the current password")
	}
	if err := validate.Join(currentErr, nextErr); err != nil {
		return 0, err
	}
	if acc.PasswordHash == "" {
		return 0, ErrNoPassword
	}
	if err := s.checkPassword(ctx, acc, current, client, ErrWrongCurrentPassword); err != nil {
		return 0, err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return 0, wrap("hash password", err)
	}
	revoked, err := s.store.ChangePassword(ctx, PasswordChange{
		UserID: userID, SessionID: sessionID, OldHash: acc.PasswordHash, NewHash: hash, At: s.clock(),
	})
	if err != nil {
		return 0, wrap("change password", err)
	}
	return revoked, nil
}

// renameField rewrites a field error's "from: …" message as "to: …" for a request whose field has
// another name (ChangePassword's new_password is checked by the rules of Register's password).
func renameField(err error, from, to string) error {
	var de *domainerr.Error
	if err == nil || !errors.As(err, &de) {
		return err
	}
	if rest, ok := strings.CutPrefix(de.Msg, from+": "); ok {
		renamed := *de
		renamed.Msg = to + ": " + rest
		return &renamed
	}
	return err
}
