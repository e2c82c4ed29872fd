package notification

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

func TestDefaultPreferences(t *testing.T) {
	p := DefaultPreferences()
	if !p.EmailEnabled || len(p.Kinds) != 4 || p.UpdatedAt != nil {
		t.Fatalf("defaults %+v", p)
	}
	for i, k := range Kinds {
		kp := p.Kinds[i]
		if kp.Kind != k || !kp.InApp || kp.Email != (k != KindMessage) {
			t.Errorf("default for %s = %+v; want in-app, email unless MESSAGE", k, kp)
		}
	}
	p.EmailEnabled = false
	if p.EmailFor(KindFriendRequest) {
		t.Error("the email master switch off still emails friend requests")
	}
	if names := []string{KindFriendRequest.Name(), KindFriendAccepted.Name(), KindMessage.Name(), KindSystem.Name()}; strings.Join(names, ",") != "friend_request,friend_accepted,message,system" {
		t.Errorf("event kind names %v", names)
	}
}

func TestValidateNotifyNamesEveryBadField(t *testing.T) {
	ok := NotifyRequest{UserID: uuid.NewString(), Kind: KindSystem, Title: "Password changed", IdempotencyKey: "auth:1"}
	if _, err := validateNotify(ok); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	upper := ok
	upper.UserID = strings.ToUpper(ok.UserID)
	if got, err := validateNotify(upper); err != nil || got.UserID != ok.UserID {
		t.Fatalf("upper-case UUID normalised to %q, %v", got.UserID, err)
	}
	cases := []struct {
		mut  func(*NotifyRequest)
		want string
	}{
		{func(r *NotifyRequest) { r.UserID = "bob" }, `user_id: must be a UUID`},
		{func(r *NotifyRequest) { r.UserID = "" }, `user_id: required`},
		{func(r *NotifyRequest) { r.Kind = KindUnspecified }, `kind: required; NOTIFICATION_KIND_UNSPECIFIED is not a kind`},
		{func(r *NotifyRequest) { r.Kind = 42 }, `kind: unknown kind 42`},
		{func(r *NotifyRequest) { r.Title = "" }, `title: required`},
		{func(r *NotifyRequest) { r.Title = strings.Repeat("x", 201) }, `title: must be 1 to 200 characters long, got 201`},
		{func(r *NotifyRequest) { r.Title = "two\nlines" }, `title: must be a single line`},
		{func(r *NotifyRequest) { r.Body = strings.Repeat("é", 2001) }, `body: must be 0 to 2000 characters long, got 2001`},
		{func(r *NotifyRequest) { r.Body = "bell\a" }, `body: must not contain control characters`},
		{func(r *NotifyRequest) { r.ActorUserID = "x" }, `actor_user_id: must be a UUID`},
		{func(r *NotifyRequest) { r.IdempotencyKey = "" }, `idempotency_key: required`},
		{func(r *NotifyRequest) { r.IdempotencyKey = strings.Repeat("k", 129) }, `idempotency_key: must be 1 to 128 characters long`},
		{func(r *NotifyRequest) { r.Title = "\xff" }, `title: must be valid UTF-8`},
	}
	for _, c := range cases {
		r := ok
		c.mut(&r)
		_, err := validateNotify(r)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("validateNotify: %v; want InvalidArgument containing %q", err, c.want)
		}
	}
	_, err := validateNotify(NotifyRequest{})
	if err == nil || strings.Count(err.Error(), "required") != 4 {
		t.Errorf("empty request: %v; want user_id, kind, title and idempotency_key reported together", err)
	}
}

func TestCursorRoundTripAndRefusals(t *testing.T) {
	c := Cursor{CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: uuid.NewString()}
	tok := EncodeCursor(true, c)
	got, err := DecodeCursor(true, tok)
	if err != nil || got.ID != c.ID || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if got, err := DecodeCursor(false, ""); got != nil || err != nil {
		t.Fatalf("empty token: %v, %v", got, err)
	}
	for tok, want := range map[string]string{
		EncodeCursor(false, c):   "belongs to a listing with unread_only=false",
		"!!!":                    "malformed",
		"eyJ2Ijo5fQ":             "issued by an incompatible version", // {"v":9}
		strings.Repeat("a", 300): "malformed",
	} {
		_, err := DecodeCursor(true, tok)
		if !errors.Is(err, domainerr.ErrInvalidArgument) || !strings.Contains(err.Error(), "page_token: "+want) {
			t.Errorf("DecodeCursor(%q) = %v; want %q", tok, err, want)
		}
	}
	if _, err := validate.PageSize(101, DefaultPageSize, MaxPageSize); err == nil || !strings.Contains(err.Error(), "page_size: must be 1 to 100") {
		t.Errorf("page size 101: %v", err)
	}
	if n, err := validate.PageSize(0, DefaultPageSize, MaxPageSize); n != DefaultPageSize || err != nil {
		t.Errorf("page size 0 = %d, %v", n, err)
	}
}

func TestDecideDigest(t *testing.T) {
	first := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := first.Add(2 * time.Minute)
	const away = 5 * time.Minute
	cases := []struct {
		name     string
		lastSeen time.Time
		seen     bool
		want     awayAction
		wantAt   time.Time
	}{
		{"never seen", time.Time{}, false, sendAway, time.Time{}},
		{"came online after the first message", first.Add(time.Second), true, seenSince, time.Time{}},
		{"online at the first message", first, true, seenSince, time.Time{}},
		{"left a minute before it", first.Add(-time.Minute), true, mayBeOnline, first.Add(4 * time.Minute)},
		{"away for an hour", first.Add(-time.Hour), true, sendAway, time.Time{}},
	}
	for _, c := range cases {
		got, at := decideAway(first, c.lastSeen, c.seen, now, away)
		if got != c.want || !at.Equal(c.wantAt) {
			t.Errorf("%s: %v at %v; want %v at %v", c.name, got, at, c.want, c.wantAt)
		}
	}
}

func TestEmailsEscapeUserTextInHTML(t *testing.T) {
	e, err := NewEmails("https://parley.example/app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEmails("parley.example"); err == nil {
		t.Fatal("NewEmails accepted a URL without a scheme")
	}
	to := Recipient{UserID: "u", Email: "bob@example.com", Nickname: "bob"}
	d := Digest{ChatID: "c1", Messages: []DigestMessage{
		{Seq: 1, SenderID: "a", Text: `<script>alert("x")</script>`, SentAt: time.Date(2026, 1, 1, 9, 5, 0, 0, time.UTC)},
		{Seq: 2, SenderID: "a", Text: "second", Attachments: []string{"plan<1>.pdf"}},
	}}
	c, err := e.Digest(to, d, func(string) string { return "alice" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "2 new messages from alice" {
		t.Errorf("subject %q", c.Subject)
	}
	if strings.Contains(c.HTML, "<script>") || !strings.Contains(c.HTML, "&lt;script&gt;") || !strings.Contains(c.HTML, "plan&lt;1&gt;.pdf") {
		t.Errorf("HTML does not escape user text:\n%s", c.HTML)
	}
	for _, want := range []string{`<script>alert("x")</script>`, "second", "[file] plan<1>.pdf", "1 Jan 09:05 UTC", "https://parley.example/app/chats/c1", "Hi bob,", "https://parley.example/app/settings/notifications"} {
		if !strings.Contains(c.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, c.Text)
		}
	}
	if !strings.Contains(c.HTML, `href="https://parley.example/app/chats/c1"`) {
		t.Errorf("HTML lacks the chat link:\n%s", c.HTML)
	}

	many := Digest{ChatID: "c1"}
	for i := range DigestMaxShown + 3 {
		many.Messages = append(many.Messages, DigestMessage{Seq: int64(i + 1), SenderID: "a", Text: "m"})
	}
	c, _ = e.Digest(to, many, func(string) string { return "alice" })
	if !strings.Contains(c.Text, "... and 3 more.") || strings.Count(c.Text, "alice, ") != DigestMaxShown {
		t.Errorf("a digest of %d messages should show %d and say 3 more:\n%s", len(many.Messages), DigestMaxShown, c.Text)
	}

	fr, err := e.FriendRequest(Recipient{}, `<b>eve</b>`)
	if err != nil || strings.Contains(fr.HTML, "<b>eve</b>") || !strings.Contains(fr.Text, "Hi,\n") {
		t.Errorf("friend request email: %v\n%s\n%s", err, fr.Text, fr.HTML)
	}
}

func TestDecidePush(t *testing.T) {
	raised := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	window := 75 * time.Second
	for _, c := range []struct {
		name     string
		lastSeen time.Time
		seen     bool
		now      time.Time
		want     awayAction
		wantAt   time.Time
	}{
		{"never seen", time.Time{}, false, raised, sendAway, time.Time{}},
		{"connected when it was raised", raised, true, raised.Add(time.Second), seenSince, time.Time{}},
		{"refreshed after it was raised", raised.Add(20 * time.Second), true, raised.Add(time.Minute), seenSince, time.Time{}},
		{"seen 10s before, a connection may be open", raised.Add(-10 * time.Second), true, raised, mayBeOnline, raised.Add(65 * time.Second)},
		{"seen 10s before, no refresh within the window", raised.Add(-10 * time.Second), true, raised.Add(65 * time.Second), sendAway, time.Time{}},
		{"seen long before", raised.Add(-time.Hour), true, raised, sendAway, time.Time{}},
	} {
		got, at := decideAway(raised, c.lastSeen, c.seen, c.now, window)
		if got != c.want || !at.Equal(c.wantAt) {
			t.Errorf("%s: %v until %v; want %v until %v", c.name, got, at, c.want, c.wantAt)
		}
	}
}

func TestPushPreferencesDefaultOnWithoutPreviews(t *testing.T) {
	if p := DefaultPreferences(); !p.PushEnabled || p.PushPreviews {
		t.Fatalf("defaults push_enabled %v, push_previews %v; want on, off", p.PushEnabled, p.PushPreviews)
	}
}
