// Package auth is the auth service's domain: accounts, password credentials, sessions
// (refresh-token families) and the access tokens that prove a session.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// Sign-in methods, as recorded on sessions and in UserRegistered / UserLoggedIn events.
const (
	MethodPassword    = "password"
	methodOAuthPrefix = "oauth:"
)

// Reasons a session is revoked, as carried by SessionRevoked events.
const (
	RevokeLogout            = "logout"
	RevokeRefreshTokenReuse = "refresh_token_reuse"
)

// Account is what the service knows of a user.
type Account struct {
	UserID        string
	Email         string
	EmailVerified bool
	CreatedAt     time.Time
	// TOTPEnabled: two-factor authentication is in force (see totp.go), with
	// RecoveryCodesRemaining unused recovery codes.
	TOTPEnabled            bool
	RecoveryCodesRemaining int
}

func (a Account) totp() TOTPStatus {
	return TOTPStatus{Active: a.TOTPEnabled, RecoveryCodesRemaining: a.RecoveryCodesRemaining}
}

// NewSession is a session to store with its first refresh token. The store writes a UserLoggedIn
// event in the same transaction.
type NewSession struct {
	ID        string
	UserID    string
	Method    string
	CreatedAt time.Time
	// RefreshTokenHash is the SHA-256 of the session's first refresh token.
	RefreshTokenHash      []byte
	RefreshTokenExpiresAt time.Time
	// UserAgent and ClientNetwork describe the device that signed in (see Client).
	UserAgent     string
	ClientNetwork string
}

// NewAccount is an account to create, signed in. The store writes, in one transaction, the user,
// the password credential (when PasswordHash is set), the OAuth identity (when Identity is set),
// the session with its refresh token, and the UserRegistered and UserLoggedIn events.
type NewAccount struct {
	UserID       string
	Email        string // "" when an OAuth provider gave none
	PasswordHash string
	Identity     *Identity
	// Nickname is the nickname asked for, carried to the profile service by UserRegistered.
	Nickname  string
	Method    string
	CreatedAt time.Time
	Session   NewSession
	// EmailVerified: an identity provider vouched for Email (the account starts verified).
	EmailVerified bool
	// Verification, when set, is the first verification link for Email, stored with the account.
	Verification *NewVerification
}

// Credentials is a stored password credential, with what Login decides on after the password.
type Credentials struct {
	UserID        string
	PasswordHash  string
	EmailVerified bool
	TOTP          TOTPStatus
}

// RotateOutcome is what happened to a presented refresh token.
type RotateOutcome int

const (
	// Rotated: the token was current; it is now used and the new one is stored.
	Rotated RotateOutcome = iota
	// RefreshUnknown: no such token.
	RefreshUnknown
	// RefreshExpired: the token was current but past its expiry.
	RefreshExpired
	// RefreshRevoked: the token's session was already revoked.
	RefreshRevoked
	// RefreshReused: the token had already been rotated; the store revoked its session (and wrote
	// SessionRevoked) in the same transaction that detected it.
	RefreshReused
)

// Rotation is the result of Store.RotateRefreshToken.
type Rotation struct {
	Outcome       RotateOutcome
	UserID        string
	SessionID     string
	EmailVerified bool
}

// Store is the persistence the domain needs. Every method is one transaction; the methods that
// change sessions or accounts write their events through the outbox in that transaction.
type Store interface {
	SessionStore
	ResetStore
	VerificationStore
	DeleteStore
	OAuthStore
	TOTPStore
	PasskeyStore
	// CreateAccount stores a new account (see NewAccount); ErrEmailTaken when the email is registered.
	CreateAccount(ctx context.Context, a NewAccount) error
	// PasswordCredentials returns the password credential of the account with this (normalised)
	// email and the account's TOTP status; an error wrapping domainerr.ErrNotFound when there is none.
	PasswordCredentials(ctx context.Context, email string) (Credentials, error)
	// ReplacePasswordHash swaps the stored hash for a new one if it is still oldHash.
	ReplacePasswordHash(ctx context.Context, userID, oldHash, newHash string) error
	// CreateSession stores a session for an existing account and writes UserLoggedIn.
	CreateSession(ctx context.Context, s NewSession) error
	// RotateRefreshToken locks the session of the token whose hash is presented and, when the token
	// is current and unexpired, marks it used and stores next (expiring at nextExpiresAt) in its place.
	// A token that was already used revokes the session (reason refresh_token_reuse, SessionRevoked
	// event) and commits that before reporting RefreshReused.
	RotateRefreshToken(ctx context.Context, presented, next []byte, nextExpiresAt, now time.Time) (Rotation, error)
	// RevokeSession revokes the session the token belongs to (any token of the session, used or not)
	// and writes SessionRevoked. It reports false when there is no such token or the session was
	// already revoked (nothing is written then).
	RevokeSession(ctx context.Context, tokenHash []byte, reason string, now time.Time) (bool, error)
	// Account returns an account, its TOTP status included; an error wrapping domainerr.ErrNotFound
	// when there is none.
	Account(ctx context.Context, userID string) (Account, error)
	// UpdateLoginThrottle loads the throttle state of key (zero when there is none), locked against
	// every other attempt on the same account, lets update change it, and stores it, in one
	// transaction.
	UpdateLoginThrottle(ctx context.Context, key LoginKey, update func(*LoginThrottleState)) error
}

// Service carries out the auth use cases. A use case that acts as a user takes the caller's id
// (userID) from its handler, which answers Unauthenticated itself when the request named no user
// (authn.RequireUser), so the id is never empty here.
type Service struct {
	store       Store
	hasher      *PasswordHasher
	tokens      *AccessTokens
	refreshTTL  time.Duration
	throttle    ThrottlePolicy
	oauth       *OAuth
	mailer      Mailer
	background  sync.WaitGroup // emails being handed over after the answer (deliverReset)
	resetPolicy ResetPolicy
	totpKey     *TOTPKey
	passkeys    *passkeys // nil: passkeys are off
	now         func() time.Time
	logger      *slog.Logger
}

// Deps are what a Service is built from.
type Deps struct {
	Store           Store
	Hasher          *PasswordHasher
	Tokens          *AccessTokens
	RefreshTokenTTL time.Duration
	// Throttle slows password guessing (DefaultThrottlePolicy when zero).
	Throttle ThrottlePolicy
	// OAuth holds the configured "sign in with…" providers; nil means none.
	OAuth *OAuth
	// Mailer sends verification and password-reset emails; nil turns them off (Register then
	// sends none, and RequestPasswordReset and ResendVerificationEmail answer FailedPrecondition).
	Mailer Mailer
	// Resets bound password resets (DefaultResetPolicy when zero).
	Resets ResetPolicy
	// TOTPKey protects two-factor secrets and recovery codes; nil turns enrolment off
	// (ErrTOTPUnavailable).
	TOTPKey *TOTPKey
	// Passkeys is the WebAuthn relying party; passkeys are off when its Origins are empty.
	Passkeys PasskeyConfig
	Logger   *slog.Logger
	// Now is the clock (time.Now when nil); tests move it to expire tokens.
	Now func() time.Time
}

// NewService returns the service.
func NewService(d Deps) (*Service, error) {
	if d.Store == nil || d.Hasher == nil || d.Tokens == nil || d.Logger == nil {
		return nil, errors.New("auth service needs a store, a password hasher, access tokens and a logger")
	}
	if d.RefreshTokenTTL <= 0 {
		return nil, fmt.Errorf("refresh token lifetime must be positive, got %s", d.RefreshTokenTTL)
	}
	if d.Throttle == (ThrottlePolicy{}) {
		d.Throttle = DefaultThrottlePolicy
	}
	if err := d.Throttle.Validate(); err != nil {
		return nil, err
	}
	if d.Resets == (ResetPolicy{}) {
		d.Resets = DefaultResetPolicy
	}
	if err := d.Resets.Validate(); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.OAuth == nil {
		d.OAuth = &OAuth{}
	}
	pk, err := newPasskeys(d.Passkeys)
	if err != nil {
		return nil, err
	}
	return &Service{store: d.Store, hasher: d.Hasher, tokens: d.Tokens, refreshTTL: d.RefreshTokenTTL,
		throttle: d.Throttle, oauth: d.OAuth, mailer: d.Mailer, resetPolicy: d.Resets, totpKey: d.TOTPKey, passkeys: pk,
		now: d.Now, logger: d.Logger}, nil
}

// Register creates a password account and signs it in.
func (s *Service) Register(ctx context.Context, email, password, nickname string) (string, Tokens, error) {
	normalized, emailErr := NormalizeEmail(email)
	if err := validate.Join(emailErr, ValidateNewPassword(password, normalized, nickname), ValidateNickname(nickname)); err != nil {
		return "", Tokens{}, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return "", Tokens{}, wrap("hash password", err)
	}
	now := s.clock()
	userID := newID()
	session, refresh := s.newSession(ctx, userID, MethodPassword, now)
	verification, verifyToken := s.newVerification(userID, normalized, now)
	err = s.store.CreateAccount(ctx, NewAccount{
		Verification: &verification,
		UserID:       userID,
		Email:        normalized,
		PasswordHash: hash,
		Nickname:     nickname,
		Method:       MethodPassword,
		CreatedAt:    now,
		Session:      session,
	})
	if err != nil {
		return "", Tokens{}, wrap("create account", err)
	}
	s.sendVerification(ctx, verification, verifyToken)
	tokens, err := s.tokensFor(session, refresh, false, now)
	return userID, tokens, err
}

// Login signs in with an email and a password from client (a key naming where the request came
// from; see ThrottlePolicy). An unknown email and a wrong password both give ErrBadCredentials
// after the same amount of hashing work, and are throttled alike; a throttled attempt does no
// hashing and gets ErrTooManyAttempts with the time to wait. For an account with two-factor
// authentication in force the right password returns *SecondFactorRequired instead of a session
// (the attempt stays counted against the throttle until CompleteTwoFactor succeeds).
func (s *Service) Login(ctx context.Context, email, password, client string) (string, Tokens, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var emailErr, passwordErr error
	if email == "" {
		emailErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "email: required")
	}
	if password == "" {
		passwordErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "password: required")
	}
	if err := validate.Join(emailErr, passwordErr); err != nil {
		return "", Tokens{}, err
	}
	if len(email) > MaxEmailLen || utf8.RuneCountInString(password) > MaxPasswordRunes {
		return "", Tokens{}, ErrBadCredentials // no account can have these; says nothing about any account
	}
	key := NewLoginKey(email, client)
	if err := s.beginAttempt(ctx, key); err != nil {
		return "", Tokens{}, err
	}
	cred, err := s.store.PasswordCredentials(ctx, email)
	if errors.Is(err, domainerr.ErrNotFound) {
		if err := s.hasher.VerifyDummy(ctx, password); err != nil {
			return "", Tokens{}, wrap("verify password", err)
		}
		return "", Tokens{}, ErrBadCredentials
	}
	if err != nil {
		return "", Tokens{}, fmt.Errorf("load credentials: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, cred.PasswordHash)
	if err != nil {
		return "", Tokens{}, wrap("verify password", err)
	}
	if !ok {
		return "", Tokens{}, ErrBadCredentials
	}
	if rehash {
		s.rehash(ctx, cred, password)
	}
	if err := s.secondFactorRequired(ctx, cred.UserID, MethodPassword, cred.TOTP); err != nil {
		return "", Tokens{}, err
	}
	if err := s.succeedAttempt(ctx, key); err != nil {
		return "", Tokens{}, err
	}
	tokens, err := s.startSession(ctx, cred.UserID, MethodPassword, cred.EmailVerified, s.clock())
	if err != nil {
		return "", Tokens{}, err
	}
	return cred.UserID, tokens, nil
}

// rehash replaces a hash made with other parameters. A failure is logged, not returned: the login
// itself succeeded and the next one tries again.
func (s *Service) rehash(ctx context.Context, cred Credentials, password string) {
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.store.ReplacePasswordHash(ctx, cred.UserID, cred.PasswordHash, hash)
	}
	if err != nil {
		s.logger.WarnContext(ctx, "rehash password", slog.String("user", cred.UserID), slog.Any("error", err))
		return
	}
	s.logger.InfoContext(ctx, "password rehashed with current parameters", slog.String("user", cred.UserID),
		slog.String("params", s.hasher.Params().String()))
}

// RefreshToken rotates a refresh token: the presented one stops working and a new pair is returned.
// Presenting a token that was already rotated revokes its whole session.
func (s *Service) RefreshToken(ctx context.Context, token string) (string, Tokens, error) {
	if token == "" {
		return "", Tokens{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "refresh_token: required")
	}
	if !wellFormedRefreshToken(token) {
		return "", Tokens{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "refresh token is not valid; sign in again")
	}
	now := s.clock()
	next, nextHash := NewRefreshToken()
	nextExpiry := now.Add(s.refreshTTL)
	rot, err := s.store.RotateRefreshToken(ctx, HashRefreshToken(token), nextHash, nextExpiry, now)
	if err != nil {
		return "", Tokens{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	switch rot.Outcome {
	case Rotated:
	case RefreshUnknown:
		return "", Tokens{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "refresh token is not valid; sign in again")
	case RefreshExpired:
		return "", Tokens{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "refresh token expired; sign in again")
	case RefreshRevoked:
		return "", Tokens{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "session has ended; sign in again")
	case RefreshReused:
		s.logger.WarnContext(ctx, "refresh token reused: session revoked",
			slog.String("user", rot.UserID), slog.String("session", rot.SessionID))
		return "", Tokens{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "refresh token was already used, so the session has been ended for safety; sign in again")
	default:
		return "", Tokens{}, fmt.Errorf("rotate refresh token: unexpected outcome %d", rot.Outcome)
	}
	access, accessExp, err := s.tokens.Issue(rot.UserID, rot.SessionID, rot.EmailVerified, now)
	if err != nil {
		return "", Tokens{}, err
	}
	return rot.UserID, Tokens{AccessToken: access, AccessTokenExpiresAt: accessExp, RefreshToken: next, RefreshTokenExpiresAt: nextExpiry}, nil
}

// Logout revokes the session a refresh token belongs to. It succeeds when there is nothing to
// revoke (unknown token, session already ended), so clients can retry it freely.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return domainerr.Errorf(domainerr.ErrInvalidArgument, "refresh_token: required")
	}
	if !wellFormedRefreshToken(token) {
		return nil
	}
	if _, err := s.store.RevokeSession(ctx, HashRefreshToken(token), RevokeLogout, s.clock()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// GetMe returns the account of the user an access token names.
func (s *Service) GetMe(ctx context.Context, userID string) (Account, error) {
	return accountOf(s.store.Account(ctx, userID))
}

// clock is the current time at the precision Postgres stores (microseconds), in UTC.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newSession makes a session for userID signed in with method from the device ctx carries
// (WithClient), and its first refresh token.
func (s *Service) newSession(ctx context.Context, userID, method string, now time.Time) (NewSession, string) {
	refresh, hash := NewRefreshToken()
	userAgent, network := clientOf(ctx)
	return NewSession{
		UserAgent:             userAgent,
		ClientNetwork:         network,
		ID:                    newID(),
		UserID:                userID,
		Method:                method,
		CreatedAt:             now,
		RefreshTokenHash:      hash,
		RefreshTokenExpiresAt: now.Add(s.refreshTTL),
	}, refresh
}

// startSession signs in an existing account: it stores a new session (CreateSession writes
// UserLoggedIn) and issues the session's tokens.
func (s *Service) startSession(ctx context.Context, userID, method string, emailVerified bool, now time.Time) (Tokens, error) {
	session, refresh := s.newSession(ctx, userID, method, now)
	if err := s.store.CreateSession(ctx, session); err != nil {
		return Tokens{}, fmt.Errorf("create session: %w", err)
	}
	return s.tokensFor(session, refresh, emailVerified, now)
}

func (s *Service) tokensFor(session NewSession, refresh string, emailVerified bool, now time.Time) (Tokens, error) {
	access, exp, err := s.tokens.Issue(session.UserID, session.ID, emailVerified, now)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, AccessTokenExpiresAt: exp, RefreshToken: refresh, RefreshTokenExpiresAt: session.RefreshTokenExpiresAt}, nil
}

// wrap adds context to an internal error; a domain *domainerr.Error is returned as it is, because its message
// is written for the caller ("email: already registered") and must reach them unchanged.
func wrap(context string, err error) error {
	var de *domainerr.Error
	if errors.As(err, &de) {
		return err
	}
	return fmt.Errorf("%s: %w", context, err)
}

// accountOf is the store's answer for a user's account as the use cases return it:
// ErrAccountNotFound when there is no such account, another failure wrapped.
func accountOf[T any](acc T, err error) (T, error) {
	var none T
	switch {
	case errors.Is(err, domainerr.ErrNotFound):
		return none, ErrAccountNotFound
	case err != nil:
		return none, fmt.Errorf("load account: %w", err)
	}
	return acc, nil
}

// newID returns a UUIDv7: random, and ordered by creation time so indexes stay compact.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}
