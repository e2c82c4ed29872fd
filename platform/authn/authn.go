// Package authn verifies Parley access tokens (JWTs signed by the auth service) and carries the
// caller's identity through a request's context.
package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Principal is the verified caller of a request.
type Principal struct {
	UserID    string
	SessionID string
	// EmailVerified is the token's email_verified claim: the account's owner confirmed its email
	// address (false for tokens issued before they did, and for accounts without one).
	EmailVerified bool
	// Token is the raw access token, forwarded on calls the service makes on the caller's behalf.
	Token string
	// Expiry is the token's exp: when it stops being accepted.
	Expiry time.Time
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, if the request carried a valid token.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// UserID returns the caller's user id, or "" for an anonymous request.
func UserID(ctx context.Context) string {
	p, _ := FromContext(ctx)
	return p.UserID
}

// RequireUser returns the caller's user id, or an Unauthenticated error asking for a token when
// the request carried none. Use it at the top of a handler for a procedure that acts as a user:
// the Interceptor has already refused requests without a valid token on every procedure but the
// public ones, and on those the handler must ask itself.
func RequireUser(ctx context.Context) (string, error) {
	if id := UserID(ctx); id != "" {
		return id, nil
	}
	return "", errMissingToken()
}

// errMissingToken is the answer to a request without an access token where one is needed; a new
// error each time, since a *connect.Error carries metadata a handler may add to.
func errMissingToken() error {
	return connect.NewError(connect.CodeUnauthenticated, errors.New("missing access token: send Authorization: Bearer <token>"))
}

// InternalTokenHeader carries the shared secret (INTERNAL_API_TOKEN) with which a Parley service
// calls another's internal procedures; the handler checks it with SecretEqual. The gateway strips
// X-Parley-* headers from clients and never routes internal procedures.
const InternalTokenHeader = "X-Parley-Internal-Token"

// ErrInvalidToken is returned for every token that must not be accepted; the wrapped cause says why.
var ErrInvalidToken = errors.New("invalid access token")

// KeySource yields the public keys tokens are checked against.
type KeySource interface {
	KeySet(ctx context.Context) (jwk.Set, error)
	// Refresh reloads the keys, e.g. when a token names a key id not seen before (key rotation).
	Refresh(ctx context.Context) error
}

// StaticKeys is a KeySource over a fixed set (the auth service verifies with its own keys).
type StaticKeys struct{ Set jwk.Set }

// KeySet returns the set.
func (s StaticKeys) KeySet(context.Context) (jwk.Set, error) { return s.Set, nil }

// Refresh does nothing: the set is fixed.
func (StaticKeys) Refresh(context.Context) error { return nil }

// jwksRefreshInterval is the least time between two refetches of the JWKS for unknown key ids,
// so forged key ids cannot make a service hammer the auth service.
const jwksRefreshInterval = 10 * time.Second

// jwksRetryInterval is the least time between two attempts to fetch a JWKS that could not be
// fetched yet: while the auth service is down, a flood of tokens costs it one request a second,
// and callers are answered at once instead of queueing behind a fetch that is bound to fail.
const jwksRetryInterval = time.Second

// RemoteJWKS fetches and caches a JWKS document (the auth service's /.well-known/jwks.json),
// refreshing it in the background and on demand for unknown key ids.
type RemoteJWKS struct {
	url   string
	cache *jwk.Cache
	now   func() time.Time

	mu          sync.Mutex
	lastRefresh time.Time

	// Until the first fetch succeeds: fetched is false, fetchMu lets one caller at a time try,
	// and the last failure is repeated to callers for jwksRetryInterval.
	fetched  atomic.Bool
	fetchMu  sync.Mutex
	failure  error
	failedAt time.Time
}

// NewRemoteJWKS registers url with a cache living as long as ctx. Nothing is fetched until the
// first token arrives, so a service may start before the auth service does.
func NewRemoteJWKS(ctx context.Context, url string, client *http.Client) (*RemoteJWKS, error) {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	c := jwk.NewCache(ctx)
	if err := c.Register(url, jwk.WithHTTPClient(client), jwk.WithMinRefreshInterval(5*time.Minute)); err != nil {
		return nil, fmt.Errorf("register jwks %s: %w", url, err)
	}
	return &RemoteJWKS{url: url, cache: c, now: time.Now}, nil
}

// KeySet returns the cached keys, fetching them the first time.
func (r *RemoteJWKS) KeySet(ctx context.Context) (jwk.Set, error) {
	if !r.fetched.Load() {
		return r.firstFetch(ctx)
	}
	set, err := r.cache.Get(ctx, r.url)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks %s: %w", r.url, err)
	}
	return set, nil
}

// Ready answers nil once the keys have been fetched, fetching them now if they have not been yet
// (at most once per jwksRetryInterval while that fails): a readiness check. A process that is
// ready has the keys before it takes traffic, so a rolling restart of the auth service later
// (a stopping replica refuses the fetch) cannot leave it unable to verify tokens. Once fetched,
// the cached keys keep it ready while the auth service is away.
func (r *RemoteJWKS) Ready(ctx context.Context) error {
	_, err := r.KeySet(ctx)
	return err
}

// firstFetch fetches the keys until that succeeds once; from then on the cache keeps the last good
// set (a failed background refresh does not replace it). The fetch is forced: after a failed
// attempt the cache counts the URL as fetched, with nothing in it, until its next scheduled
// refresh minutes later, so a plain Get would fail all that time after the auth service is back.
func (r *RemoteJWKS) firstFetch(ctx context.Context) (jwk.Set, error) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if r.fetched.Load() {
		return r.KeySet(ctx)
	}
	if r.failure != nil && r.now().Sub(r.failedAt) < jwksRetryInterval {
		return nil, r.failure
	}
	set, err := r.cache.Refresh(ctx, r.url)
	if err != nil {
		r.failure, r.failedAt = fmt.Errorf("fetch jwks %s: %w", r.url, err), r.now()
		return nil, r.failure
	}
	r.failure = nil
	r.fetched.Store(true)
	return set, nil
}

// Refresh refetches the keys, at most once per jwksRefreshInterval (10 s) so forged key ids
// cannot make the service hammer the auth service.
func (r *RemoteJWKS) Refresh(ctx context.Context) error {
	r.mu.Lock()
	now := r.now()
	if !r.lastRefresh.IsZero() && now.Sub(r.lastRefresh) < jwksRefreshInterval {
		r.mu.Unlock()
		return nil
	}
	r.lastRefresh = now
	r.mu.Unlock()
	if _, err := r.cache.Refresh(ctx, r.url); err != nil {
		return fmt.Errorf("refresh jwks %s: %w", r.url, err)
	}
	return nil
}

// Verifier checks access tokens: signature by a known key with the algorithm the key declares
// (never the token's own choice), issuer, audience, expiry.
//
// A token that verified is remembered until it expires (up to DefaultCacheSize tokens), so each
// one is checked in full once; see verifiedCache for what that means when keys are retired.
type Verifier struct {
	keys     KeySource
	issuer   string
	audience string
	cache    *verifiedCache
	now      func() time.Time
}

// NewVerifier returns a Verifier accepting tokens from issuer for audience.
func NewVerifier(keys KeySource, issuer, audience string) *Verifier {
	return newVerifier(keys, issuer, audience, time.Now)
}

func newVerifier(keys KeySource, issuer, audience string, now func() time.Time) *Verifier {
	return &Verifier{keys: keys, issuer: issuer, audience: audience, cache: newVerifiedCache(DefaultCacheSize, now), now: now}
}

// Verify parses and checks raw, returning the caller it names. Every failure wraps ErrInvalidToken.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	if p, ok := v.cache.get(raw); ok {
		return p, nil
	}
	p, exp, err := v.verify(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	v.cache.put(raw, p, exp)
	return p, nil
}

// Known returns the caller of a token this Verifier verified before and that has not expired,
// from memory alone: it never verifies, fetches keys or fails. The gateway uses it to let
// signed-in users through while it refuses to verify unknown tokens from a flooding address.
func (v *Verifier) Known(raw string) (Principal, bool) {
	return v.cache.get(raw)
}

// verify is Verify without the cache; it also returns the token's expiry.
func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	set, err := v.keys.KeySet(ctx)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	if kid := keyID(raw); kid != "" {
		if _, found := set.LookupKeyID(kid); !found {
			if err := v.keys.Refresh(ctx); err == nil {
				if set, err = v.keys.KeySet(ctx); err != nil {
					return Principal{}, time.Time{}, err
				}
			}
		}
	}
	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKeySet(set, jws.WithRequireKid(true)),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim("exp"), // a token that never expires is never acceptable
	)
	if err != nil {
		return Principal{}, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if tok.Subject() == "" {
		return Principal{}, time.Time{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	sid, _ := tok.PrivateClaims()["sid"].(string)
	verified, _ := tok.PrivateClaims()["email_verified"].(bool)
	return Principal{UserID: tok.Subject(), SessionID: sid, EmailVerified: verified, Token: raw, Expiry: tok.Expiration()}, tok.Expiration(), nil
}

func keyID(raw string) string {
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) == 0 {
		return ""
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// BearerToken extracts the token from an Authorization header value ("" when there is none).
func BearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
