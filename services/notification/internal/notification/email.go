package notification

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Web client paths that emails link to, below PUBLIC_WEB_URL (docs/notification.md lists them
// for the web client).
const (
	pathFriendRequests = "friends/requests"
	pathFriends        = "friends"
	pathChats          = "chats"
	pathNotifications  = "notifications"
	pathSettings       = "settings/notifications"
	pathSessions       = "settings/sessions"
	pathResetPassword  = "reset-password"
	pathVerifyEmail    = "verify-email"
)

// Digest limits: how many messages one digest email shows, and how much of each.
const (
	DigestMaxShown   = 20
	DigestTextMaxLen = 500
)

// EmailContent is a rendered email: subject, plain-text and HTML bodies.
type EmailContent struct {
	Subject string
	Text    string
	HTML    string
}

// Emails renders the service's emails from embedded templates: plain text with text/template and
// HTML with html/template, so every piece of user text is escaped in the HTML part.
type Emails struct {
	web  *url.URL
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewEmails parses the templates; links point into the web client at webURL (PUBLIC_WEB_URL).
func NewEmails(webURL string) (*Emails, error) {
	u, err := url.Parse(webURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("public web url %q: must be an absolute http(s) URL", webURL)
	}
	text, err := texttemplate.ParseFS(templateFiles, "templates/email.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse text email templates: %w", err)
	}
	html, err := htmltemplate.ParseFS(templateFiles, "templates/email.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse html email templates: %w", err)
	}
	return &Emails{web: u, text: text, html: html}, nil
}

// mailData is what the templates see.
type mailData struct {
	Subject     string
	Nickname    string // the recipient's; "" when unknown
	Actor       string // the other person's nickname
	Title       string
	Body        string
	Link        string
	LinkText    string
	SettingsURL string
	Reason      string // "friend request", for the footer
	// Security marks a security notice: sent whatever the email settings, and its footer says so.
	Security bool
	Time     string
	Count    int
	Messages []mailMessage
	More     int
}

type mailMessage struct {
	Sender      string
	Time        string
	Text        string
	Attachments []string
}

func (e *Emails) link(elem ...string) string { return e.web.JoinPath(elem...).String() }

func (e *Emails) render(name string, d mailData) (EmailContent, error) {
	d.SettingsURL = e.link(pathSettings)
	var t, h bytes.Buffer
	if err := e.text.ExecuteTemplate(&t, name, d); err != nil {
		return EmailContent{}, fmt.Errorf("render %s email text: %w", name, err)
	}
	if err := e.html.ExecuteTemplate(&h, name, d); err != nil {
		return EmailContent{}, fmt.Errorf("render %s email html: %w", name, err)
	}
	return EmailContent{Subject: d.Subject, Text: t.String(), HTML: h.String()}, nil
}

// FriendRequest is the email about a friend request from actor.
func (e *Emails) FriendRequest(to Recipient, actor string) (EmailContent, error) {
	return e.render("friend_request", mailData{
		Subject: actor + " wants to be your friend on Parley", Nickname: to.Nickname, Actor: actor,
		Link: e.link(pathFriendRequests), LinkText: "See the request", Reason: "friend request",
	})
}

// FriendAccepted is the email saying actor accepted the recipient's friend request.
func (e *Emails) FriendAccepted(to Recipient, actor string) (EmailContent, error) {
	return e.render("friend_accepted", mailData{
		Subject: actor + " accepted your friend request", Nickname: to.Nickname, Actor: actor,
		Link: e.link(pathFriends), LinkText: "Open Parley", Reason: "accepted friend request",
	})
}

// PasswordChanged is the security notice that the account's password was changed (or, reset, set
// anew through an emailed link) at at. It says what to do when the owner did not do it.
func (e *Emails) PasswordChanged(to Recipient, at time.Time, reset bool) (EmailContent, error) {
	name, link, linkText := "password_changed", e.link(pathSessions), "Review your sessions"
	if reset {
		name, link, linkText = "password_reset_done", e.link(pathResetPassword), "Reset it again"
	}
	return e.render(name, mailData{
		Subject: "Your Parley password was changed", Nickname: to.Nickname, Time: formatTime(at),
		Link: link, LinkText: linkText, Security: true,
	})
}

// PasswordReset is the email with the link that sets a new password: the token rides in the
// link's fragment (#token=…), which a browser never sends to a server, so it cannot leak through
// server logs or a Referer header.
func (e *Emails) PasswordReset(to Recipient, token string, expires time.Time) (EmailContent, error) {
	return e.render("password_reset", mailData{
		Subject: "Reset your Parley password", Nickname: to.Nickname, Time: formatTime(expires),
		Link: e.link(pathResetPassword) + "#token=" + url.QueryEscape(token), LinkText: "Choose a new password", Security: true,
	})
}

// EmailVerification is the email with the link that confirms the address, token in the fragment
// as for PasswordReset.
func (e *Emails) EmailVerification(to Recipient, token string, expires time.Time) (EmailContent, error) {
	return e.render("email_verification", mailData{
		Subject: "Confirm your email address for Parley", Nickname: to.Nickname, Time: formatTime(expires),
		Link: e.link(pathVerifyEmail) + "#token=" + url.QueryEscape(token), LinkText: "Confirm my address", Security: true,
	})
}

// Notice is the email for a notification raised through Notify: its title and body.
func (e *Emails) Notice(to Recipient, k Kind, title, body string) (EmailContent, error) {
	return e.render("notice", mailData{
		Subject: title, Nickname: to.Nickname, Title: title, Body: body,
		Link: e.link(pathNotifications), LinkText: "Open Parley", Reason: strings.ReplaceAll(k.Name(), "_", " "),
	})
}

// Digest is the email listing a digest's messages; nick names the senders.
func (e *Emails) Digest(to Recipient, d Digest, nick func(userID string) string) (EmailContent, error) {
	data := mailData{
		Nickname: to.Nickname, Count: len(d.Messages), Link: e.link(pathChats, d.ChatID), LinkText: "Reply", Reason: "message",
	}
	senders := []string{}
	for i, m := range d.Messages {
		name := nick(m.SenderID)
		if !slices.Contains(senders, name) {
			senders = append(senders, name)
		}
		if i >= DigestMaxShown {
			data.More++
			continue
		}
		data.Messages = append(data.Messages, mailMessage{
			Sender: name, Time: formatTime(m.SentAt), Text: clip(m.Text, DigestTextMaxLen), Attachments: m.Attachments,
		})
	}
	data.Actor = strings.Join(senders, ", ")
	if data.Count == 1 {
		data.Subject = "New message from " + data.Actor
	} else {
		data.Subject = fmt.Sprintf("%d new messages from %s", data.Count, data.Actor)
	}
	return e.render("digest", data)
}

// formatTime writes a message time for an email. The service does not know the reader's time
// zone, so it says UTC.
func formatTime(t time.Time) string { return t.UTC().Format("2 Jan 15:04 UTC") }
