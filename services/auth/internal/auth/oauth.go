package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// ProviderInfo describes a configured "sign in with…" provider.
type ProviderInfo struct {
	ID          string
	DisplayName string
}

// Identity is a person as an external provider vouches for them (from a verified ID token).
type Identity struct {
	Provider string
	Subject  string
	Email    string
	// EmailVerified is the provider's email_verified claim; an unverified email is not used.
	EmailVerified bool
	// PreferredUsername and Name help derive a nickname when the person gives none.
	PreferredUsername string
	Name              string
}

// OAuthProvider is one external OpenID Connect provider (see internal/authoidc).
type OAuthProvider interface {
	Info() ProviderInfo
	// RedirectAllowed tells whether uri is one of the provider's configured redirect URIs.
	RedirectAllowed(uri string) bool
	// AuthorizationURL is where to send the browser: code flow with state, nonce and an S256 PKCE
	// challenge.
	AuthorizationURL(ctx context.Context, state, nonce, codeChallenge, redirectURI string) (string, error)
	// Exchange redeems the code at the token endpoint and returns the identity of the verified ID
	// token, whose nonce must be nonce. A code or token the provider rejects wraps
	// domainerr.ErrUnauthenticated.
	Exchange(ctx context.Context, code, codeVerifier, redirectURI, nonce string) (Identity, error)
}

// OAuthFlow is a flow between BeginOAuth and CompleteOAuth.
type OAuthFlow struct {
	StateHash    []byte
	Provider     string
	RedirectURI  string
	CodeVerifier string
	Nonce        string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// OAuthStore is the persistence of OAuth sign-in.
type OAuthStore interface {
	// SaveOAuthFlow stores a started flow.
	SaveOAuthFlow(ctx context.Context, f OAuthFlow) error
	// TakeOAuthFlow deletes and returns the unexpired flow with this state hash; an error wrapping
	// domainerr.ErrNotFound when there is none.
	TakeOAuthFlow(ctx context.Context, stateHash []byte, now time.Time) (OAuthFlow, error)
	// IdentityUser returns the user linked to a provider's subject; domainerr.ErrNotFound when none is.
	IdentityUser(ctx context.Context, provider, subject string) (string, error)
	// EmailRegistered tells whether an account has this (normalised) email.
	EmailRegistered(ctx context.Context, email string) (bool, error)
}

// ErrIdentityTaken is returned by Store.CreateAccount when the OAuth identity was linked to an
// account concurrently.
var ErrIdentityTaken = domainerr.Errorf(domainerr.ErrAlreadyExists, "identity: already linked to an account")

// OAuth holds the configured providers, in display order.
type OAuth struct {
	Providers []OAuthProvider
	// FlowTTL bounds the time between BeginOAuth and CompleteOAuth (default 10 minutes).
	FlowTTL time.Duration
}

func (o *OAuth) provider(id string) (OAuthProvider, error) {
	for _, p := range o.Providers {
		if p.Info().ID == id {
			return p, nil
		}
	}
	if id == "" {
		return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "provider_id: required (configured providers: %s)", o.names())
	}
	return nil, domainerr.Errorf(domainerr.ErrNotFound, "unknown provider %q; configured providers: %s", id, o.names())
}

func (o *OAuth) names() string {
	if len(o.Providers) == 0 {
		return "none"
	}
	ids := make([]string, len(o.Providers))
	for i, p := range o.Providers {
		ids[i] = p.Info().ID
	}
	return strings.Join(ids, ", ")
}

func (o *OAuth) flowTTL() time.Duration {
	return defaults.Positive(o.FlowTTL, 10*time.Minute)
}

// OAuthProviders lists the configured providers.
func (s *Service) OAuthProviders() []ProviderInfo {
	out := make([]ProviderInfo, len(s.oauth.Providers))
	for i, p := range s.oauth.Providers {
		out[i] = p.Info()
	}
	return out
}

// BeginOAuth starts an authorization-code flow with PKCE at the provider and returns the URL to send
// the browser to and the state to pass back to CompleteOAuth.
func (s *Service) BeginOAuth(ctx context.Context, providerID, redirectURI string) (authorizationURL, state string, err error) {
	p, err := s.oauth.provider(providerID)
	if err != nil {
		return "", "", err
	}
	if redirectURI == "" {
		return "", "", domainerr.Errorf(domainerr.ErrInvalidArgument, "redirect_uri: required")
	}
	if !p.RedirectAllowed(redirectURI) {
		return "", "", domainerr.Errorf(domainerr.ErrInvalidArgument, "redirect_uri: %q is not a configured redirect URI of provider %q", redirectURI, providerID)
	}
	state, verifier, nonce := randomToken(), randomToken(), randomToken()
	challenge := sha256.Sum256([]byte(verifier))
	now := s.clock()
	authorizationURL, err = p.AuthorizationURL(ctx, state, nonce, base64.RawURLEncoding.EncodeToString(challenge[:]), redirectURI)
	if err != nil {
		return "", "", wrap("provider "+providerID, err)
	}
	err = s.store.SaveOAuthFlow(ctx, OAuthFlow{
		StateHash: hashState(state), Provider: providerID, RedirectURI: redirectURI,
		CodeVerifier: verifier, Nonce: nonce, CreatedAt: now, ExpiresAt: now.Add(s.oauth.flowTTL()),
	})
	if err != nil {
		return "", "", fmt.Errorf("save oauth flow: %w", err)
	}
	return authorizationURL, state, nil
}

// CompleteOAuth finishes a flow started by BeginOAuth: it redeems the code, verifies the ID token,
// then signs in the linked account or creates one. An existing account with two-factor
// authentication in force gets *SecondFactorRequired instead of a session.
func (s *Service) CompleteOAuth(ctx context.Context, state, code, nickname string) (userID string, tokens Tokens, created bool, err error) {
	if len(s.oauth.Providers) == 0 {
		return "", Tokens{}, false, domainerr.Errorf(domainerr.ErrNotFound, "OAuth sign-in is not available: configured providers: none")
	}
	var stateErr, codeErr, nickErr error
	if state == "" {
		stateErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "state: required")
	}
	if code == "" {
		codeErr = domainerr.Errorf(domainerr.ErrInvalidArgument, "code: required")
	}
	if nickname != "" {
		nickErr = ValidateNickname(nickname)
	}
	if err := validate.Join(stateErr, codeErr, nickErr); err != nil {
		return "", Tokens{}, false, err
	}
	flow, err := s.store.TakeOAuthFlow(ctx, hashState(state), s.clock())
	if errors.Is(err, domainerr.ErrNotFound) {
		return "", Tokens{}, false, domainerr.Errorf(domainerr.ErrFailedPrecondition, "state: unknown, used or expired; start again with BeginOAuth")
	}
	if err != nil {
		return "", Tokens{}, false, fmt.Errorf("take oauth flow: %w", err)
	}
	p, err := s.oauth.provider(flow.Provider)
	if err != nil {
		return "", Tokens{}, false, domainerr.Errorf(domainerr.ErrFailedPrecondition, "provider %q is no longer configured", flow.Provider)
	}
	id, err := p.Exchange(ctx, code, flow.CodeVerifier, flow.RedirectURI, flow.Nonce)
	if err != nil {
		return "", Tokens{}, false, wrap("provider "+flow.Provider, err)
	}
	id.Provider = flow.Provider
	method := methodOAuthPrefix + flow.Provider

	for attempt := 0; ; attempt++ {
		existing, err := s.store.IdentityUser(ctx, id.Provider, id.Subject)
		switch {
		case err == nil:
			acc, err := accountOf(s.store.Account(ctx, existing))
			if err != nil {
				return "", Tokens{}, false, err
			}
			if err := s.secondFactorRequired(ctx, existing, method, acc.totp()); err != nil {
				return "", Tokens{}, false, err
			}
			tokens, err := s.startSession(ctx, existing, method, acc.EmailVerified, s.clock())
			if err != nil {
				return "", Tokens{}, false, err
			}
			return existing, tokens, false, nil
		case !errors.Is(err, domainerr.ErrNotFound):
			return "", Tokens{}, false, fmt.Errorf("look up identity: %w", err)
		}
		userID, tokens, err := s.createOAuthAccount(ctx, id, nickname, method)
		if errors.Is(err, ErrIdentityTaken) && attempt == 0 {
			continue // created concurrently by another flow of the same person: sign in to it
		}
		return userID, tokens, err == nil, err
	}
}

func (s *Service) createOAuthAccount(ctx context.Context, id Identity, nickname, method string) (string, Tokens, error) {
	email := ""
	if id.EmailVerified && id.Email != "" {
		if normalized, err := NormalizeEmail(id.Email); err == nil {
			email = normalized
		}
	}
	if email != "" {
		// Accounts are not merged by email: that would hand a password account to whoever controls
		// the email at some provider. The person signs in with the password instead.
		taken, err := s.store.EmailRegistered(ctx, email)
		if err != nil {
			return "", Tokens{}, fmt.Errorf("look up email: %w", err)
		}
		if taken {
			return "", Tokens{}, domainerr.Errorf(domainerr.ErrFailedPrecondition,
				"email: %s is already registered; sign in with its password (accounts are not linked automatically)", email)
		}
	}
	if nickname == "" {
		nickname = DeriveNickname(id)
	}
	now := s.clock()
	userID := newID()
	session, refresh := s.newSession(ctx, userID, method, now)
	err := s.store.CreateAccount(ctx, NewAccount{
		UserID: userID, Email: email, Identity: &id, Nickname: nickname, Method: method, CreatedAt: now, Session: session,
		EmailVerified: email != "", // only an email the provider verified is kept
	})
	if err != nil {
		return "", Tokens{}, wrap("create account", err)
	}
	s.logger.InfoContext(ctx, "account created through OAuth", slog.String("user", userID), slog.String("provider", id.Provider))
	tokens, err := s.tokensFor(session, refresh, email != "", now)
	return userID, tokens, err
}

// DeriveNickname makes a valid nickname from what a provider tells about a person: their preferred
// username, else their name, else their email's local part, else "user". The profile service makes
// it unique.
func DeriveNickname(id Identity) string {
	local, _, _ := strings.Cut(id.Email, "@")
	for _, candidate := range []string{id.PreferredUsername, id.Name, local} {
		var b strings.Builder
		for _, r := range candidate {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
				b.WriteRune(r)
			case r == '_' || r == '.' || r == '-':
				if b.Len() > 0 {
					b.WriteRune(r)
				}
			case r == ' ':
				if b.Len() > 0 {
					b.WriteRune('_')
				}
			}
			if b.Len() == MaxNicknameRunes {
				break
			}
		}
		nick := b.String()
		if len(nick) > MaxNicknameRunes {
			nick = nick[:MaxNicknameRunes]
		}
		if nick == "" {
			continue
		}
		for len(nick) < MinNicknameRunes {
			nick += "_"
		}
		if ValidateNickname(nick) == nil {
			return nick
		}
	}
	return "user"
}

// randomToken is 32 random bytes, base64url without padding (43 characters): states, nonces and
// PKCE verifiers.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashState(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}
