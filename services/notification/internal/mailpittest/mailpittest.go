// Package mailpittest runs a real SMTP server for tests: mailpit (the dev stack's mail catcher),
// from the repository's .bin/mailpit (`make tools`; built there on first use when missing,
// PARLEY_MAILPIT_BIN points elsewhere), on free local ports, and reads what it received through
// its HTTP API (/api/v1/messages).
package mailpittest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/proctest"
	"github.com/parleyhq/parley/platform/waittest"
)

// Server is a running mailpit.
type Server struct {
	// SMTPAddr is the SMTP listener, host:port.
	SMTPAddr string
	// APIURL is the web UI and API, http://host:port.
	APIURL string
}

// Options configure the SMTP side.
type Options struct {
	// TLSCert and TLSKey (PEM files) make the server offer STARTTLS, or with RequireTLS, speak TLS
	// from the first byte (smtps).
	TLSCert, TLSKey string
	RequireSTARTTLS bool
	RequireTLS      bool
	// Chaos enables the chaos API (SetChaos).
	Chaos bool
}

// Address is an email address as the API reports it.
type Address struct {
	Name    string
	Address string
}

// Summary is a message in the list.
type Summary struct {
	ID        string
	MessageID string
	From      Address
	To        []Address
	Subject   string
	Username  string // the SMTP login used, if any
}

// Message is one message in full.
type Message struct {
	ID        string
	MessageID string
	From      Address
	To        []Address
	Subject   string
	Text      string
	HTML      string
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary finds the mailpit executable (proctest.Tool): PARLEY_MAILPIT_BIN, else the repository's
// .bin/mailpit, else mailpit on PATH, else built from tools/go.mod into .bin.
func Binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = proctest.Tool("PARLEY_MAILPIT_BIN", "mailpit", "github.com/axllent/mailpit") })
	return binPath, binErr
}

// Start runs a mailpit for the test, stopped when it ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, bin, opts)
		if err == nil {
			return s
		}
		lastErr = err // most likely a port taken between choosing and binding it
	}
	t.Fatalf("mailpittest: start mailpit: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string, opts Options) (*Server, error) {
	smtpPort, err := proctest.FreePort()
	if err != nil {
		return nil, err
	}
	webPort, err := proctest.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		SMTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)),
		APIURL:   "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(webPort)),
	}
	args := []string{
		"--smtp", s.SMTPAddr,
		"--listen", strings.TrimPrefix(s.APIURL, "http://"),
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check",
		"--smtp-auth-accept-any",
		"--smtp-disable-rdns",
		"--quiet",
	}
	if opts.TLSCert != "" {
		args = append(args, "--smtp-tls-cert", opts.TLSCert, "--smtp-tls-key", opts.TLSKey)
	} else {
		args = append(args, "--smtp-auth-allow-insecure")
	}
	if opts.RequireSTARTTLS {
		args = append(args, "--smtp-require-starttls")
	}
	if opts.RequireTLS {
		args = append(args, "--smtp-require-tls")
	}
	if opts.Chaos {
		args = append(args, "--enable-chaos")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"HOME=" + cmd.Dir, "PATH=/usr/bin:/bin"}
	p, err := proctest.Start(cmd, syscall.SIGTERM, 20*time.Second, s.ready)
	if err != nil {
		return nil, err
	}
	t.Cleanup(p.Stop)
	return s, nil
}

// ready succeeds once both the API and the SMTP listener answer.
func (s *Server) ready() error {
	if err := proctest.HTTPOK(s.APIURL + "/readyz"); err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func (s *Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(s.APIURL + path)
	if err != nil {
		t.Fatalf("mailpittest: GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpittest: GET %s: %d %s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("mailpittest: GET %s: %v", path, err)
	}
}

// Messages lists every message received, newest first.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var list struct {
		Messages []Summary `json:"messages"`
	}
	s.getJSON(t, "/api/v1/messages?limit=1000", &list)
	return list.Messages
}

// Message returns one message in full.
func (s *Server) Message(t testing.TB, id string) Message {
	t.Helper()
	var m Message
	s.getJSON(t, "/api/v1/message/"+id, &m)
	return m
}

// Headers returns a message's headers.
func (s *Server) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	s.getJSON(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}

// WaitForMessages polls until at least n messages arrived (waittest.UntilNil) and returns them,
// newest first.
func (s *Server) WaitForMessages(t testing.TB, n int) []Summary {
	t.Helper()
	var msgs []Summary
	waittest.UntilNil(t, fmt.Sprintf("mailpittest: %d messages", n), func() error {
		if msgs = s.Messages(t); len(msgs) < n {
			return fmt.Errorf("%d so far", len(msgs))
		}
		return nil
	})
	return msgs
}

// SetChaos makes the server answer one stage of every SMTP conversation with an error reply:
// trigger is "Sender" (MAIL FROM), "Recipient" (RCPT TO) or "Authentication"; code the reply code
// (451 temporary, 550 permanent); percent the probability (0 turns it off). Needs Options.Chaos.
func (s *Server) SetChaos(t testing.TB, trigger string, code, percent int) {
	t.Helper()
	body := fmt.Sprintf(`{%q:{"ErrorCode":%d,"Probability":%d}}`, trigger, code, percent)
	req, _ := http.NewRequest(http.MethodPut, s.APIURL+"/api/v1/chaos", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailpittest: set chaos: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpittest: set chaos: status %d", res.StatusCode)
	}
}
