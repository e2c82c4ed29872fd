package webpush

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/defaults"
)

// Message is one push to one subscription.
type Message struct {
	Endpoint string
	P256dh   []byte // the browser's public key, 65 bytes
	Auth     []byte // the subscription's auth secret, 16 bytes
	Payload  []byte // plaintext; encrypted by Send
	// TTL is how long the push service keeps the message for an offline browser (whole seconds).
	TTL time.Duration
	// Urgency is "very-low", "low", "normal" or "high" (RFC 8030 §5.3); "" sends none.
	Urgency string
	// Topic, when set, replaces a message with the same topic the push service still holds for
	// the browser (RFC 8030 §5.4): at most 32 characters of the base64url alphabet.
	Topic string
}

// Errors Send returns, besides transient ones (network, 5xx), which are worth retrying.
var (
	// ErrGone: the push service says the subscription no longer exists (404, 410).
	ErrGone = errors.New("push subscription gone")
	// ErrRejected: the push service refused this message for good (413, other 4xx, a redirect).
	ErrRejected = errors.New("push message rejected")
)

// RetryAfterError is a 429: the push service asks to wait After before trying again (0 when it
// gave no Retry-After).
type RetryAfterError struct{ After time.Duration }

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("push service busy (429), retry after %v", e.After)
}

// Options configure a Sender. Key and Subject are required.
type Options struct {
	Key *VAPIDKey
	// Subject is the contact in every JWT (sub): a mailto: or https: URL where the push service's
	// operator can reach the application's.
	Subject string
	// Timeout bounds one push: connecting, TLS, request and response. Default 10s.
	Timeout time.Duration
	// AllowPrivateEndpoints lifts the address guard (PUSH_ALLOW_PRIVATE_ENDPOINTS): for a push
	// service on this machine or network in development and tests, never in production.
	AllowPrivateEndpoints bool
	// Resolver looks endpoint hosts up; default net.DefaultResolver.
	Resolver Resolver
	// TLS is the client TLS configuration; default the system roots. Tests pass their server's.
	TLS *tls.Config
	// Now is the clock of the JWTs; default time.Now.
	Now func() time.Time
}

// Sender sends pushes. It is safe for concurrent use.
type Sender struct {
	opts   Options
	guard  *guard
	client *http.Client
}

// maxResponseRead bounds how much of a push service's answer is read (for the log).
const maxResponseRead = 4 << 10

// NewSender checks opts and builds the guarded HTTP client: no proxy from the environment (a proxy
// would connect for us, past the guard), no redirects, short timeouts, HTTP/2 when offered.
func NewSender(opts Options) (*Sender, error) {
	if opts.Key == nil {
		return nil, errors.New("webpush: a VAPID key is required")
	}
	if !strings.HasPrefix(opts.Subject, "mailto:") && !strings.HasPrefix(opts.Subject, "https://") {
		return nil, fmt.Errorf("subject %q: must be a mailto: or https: URL (RFC 8292)", opts.Subject)
	}
	opts.Timeout = defaults.Positive(opts.Timeout, 10*time.Second)
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &guard{resolver: opts.Resolver, allowPrivate: opts.AllowPrivateEndpoints}
	tlsConfig := opts.TLS
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext(&net.Dialer{Timeout: opts.Timeout / 2}),
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    opts.Timeout / 2,
		ResponseHeaderTimeout:  opts.Timeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a push service does not redirect; following could reach anywhere
		},
	}
	return &Sender{opts: opts, guard: g, client: client}, nil
}

// PublicKey is the VAPID public key, base64url: the applicationServerKey.
func (s *Sender) PublicKey() string { return s.opts.Key.PublicKey() }

// CheckEndpoint refuses an endpoint the guard would not connect to (see guard.CheckEndpoint).
func (s *Sender) CheckEndpoint(ctx context.Context, endpoint string) error {
	return s.guard.CheckEndpoint(ctx, endpoint)
}

// Send encrypts m's payload for its subscription and posts it to the endpoint. It returns nil
// when the push service accepted it (2xx), an error wrapping ErrGone (404, 410) or ErrRejected
// (413, other 4xx, 3xx, an endpoint the guard refuses to connect to), a *RetryAfterError (429),
// or another error worth retrying (network, a failed look-up, 5xx).
func (s *Sender) Send(ctx context.Context, m Message) error {
	if _, err := checkURL(m.Endpoint); err != nil {
		return fmt.Errorf("%w: endpoint: %w", ErrRejected, err)
	}
	body, err := Encrypt(m.Payload, m.P256dh, m.Auth)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	auth, err := s.opts.Key.authorization(m.Endpoint, s.opts.Subject, s.opts.Now(), 12*time.Hour)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.FormatInt(int64(m.TTL/time.Second), 10))
	if m.Urgency != "" {
		req.Header.Set("Urgency", m.Urgency)
	}
	if m.Topic != "" {
		req.Header.Set("Topic", m.Topic)
	}
	res, err := s.client.Do(req)
	if err != nil {
		if r := (*refusedError)(nil); errors.As(err, &r) {
			return fmt.Errorf("%w: push to %s: %w", ErrRejected, origin(m.Endpoint), r)
		}
		return fmt.Errorf("push to %s: %w", origin(m.Endpoint), err)
	}
	defer res.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(res.Body, maxResponseRead))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	detail := fmt.Sprintf("push to %s: HTTP %d %s", origin(m.Endpoint), res.StatusCode, strings.TrimSpace(string(text)))
	switch code := res.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%w: %s", ErrGone, detail)
	case code == http.StatusTooManyRequests:
		return &RetryAfterError{After: retryAfter(res.Header.Get("Retry-After"), s.opts.Now())}
	case code >= 300 && code < 500:
		return fmt.Errorf("%w: %s", ErrRejected, detail)
	}
	return errors.New(detail)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// origin is the scheme and host of an endpoint: what logs and errors show (the path is the
// subscription's capability).
func origin(endpoint string) string {
	scheme, rest, ok := strings.Cut(endpoint, "://")
	if !ok {
		return "?"
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}
