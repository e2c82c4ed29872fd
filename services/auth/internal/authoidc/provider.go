// Package authoidc signs people in through an external OpenID Connect provider: authorization code
// flow with PKCE (S256), ID token verified against the provider's published keys. It uses only the
// standard library and jwx.
package authoidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// Config is one provider's configuration.
type Config struct {
	// ID is the provider id clients use ("google", "dev").
	ID string
	// DisplayName is shown on the "sign in with…" button (default: ID).
	DisplayName string
	// Issuer is the OpenID issuer URL; its /.well-known/openid-configuration is fetched.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURIs lists the redirect URIs BeginOAuth accepts (exact match).
	RedirectURIs []string
	// Scopes requested (default openid, email, profile).
	Scopes []string
}

// Provider is an OpenID Connect provider. It discovers the provider's endpoints on first use, so
// the service starts even while the provider is unreachable.
type Provider struct {
	cfg    Config
	client *http.Client
	ctx    context.Context // lifetime of the key cache

	mu    sync.Mutex
	meta  *metadata
	keys  *authn.RemoteJWKS
	tried time.Time
}

type metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
}

var _ auth.OAuthProvider = (*Provider)(nil)

// New returns a provider; ctx bounds the life of its key cache, client makes its HTTP calls
// (nil: a client with a 10 s timeout).
func New(ctx context.Context, cfg Config, client *http.Client) (*Provider, error) {
	switch {
	case cfg.ID == "":
		return nil, errors.New("oauth provider: empty id")
	case cfg.Issuer == "":
		return nil, fmt.Errorf("oauth provider %s: issuer is required", cfg.ID)
	case cfg.ClientID == "":
		return nil, fmt.Errorf("oauth provider %s: client id is required", cfg.ID)
	case len(cfg.RedirectURIs) == 0:
		return nil, fmt.Errorf("oauth provider %s: at least one redirect URI is required", cfg.ID)
	}
	for _, u := range cfg.RedirectURIs {
		if p, err := url.Parse(u); err != nil || !p.IsAbs() || p.Fragment != "" {
			return nil, fmt.Errorf("oauth provider %s: redirect URI %q must be an absolute URL without a fragment", cfg.ID, u)
		}
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = cfg.ID
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid", "email", "profile"}
	} else if !slices.Contains(cfg.Scopes, "openid") {
		cfg.Scopes = append([]string{"openid"}, cfg.Scopes...)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Provider{cfg: cfg, client: client, ctx: ctx}, nil
}

// Info implements auth.OAuthProvider.
func (p *Provider) Info() auth.ProviderInfo {
	return auth.ProviderInfo{ID: p.cfg.ID, DisplayName: p.cfg.DisplayName}
}

// RedirectAllowed implements auth.OAuthProvider.
func (p *Provider) RedirectAllowed(uri string) bool { return slices.Contains(p.cfg.RedirectURIs, uri) }

// discover fetches the provider metadata once (retrying at most every 10 s after a failure).
func (p *Provider) discover(ctx context.Context) (*metadata, *authn.RemoteJWKS, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta != nil {
		return p.meta, p.keys, nil
	}
	if time.Since(p.tried) < 10*time.Second {
		return nil, nil, domainerr.Errorf(domainerr.ErrUnavailable, "provider %q is not reachable right now; try again shortly", p.cfg.ID)
	}
	p.tried = time.Now()
	wellKnown := strings.TrimSuffix(p.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var m metadata
	if err := p.getJSON(ctx, wellKnown, &m); err != nil {
		return nil, nil, unavailable(p.cfg.ID, fmt.Errorf("discover provider %q: %w", p.cfg.ID, err))
	}
	if m.Issuer != p.cfg.Issuer {
		return nil, nil, unavailable(p.cfg.ID, fmt.Errorf("provider %q: metadata issuer %q differs from the configured %q", p.cfg.ID, m.Issuer, p.cfg.Issuer))
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" || m.JWKSURI == "" {
		return nil, nil, unavailable(p.cfg.ID, fmt.Errorf("provider %q: metadata lacks an endpoint", p.cfg.ID))
	}
	keys, err := authn.NewRemoteJWKS(p.ctx, m.JWKSURI, p.client)
	if err != nil {
		return nil, nil, unavailable(p.cfg.ID, fmt.Errorf("provider %q: %w", p.cfg.ID, err))
	}
	p.meta, p.keys = &m, keys
	return p.meta, p.keys, nil
}

func (p *Provider) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v)
}

// AuthorizationURL implements auth.OAuthProvider.
func (p *Provider) AuthorizationURL(ctx context.Context, state, nonce, codeChallenge, redirectURI string) (string, error) {
	meta, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(meta.AuthorizationEndpoint)
	if err != nil {
		return "", unavailable(p.cfg.ID, fmt.Errorf("provider %q: authorization endpoint: %w", p.cfg.ID, err))
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", strings.Join(p.cfg.Scopes, " "))
	q.Set("state", state)
	q.Set("nonce", nonce)
	q.Set("code_challenge", codeChallenge)
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Exchange implements auth.OAuthProvider.
func (p *Provider) Exchange(ctx context.Context, code, codeVerifier, redirectURI, nonce string) (auth.Identity, error) {
	meta, keys, err := p.discover(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {codeVerifier},
		"client_id":     {p.cfg.ClientID},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return auth.Identity{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.cfg.ClientSecret != "" { // client_secret_basic, with the form-encoding RFC 6749 §2.3.1 asks for
		req.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	res, err := p.client.Do(req)
	if err != nil {
		return auth.Identity{}, unavailable(p.cfg.ID, fmt.Errorf("provider %q token endpoint: %w", p.cfg.ID, err))
	}
	defer res.Body.Close()
	var body struct {
		IDToken          string `json:"id_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body)
	switch {
	case res.StatusCode == http.StatusBadRequest && body.Error == "invalid_grant":
		return auth.Identity{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "code: the provider rejected it (expired or already used); sign in again")
	case res.StatusCode != http.StatusOK:
		return auth.Identity{}, unavailable(p.cfg.ID, fmt.Errorf("provider %q token endpoint answered %s (%s %s)", p.cfg.ID, res.Status, body.Error, body.ErrorDescription))
	case decodeErr != nil || body.IDToken == "":
		return auth.Identity{}, unavailable(p.cfg.ID, fmt.Errorf("provider %q token response has no id_token", p.cfg.ID))
	}
	return p.verifyIDToken(ctx, keys, body.IDToken, nonce)
}

func (p *Provider) verifyIDToken(ctx context.Context, keys *authn.RemoteJWKS, raw, nonce string) (auth.Identity, error) {
	parse := func() (jwt.Token, error) {
		set, err := keys.KeySet(ctx)
		if err != nil {
			return nil, unavailable(p.cfg.ID, fmt.Errorf("provider %q keys: %w", p.cfg.ID, err))
		}
		return jwt.Parse([]byte(raw),
			// Provider keys often carry no "alg": take it from the key type (never "none" or HMAC),
			// and accept a token without "kid" when the provider has a single key.
			jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true), jws.WithUseDefault(true)),
			jwt.WithValidate(true),
			jwt.WithIssuer(p.cfg.Issuer),
			jwt.WithAudience(p.cfg.ClientID),
			// jwx checks exp only when present; OIDC Core §2 requires it, and a token without
			// one would be valid for ever.
			jwt.WithRequiredClaim(jwt.ExpirationKey),
			jwt.WithAcceptableSkew(time.Minute),
		)
	}
	tok, err := parse()
	if err != nil && !errors.Is(err, domainerr.ErrUnavailable) && keys.Refresh(ctx) == nil {
		tok, err = parse() // the provider may have rotated its keys
	}
	if err != nil {
		if errors.Is(err, domainerr.ErrUnavailable) {
			return auth.Identity{}, err
		}
		return auth.Identity{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "provider %q: ID token not accepted: %v", p.cfg.ID, err)
	}
	claims := tok.PrivateClaims()
	if got, _ := claims["nonce"].(string); got == "" || got != nonce {
		return auth.Identity{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "provider %q: ID token nonce does not match the flow", p.cfg.ID)
	}
	if aud := tok.Audience(); len(aud) > 1 {
		if azp, _ := claims["azp"].(string); azp != p.cfg.ClientID {
			return auth.Identity{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "provider %q: ID token was issued to another client", p.cfg.ID)
		}
	}
	if tok.Subject() == "" {
		return auth.Identity{}, domainerr.Errorf(domainerr.ErrUnauthenticated, "provider %q: ID token has no subject", p.cfg.ID)
	}
	id := auth.Identity{Provider: p.cfg.ID, Subject: tok.Subject()}
	id.Email, _ = claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = v == "true"
	}
	id.PreferredUsername, _ = claims["preferred_username"].(string)
	id.Name, _ = claims["name"].(string)
	return id, nil
}

// unavailable is the error a caller sees when the provider fails: a fixed message, with what the
// provider actually did kept as the cause for the logs (it may name internal addresses or carry the
// provider's own error text).
func unavailable(providerID string, cause error) error {
	return &domainerr.Error{Kind: domainerr.ErrUnavailable, Msg: fmt.Sprintf("provider %q is not reachable right now; try again shortly", providerID), Cause: cause}
}
