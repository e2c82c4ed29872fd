package mailer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/services/notification/internal/mailer"
	"github.com/parleyhq/parley/services/notification/internal/mailpittest"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

func TestNewParsesURLs(t *testing.T) {
	for _, c := range []struct{ url, addr string }{
		{"smtp://127.0.0.1:1025", "127.0.0.1:1025"},
		{"smtp://mail.example.com", "mail.example.com:25"},
		{"smtps://user:pa%40ss@mail.example.com", "mail.example.com:465"},
		{"smtp://user:pass@[::1]:587", "[::1]:587"},
	} {
		s, err := mailer.New(c.url)
		if err != nil || s.Addr() != c.addr {
			t.Errorf("New(%q) = %v, %v; want addr %s", c.url, s, err, c.addr)
		}
	}
	for _, c := range []struct{ url, want string }{
		{"http://mail.example.com", "scheme must be smtp or smtps"},
		{"smtp://", "no host"},
		{"smtp://mail.example.com/path", "no path or query"},
		{"smtp://user:secret@mail.example.com?x=1", "no path or query"},
	} {
		_, err := mailer.New(c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q) = %v; want an error containing %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("New(%q) error %q shows the password", c.url, err)
		}
	}
}

func TestComposeIsDeterministicMultipartAndInjectionSafe(t *testing.T) {
	m := mailer.Message{
		From:      mail.Address{Name: "Parley", Address: "no-reply@parley.test"},
		To:        mail.Address{Name: "Zoë", Address: "zoe@example.com"},
		Subject:   "Hi Zoë\r\nBcc: victim@example.com",
		MessageID: "0190f5a4-7a1c-7cc3-8d2e-5b1f0e9a6c21@parley.test",
		Date:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Text:      "plain body with a long line " + strings.Repeat("é", 100) + "\nsecond line",
		HTML:      "<p>html body</p>",
	}
	raw, err := mailer.Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := mailer.Compose(m)
	if !bytes.Equal(raw, again) {
		t.Fatal("composing the same message twice gave different bytes")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse composed message: %v\n%s", err, raw)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Fatalf("subject injected a Bcc header: %q", msg.Header.Get("Bcc"))
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Hi Zoë Bcc: victim@example.com" {
		t.Fatalf("subject %q (%v); want the text on one line", subject, err)
	}
	if got := msg.Header.Get("Message-ID"); got != "<"+m.MessageID+">" {
		t.Fatalf("Message-ID %q", got)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || to[0].Name != "Zoë" || to[0].Address != "zoe@example.com" {
		t.Fatalf("To %v, %v", to, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Fatalf("part encoding %q", p.Header.Get("Content-Transfer-Encoding"))
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, string(body))
	}
	if strings.Join(types, ",") != "text/plain; charset=utf-8,text/html; charset=utf-8" {
		t.Fatalf("parts %v; want text/plain then text/html", types)
	}
	if bodies[0] != strings.ReplaceAll(m.Text, "\n", "\r\n") || bodies[1] != m.HTML {
		t.Fatalf("bodies %q", bodies)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d characters", len(line))
		}
	}
	if _, err := mailer.Compose(mailer.Message{From: m.From, To: m.To, MessageID: "no-at-sign"}); err == nil {
		t.Fatal("Compose accepted a Message-ID without a domain")
	}
}

func email(to string) notification.Email {
	return notification.Email{
		ID: "d1", UserID: "u1", Kind: notification.KindSystem, To: to, ToName: "bob",
		MessageID: "0190f5a4-7a1c-7cc3-8d2e-5b1f0e9a6c21@parley.test", Subject: "Hello bob",
		Text: "text part <b>", HTML: "<p>html part</p>", CreatedAt: time.Now(),
	}
}

func TestSendsToMailpitOverPlainSMTP(t *testing.T) {
	mp := mailpittest.Start(t, mailpittest.Options{})
	s, err := mailer.New("smtp://" + mp.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	n := &mailer.Notifications{Sender: s, From: mail.Address{Name: "Parley", Address: "no-reply@parley.test"}}
	if err := n.Send(context.Background(), email("bob@example.com")); err != nil {
		t.Fatal(err)
	}
	msgs := mp.WaitForMessages(t, 1)
	got := mp.Message(t, msgs[0].ID)
	if got.Subject != "Hello bob" || got.MessageID != "0190f5a4-7a1c-7cc3-8d2e-5b1f0e9a6c21@parley.test" ||
		got.From.Address != "no-reply@parley.test" || got.To[0].Address != "bob@example.com" ||
		strings.TrimSpace(got.Text) != "text part <b>" || strings.TrimSpace(got.HTML) != "<p>html part</p>" {
		t.Fatalf("received %+v", got)
	}
}

func TestSTARTTLSWithCredentialsAndSMTPS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	ctx := context.Background()
	n := func(url string, opts ...mailer.Option) *mailer.Notifications {
		s, err := mailer.New(url, append(opts, mailer.WithTimeout(10*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		return &mailer.Notifications{Sender: s, From: mail.Address{Address: "no-reply@parley.test"}}
	}
	trust := mailer.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})

	// STARTTLS: the server insists on it before anything, and only then takes the login.
	mp := mailpittest.Start(t, mailpittest.Options{TLSCert: cert, TLSKey: key, RequireSTARTTLS: true})
	if err := n("smtp://user:pass@"+mp.SMTPAddr, trust).Send(ctx, email("carol@example.com")); err != nil {
		t.Fatalf("send with STARTTLS and login: %v", err)
	}
	msgs := mp.WaitForMessages(t, 1)
	if msgs[0].Username != "user" {
		t.Fatalf("server saw login %q; want user", msgs[0].Username)
	}
	// The certificate is verified: without trusting it, nothing is sent.
	if err := n("smtp://user:pass@"+mp.SMTPAddr).Send(ctx, email("carol@example.com")); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("send to an untrusted certificate = %v; want a STARTTLS error", err)
	}

	// smtps: TLS from the first byte.
	tlsOnly := mailpittest.Start(t, mailpittest.Options{TLSCert: cert, TLSKey: key, RequireTLS: true})
	if err := n("smtps://"+tlsOnly.SMTPAddr, trust).Send(ctx, email("dave@example.com")); err != nil {
		t.Fatalf("send over smtps: %v", err)
	}
	if got := tlsOnly.WaitForMessages(t, 1); got[0].To[0].Address != "dave@example.com" {
		t.Fatalf("smtps server got %+v", got)
	}
}

func TestRefusalsAreClassified(t *testing.T) {
	mp := mailpittest.Start(t, mailpittest.Options{Chaos: true})
	s, err := mailer.New("smtp://" + mp.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	n := &mailer.Notifications{Sender: s, From: mail.Address{Address: "no-reply@parley.test"}}
	ctx := context.Background()

	mp.SetChaos(t, "Sender", 451, 100)
	err = n.Send(ctx, email("erin@example.com"))
	if err == nil || errors.Is(err, notification.ErrRejected) || mailer.IsPermanent(err) {
		t.Fatalf("451 to MAIL FROM = %v; want a temporary error", err)
	}
	mp.SetChaos(t, "Sender", 451, 0)
	mp.SetChaos(t, "Recipient", 550, 100)
	err = n.Send(ctx, email("erin@example.com"))
	if !errors.Is(err, notification.ErrRejected) || !mailer.IsPermanent(err) {
		t.Fatalf("550 to RCPT TO = %v; want a permanent rejection", err)
	}
	mp.SetChaos(t, "Recipient", 550, 0)
	if err := n.Send(ctx, email("erin@example.com")); err != nil {
		t.Fatalf("send once the server accepts again: %v", err)
	}
	// Addresses that would break the SMTP command line never reach the server.
	if err := n.Send(ctx, email("a@b.c>\r\nRCPT TO:<x@y.z")); !errors.Is(err, notification.ErrRejected) {
		t.Fatalf("send to a malformed address = %v; want a rejection", err)
	}
	// A server that does not answer is a temporary failure within the timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent, _ := mailer.New("smtp://"+ln.Addr().String(), mailer.WithTimeout(300*time.Millisecond))
	start := time.Now()
	err = (&mailer.Notifications{Sender: silent, From: mail.Address{Address: "no-reply@parley.test"}}).Send(ctx, email("erin@example.com"))
	if err == nil || errors.Is(err, notification.ErrRejected) || time.Since(start) > 5*time.Second {
		t.Fatalf("silent server: %v after %v; want a temporary error near the timeout", err, time.Since(start))
	}
	if got := len(mp.Messages(t)); got != 1 {
		t.Fatalf("mailpit holds %d messages; want the 1 accepted", got)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to PEM files and returns their paths
// and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
