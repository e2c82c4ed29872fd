// Package oidcdev is a small OpenID Connect provider for local development, so "sign in with Dev"
// works with no network and no account anywhere. It is NEVER MEANT FOR PRODUCTION: it signs in
// whoever types an email address, with no password, and vouches that the address is verified.
// The dev stack runs it inside its own process, like the embedded Kafka broker, listening on
// 127.0.0.1 only (docs/devstack.md).
//
// Within that, it is a real provider that a standard client can use unchanged:
//
//   - discovery at <issuer>/.well-known/openid-configuration and its keys at <issuer>/jwks;
//   - the authorization-code flow with PKCE (S256 only, required): GET <issuer>/authorize shows a
//     page where the developer types an email and a name and presses "Sign in"; the browser is then
//     sent to the redirect URI with code and state (and iss, RFC 9207);
//   - POST <issuer>/token redeems a code once, within CodeTTL, for the client it was issued to,
//     with the same redirect URI and the PKCE verifier, authenticated by client_secret_basic or
//     client_secret_post when the client has a secret; it answers an ID token (RS256, signed with
//     the key in Config.KeyFile; iss, sub, aud = the client id, exp, iat, auth_time, nonce,
//     at_hash, and with the scopes asked for, email + email_verified=true and name) and an access
//     token for <issuer>/userinfo;
//   - a code presented twice is refused and the access tokens issued from it are revoked
//     (RFC 6749 §4.1.2).
//
// The subject of a person is derived from their email (the same email is the same person across
// restarts and data directories). There are no sessions: every authorization shows the page again
// (and prompt=none answers login_required).
// For scripts, GET /authorize with dev_auto_approve=1 signs in login_hint (default
// dev@parley.local) at once, with the name dev_name (default: the email's local part).
package oidcdev

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/defaults"
)

// DefaultEmail is the address the sign-in page offers.
const DefaultEmail = "dev@parley.local"

// Client is a relying party the provider knows.
type Client struct {
	ID string
	// Secret authenticates the client at the token endpoint (client_secret_basic or
	// client_secret_post). Empty: a public client, which relies on PKCE alone.
	Secret string
	// RedirectURIs are the redirect URIs accepted (exact match). Empty: any http(s) URL on a
	// loopback host (127.0.0.0/8, ::1, localhost), any port, as RFC 8252 §7.3 allows for
	// loopback redirects — so the relying party's own list decides, and the provider can
	// never send a code off the machine.
	RedirectURIs []string
}

// Config configures a Provider.
type Config struct {
	// Issuer is the URL the provider is reached at, e.g. http://127.0.0.1:9096 (no trailing
	// slash, no query). Its endpoints are under it.
	Issuer string
	// Clients are the relying parties; at least one.
	Clients []Client
	// KeyFile keeps the RSA signing key (PEM, PKCS #8) so restarts keep the key and the tokens
	// and caches of relying parties stay valid. A missing file is created with a new key. Empty:
	// a new key each time New is called.
	KeyFile string
	// Logger receives a line per sign-in and per refused request. nil: discarded.
	Logger *slog.Logger
	// CodeTTL is how long an authorization code can be redeemed (default 1 minute).
	CodeTTL time.Duration
	// TokenTTL is the lifetime of ID and access tokens (default 1 hour).
	TokenTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Provider is the development OpenID Connect provider, an http.Handler serving the issuer's
// endpoints. It keeps codes and access tokens in memory.
type Provider struct {
	issuer  string
	base    string // the issuer URL's path, under which the endpoints are served
	clients map[string]Client
	key     *rsa.PrivateKey
	jwk     publicJWK
	log     *slog.Logger
	codeTTL time.Duration
	ttl     time.Duration
	now     func() time.Time
	mux     *http.ServeMux

	mu     sync.Mutex
	codes  map[string]*grant       // by code; used ones stay until they expire, to spot reuse
	tokens map[string]*accessGrant // by access token
}

// grant is an issued authorization code.
type grant struct {
	client, redirectURI, challenge, nonce string
	scopes                                []string
	email, name                           string
	authTime, expires                     time.Time
	used                                  bool
	accessTokens                          []string // issued from it, revoked if it is presented again
}

type accessGrant struct {
	sub, email, name string
	scopes           []string
	expires          time.Time
}

// New creates a provider, loading or creating its signing key.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(cfg.Issuer, "/") {
		return nil, fmt.Errorf("oidcdev: issuer %q must be an http(s) URL without a trailing slash, query or fragment", cfg.Issuer)
	}
	if len(cfg.Clients) == 0 {
		return nil, errors.New("oidcdev: no clients")
	}
	clients := map[string]Client{}
	for _, c := range cfg.Clients {
		if c.ID == "" {
			return nil, errors.New("oidcdev: a client has no id")
		}
		if _, dup := clients[c.ID]; dup {
			return nil, fmt.Errorf("oidcdev: client %q listed twice", c.ID)
		}
		clients[c.ID] = c
	}
	key, created, err := loadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("oidcdev: %w", err)
	}
	p := &Provider{
		issuer:  cfg.Issuer,
		base:    strings.TrimSuffix(u.Path, "/"),
		clients: clients,
		key:     key,
		jwk:     newPublicJWK(&key.PublicKey),
		log:     cfg.Logger,
		codeTTL: cfg.CodeTTL,
		ttl:     cfg.TokenTTL,
		now:     cfg.Now,
		codes:   map[string]*grant{},
		tokens:  map[string]*accessGrant{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.codeTTL = defaults.Positive(p.codeTTL, time.Minute)
	p.ttl = defaults.Positive(p.ttl, time.Hour)
	if p.now == nil {
		p.now = time.Now
	}
	if created && cfg.KeyFile != "" {
		p.log.Info("created a signing key", "file", cfg.KeyFile, "kid", p.jwk.Kid)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p.base+"/{$}", p.index)
	mux.HandleFunc("GET "+p.base+"/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET "+p.base+"/jwks", p.jwks)
	mux.HandleFunc("GET "+p.base+"/authorize", p.authorize)
	mux.HandleFunc("POST "+p.base+"/authorize", p.authorize)
	mux.HandleFunc("POST "+p.base+"/token", p.token)
	mux.HandleFunc("GET "+p.base+"/userinfo", p.userinfo)
	mux.HandleFunc("POST "+p.base+"/userinfo", p.userinfo)
	p.mux = mux
	return p, nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// KeyID is the "kid" of the signing key.
func (p *Provider) KeyID() string { return p.jwk.Kid }

// ServeHTTP implements http.Handler.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// Subject is the "sub" the provider gives the person with this email: stable across restarts.
func Subject(email string) string {
	sum := sha256.Sum256([]byte("parley-oidcdev\x00" + normalizeEmail(email)))
	return fmt.Sprintf("%x", sum[:16])
}

func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// --- discovery and keys ------------------------------------------------------------------------

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         p.issuer,
		"authorization_endpoint":                         p.issuer + "/authorize",
		"token_endpoint":                                 p.issuer + "/token",
		"userinfo_endpoint":                              p.issuer + "/userinfo",
		"jwks_uri":                                       p.issuer + "/jwks",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"scopes_supported":                               []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{"S256"},
		"claims_supported":                               []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "email_verified", "name"},
		"authorization_response_iss_parameter_supported": true,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": []publicJWK{p.jwk}})
}

// --- authorization -----------------------------------------------------------------------------

// authRequest is a validated authorization request.
type authRequest struct {
	client                                                 Client
	redirectURI, state, nonce, challenge, scope, loginHint string
	responseType, challengeMethod, devAutoApprove, devName string
	scopes                                                 []string
	errCode, errDesc                                       string // set: redirect back with this error
}

// parseAuthRequest checks an authorization request. A bad client or redirect URI is answered
// here (the browser must not be sent to an unverified URI, RFC 6749 §4.1.2.1): ok is false and the
// response written. Other errors are left in errCode for a redirect back to the client.
func (p *Provider) parseAuthRequest(w http.ResponseWriter, q url.Values) (ar authRequest, ok bool) {
	ar = authRequest{
		redirectURI: q.Get("redirect_uri"), state: q.Get("state"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), challengeMethod: q.Get("code_challenge_method"),
		scope: q.Get("scope"), responseType: q.Get("response_type"), loginHint: q.Get("login_hint"),
		devAutoApprove: q.Get("dev_auto_approve"), devName: q.Get("dev_name"),
	}
	c, known := p.clients[q.Get("client_id")]
	if !known {
		p.errorPage(w, http.StatusBadRequest, fmt.Sprintf("Unknown client_id %q.", q.Get("client_id")))
		return ar, false
	}
	ar.client = c
	if !c.redirectAllowed(ar.redirectURI) {
		p.errorPage(w, http.StatusBadRequest, fmt.Sprintf("redirect_uri %q is not allowed for client %q.", ar.redirectURI, c.ID))
		return ar, false
	}
	ar.scopes = strings.Fields(ar.scope)
	switch {
	case ar.responseType != "code":
		ar.errCode, ar.errDesc = "unsupported_response_type", "only response_type=code is supported"
	case !slices.Contains(ar.scopes, "openid"):
		ar.errCode, ar.errDesc = "invalid_scope", "scope must include openid"
	case ar.challenge == "":
		ar.errCode, ar.errDesc = "invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256"
	case ar.challengeMethod != "S256":
		ar.errCode, ar.errDesc = "invalid_request", "code_challenge_method must be S256"
	case !validChallenge(ar.challenge):
		ar.errCode, ar.errDesc = "invalid_request", "code_challenge must be 43 base64url characters (S256 of the verifier)"
	}
	return ar, true
}

func (c Client) redirectAllowed(uri string) bool {
	if uri == "" {
		return false
	}
	if len(c.RedirectURIs) > 0 {
		return slices.Contains(c.RedirectURIs, uri)
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Fragment != "" || u.User != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		base64url := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		return !base64url
	}) < 0
}

// authorize shows the sign-in page (GET) and handles its form (POST).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	var q url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			p.errorPage(w, http.StatusBadRequest, "Malformed form.")
			return
		}
		q = r.PostForm
	} else {
		q = r.URL.Query()
	}
	ar, ok := p.parseAuthRequest(w, q)
	if !ok {
		return
	}
	if ar.errCode != "" {
		p.log.Info("authorization refused", "client", ar.client.ID, "error", ar.errCode, "description", ar.errDesc)
		p.redirect(w, r, ar, url.Values{"error": {ar.errCode}, "error_description": {ar.errDesc}})
		return
	}

	email, name := q.Get("email"), q.Get("name")
	switch {
	case r.Method == http.MethodPost && q.Get("action") == "deny":
		p.redirect(w, r, ar, url.Values{"error": {"access_denied"}, "error_description": {"the person cancelled the sign-in"}})
		return
	case r.Method == http.MethodGet:
		email, name = ar.loginHint, ar.devName
		if email == "" {
			email = DefaultEmail
		}
		if name == "" {
			name = defaultName(email)
		}
		autoApprove := ar.devAutoApprove == "1" || ar.devAutoApprove == "true"
		switch {
		case !autoApprove && slices.Contains(strings.Fields(q.Get("prompt")), "none"):
			// No sessions here: without the page nobody is signed in (OpenID Connect Core §3.1.2.6).
			p.redirect(w, r, ar, url.Values{"error": {"login_required"}, "error_description": {"prompt=none: the dev provider keeps no sessions"}})
			return
		case !autoApprove:
			p.signInPage(w, http.StatusOK, ar, email, name, "")
			return
		}
	}

	email, name = normalizeEmail(email), strings.TrimSpace(name)
	if msg := checkPerson(email, name); msg != "" {
		if r.Method == http.MethodPost {
			p.signInPage(w, http.StatusBadRequest, ar, email, name, msg)
		} else {
			p.redirect(w, r, ar, url.Values{"error": {"invalid_request"}, "error_description": {msg}})
		}
		return
	}
	code := randomToken()
	now := p.now()
	p.mu.Lock()
	p.purgeLocked(now)
	p.codes[code] = &grant{
		client: ar.client.ID, redirectURI: ar.redirectURI, challenge: ar.challenge, nonce: ar.nonce, scopes: ar.scopes,
		email: email, name: name, authTime: now, expires: now.Add(p.codeTTL),
	}
	p.mu.Unlock()
	p.log.Info("signed in", "email", email, "client", ar.client.ID, "redirect_uri", ar.redirectURI)
	p.redirect(w, r, ar, url.Values{"code": {code}})
}

// checkPerson returns what is wrong with the email or name typed, or "".
func checkPerson(email, name string) string {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return "Type a plain email address, like " + DefaultEmail + "."
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "The name must be at most 100 characters of text."
	}
	return ""
}

func defaultName(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return local
}

// redirect sends the browser back to the client with params, state and iss.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, ar authRequest, params url.Values) {
	u, _ := url.Parse(ar.redirectURI) // checked by redirectAllowed
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if ar.state != "" {
		q.Set("state", ar.state)
	}
	q.Set("iss", p.issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// --- token -------------------------------------------------------------------------------------

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.tokenError(w, http.StatusBadRequest, "invalid_request", "the body must be a form (application/x-www-form-urlencoded)")
		return
	}
	f := r.PostForm
	client, status, errCode, desc := p.authenticateClient(r, f)
	if errCode != "" {
		p.tokenError(w, status, errCode, desc)
		return
	}
	if gt := f.Get("grant_type"); gt != "authorization_code" {
		p.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: only authorization_code is supported", gt))
		return
	}
	code := f.Get("code")
	now := p.now()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.purgeLocked(now)
	g, found := p.codes[code]
	switch {
	case code == "" || !found:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or expired code")
		return
	case g.used:
		for _, t := range g.accessTokens {
			delete(p.tokens, t)
		}
		g.accessTokens = nil
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "code already used; the tokens issued for it are revoked")
		return
	}
	g.used = true // whatever happens next, a code is presented once
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case g.client != client.ID:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	case f.Get("redirect_uri") != g.redirectURI:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case f.Get("code_verifier") == "":
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier is required (PKCE)")
		return
	case subtle.ConstantTimeCompare([]byte(b64(sum[:])), []byte(g.challenge)) != 1:
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}

	access := randomToken()
	expires := now.Add(p.ttl)
	sub := Subject(g.email)
	atHash := sha256.Sum256([]byte(access))
	claims := map[string]any{
		"iss":       p.issuer,
		"sub":       sub,
		"aud":       g.client,
		"iat":       now.Unix(),
		"exp":       expires.Unix(),
		"auth_time": g.authTime.Unix(),
		"at_hash":   b64(atHash[:16]),
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	addProfileClaims(claims, g.scopes, g.email, g.name)
	idToken, err := p.sign(claims)
	if err != nil {
		p.tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	p.tokens[access] = &accessGrant{sub: sub, email: g.email, name: g.name, scopes: g.scopes, expires: expires}
	g.accessTokens = append(g.accessTokens, access)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int(p.ttl / time.Second),
		"id_token":     idToken,
		"scope":        strings.Join(g.scopes, " "),
	})
}

// authenticateClient identifies the client of a token request: HTTP Basic (the form-encoded id and
// secret of RFC 6749 §2.3.1) or client_id/client_secret in the form, never both; a client without
// a secret names itself with client_id.
func (p *Provider) authenticateClient(r *http.Request, f url.Values) (c Client, status int, errCode, desc string) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return c, http.StatusBadRequest, "invalid_request", "malformed Basic credentials"
		}
		if f.Has("client_secret") {
			return c, http.StatusBadRequest, "invalid_request", "authenticate the client one way: Basic or client_secret, not both"
		}
		if fid := f.Get("client_id"); fid != "" && fid != id {
			return c, http.StatusBadRequest, "invalid_request", "client_id differs from the Basic credentials"
		}
	} else {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	c, known := p.clients[id]
	switch {
	case !known:
		return c, http.StatusUnauthorized, "invalid_client", "unknown client"
	case c.Secret == "" && secret == "":
		return c, 0, "", ""
	case subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1:
		return c, http.StatusUnauthorized, "invalid_client", "wrong client secret"
	}
	return c, 0, "", ""
}

func addProfileClaims(claims map[string]any, scopes []string, email, name string) {
	if slices.Contains(scopes, "email") {
		claims["email"] = email
		claims["email_verified"] = true // nobody checks: development only
	}
	if slices.Contains(scopes, "profile") && name != "" {
		claims["name"] = name
	}
}

func (p *Provider) tokenError(w http.ResponseWriter, status int, code, desc string) {
	p.log.Info("token request refused", "error", code, "description", desc)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidcdev"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// sign makes a compact JWS (RS256) of claims.
func (p *Provider) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": p.jwk.Kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// --- userinfo ----------------------------------------------------------------------------------

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	a, ok := p.tokens[strings.TrimSpace(token)]
	now := p.now()
	valid := found && ok && now.Before(a.expires)
	p.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "unknown, expired or revoked access token"})
		return
	}
	claims := map[string]any{"sub": a.sub}
	addProfileClaims(claims, a.scopes, a.email, a.name)
	writeJSON(w, http.StatusOK, claims)
}

// --- helpers -----------------------------------------------------------------------------------

// purgeLocked forgets expired codes and tokens.
func (p *Provider) purgeLocked(now time.Time) {
	for c, g := range p.codes {
		if !now.Before(g.expires) {
			delete(p.codes, c)
		}
	}
	for t, a := range p.tokens {
		if !now.Before(a.expires) {
			delete(p.tokens, t)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomToken is 32 random bytes, base64url (43 characters): codes and access tokens.
func randomToken() string {
	var b [32]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	return b64(b[:])
}
