// Package mailer sends email over SMTP: smtp:// with STARTTLS whenever the server offers it,
// smtps:// with TLS from the first byte, and PLAIN authentication from the URL's user and password.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/parleyhq/parley/platform/config"
)

// Sender sends messages to one SMTP server. It opens a connection per message: the volume of a
// notification service does not need pooling, and every send starts from a clean session.
type Sender struct {
	addr      string // host:port
	host      string
	implicit  bool // smtps
	username  string
	password  string
	hasAuth   bool
	timeout   time.Duration
	tlsConfig *tls.Config
	helloName string
}

// Option adjusts a Sender.
type Option func(*Sender)

// WithTLSConfig sets the TLS configuration (e.g. trusted roots); ServerName is always the URL's host.
func WithTLSConfig(c *tls.Config) Option { return func(s *Sender) { s.tlsConfig = c.Clone() } }

// WithTimeout bounds one whole SMTP conversation (default 30s, or less when the context says so).
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// New returns a Sender for rawURL: smtp://[user:password@]host[:port] (port 25 by default;
// STARTTLS whenever offered) or smtps://[user:password@]host[:port] (port 465 by default).
// Credentials are sent only over TLS or to a server on the loopback interface.
func New(rawURL string, opts ...Option) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	s := &Sender{timeout: 30 * time.Second, tlsConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	switch u.Scheme {
	case "smtp":
		s.addr = hostPort(u, "25")
	case "smtps":
		s.implicit = true
		s.addr = hostPort(u, "465")
	default:
		return nil, fmt.Errorf("smtp url %q: scheme must be smtp or smtps", config.MaskURLPassword(u.String()))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("smtp url %q: no host", config.MaskURLPassword(u.String()))
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("smtp url %q: takes no path or query", config.MaskURLPassword(u.String()))
	}
	s.host = u.Hostname()
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
		s.hasAuth = s.username != ""
	}
	s.helloName, _ = os.Hostname()
	if s.helloName == "" {
		s.helloName = "localhost"
	}
	for _, o := range opts {
		o(s)
	}
	s.tlsConfig.ServerName = s.host
	return s, nil
}

func hostPort(u *url.URL, defPort string) string {
	port := u.Port()
	if port == "" {
		port = defPort
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Addr is the server's host:port.
func (s *Sender) Addr() string { return s.addr }

// Error is a reply of the SMTP server refusing something.
type Error struct {
	Stage string // "MAIL FROM", "RCPT TO", "DATA", …
	Code  int
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("smtp %s: %d %s", e.Stage, e.Code, e.Msg) }

// Permanent reports whether the server refused this message for good: a 5xx reply to the
// envelope or the content. (A 5xx to AUTH or STARTTLS is a configuration problem, not the
// message's, and counts as temporary so messages wait for the fix.)
func (e *Error) Permanent() bool {
	return e.Code >= 500 && e.Code < 600 && (e.Stage == "MAIL FROM" || e.Stage == "RCPT TO" || e.Stage == "DATA")
}

// IsPermanent reports whether err is an SMTP refusal that retrying cannot fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

func stageError(stage string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &Error{Stage: stage, Code: tp.Code, Msg: tp.Msg}
	}
	return fmt.Errorf("smtp %s: %w", stage, err)
}

// Send delivers msg (a complete RFC 5322 message with CRLF line ends) from the envelope sender to
// the recipients, in one SMTP session.
func (s *Sender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var dialer net.Dialer
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := dialer.DialContext(dctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp connect to %s: %w", s.addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	// Cancelling ctx interrupts whatever the conversation is waiting for.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if s.implicit {
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fmt.Errorf("smtps handshake with %s: %w", s.addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return stageError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.helloName); err != nil {
		return stageError("EHLO", err)
	}
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig); err != nil {
				return stageError("STARTTLS", err)
			}
		}
	}
	if s.hasAuth {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp AUTH: %s does not offer authentication, but the SMTP URL has credentials", s.addr)
		}
		// PlainAuth refuses to send the password over a connection that is neither TLS nor local.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return stageError("AUTH", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return stageError("MAIL FROM", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return stageError("RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return stageError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return stageError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return stageError("DATA", err)
	}
	// The message is accepted once DATA is; a failing QUIT does not undo that.
	_ = c.Quit()
	return nil
}

// envelopeAddress refuses addresses that could break the SMTP command line.
func envelopeAddress(a string) error {
	if a == "" || strings.ContainsAny(a, "\r\n<> ") {
		return fmt.Errorf("address %q cannot be used in an SMTP envelope", a)
	}
	return nil
}
