package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is an email with a plain-text and an HTML body.
type Message struct {
	From mail.Address
	To   mail.Address
	// Subject is any text; it is encoded (RFC 2047) when it is not plain ASCII.
	Subject string
	// MessageID is the Message-ID header's value without angle brackets ("id@domain"). Keeping
	// it when a message is sent again lets mail clients and servers recognise the copy.
	MessageID string
	Date      time.Time
	Text      string
	HTML      string
}

// Compose renders m as an RFC 5322 message: multipart/alternative with a quoted-printable
// text/plain part and then a text/html part (the last part is the preferred one). The output
// depends only on m, so composing the same message twice gives the same bytes.
func Compose(m Message) ([]byte, error) {
	if m.From.Address == "" || m.To.Address == "" {
		return nil, errors.New("compose email: from and to addresses are required")
	}
	if !validMessageID(m.MessageID) {
		return nil, fmt.Errorf("compose email: message id %q must look like id@domain", m.MessageID)
	}
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("Date", m.Date.Format(time.RFC1123Z))
	header("From", m.From.String())
	header("To", m.To.String())
	header("Subject", encodeHeader(m.Subject))
	header("Message-ID", "<"+m.MessageID+">")
	header("MIME-Version", "1.0")
	// RFC 3834: an automatic message, so auto-responders stay quiet.
	header("Auto-Submitted", "auto-generated")
	header("X-Auto-Response-Suppress", "All")

	sum := sha256.Sum256([]byte(m.MessageID))
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("parley-" + hex.EncodeToString(sum[:14])); err != nil {
		return nil, fmt.Errorf("compose email: %w", err)
	}
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("compose email: %w", err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, fmt.Errorf("compose email: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("compose email: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose email: %w", err)
	}
	return b.Bytes(), nil
}

// encodeHeader makes s safe as an unstructured header value: line breaks become spaces (no header
// injection), non-ASCII text is RFC 2047-encoded, and long encoded values are folded.
func encodeHeader(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
	enc := mime.QEncoding.Encode("utf-8", s)
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

func validMessageID(id string) bool {
	left, right, ok := strings.Cut(id, "@")
	return ok && left != "" && right != "" && !strings.ContainsAny(id, "<>\r\n \t")
}
