package notificationrpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/platform/rpctest"
)

func TestSendPasswordResetQueuesOneEmailWithTheLinkInTheFragment(t *testing.T) {
	e := setup(t, secret)
	ctx := context.Background()
	token := "Zm9vYmFyYmF6cXV4LXRva2VuLTEyMzQ1Njc4OTBhYmNkZWY"
	req := &notificationv1.SendPasswordResetRequest{UserId: uuid.NewString(), Email: "erin@example.com", ResetToken: token,
		ExpiresAt: timestamppb.New(time.Date(2026, 12, 2, 21, 30, 0, 0, time.UTC)), IdempotencyKey: "abc123"}

	_, err := e.client.SendPasswordReset(ctx, connect.NewRequest(req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "SendPasswordReset is internal")
	_, err = e.client.SendPasswordReset(ctx, rpctest.Request(e.iss.Token(t, req.GetUserId()), req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "SendPasswordReset is internal")

	_, err = e.client.SendPasswordReset(ctx, internal(secret, &notificationv1.SendPasswordResetRequest{UserId: "x", ResetToken: "short/"}))
	for _, want := range []string{"user_id: must be a UUID", "email: must be an email address", "reset_token: must be 16 to 128 URL-safe characters", "expires_at: required", "idempotency_key: must be 1 to 128 characters"} {
		rpctest.WantCode(t, err, connect.CodeInvalidArgument, want)
	}

	for range 2 { // a retried call queues one email
		if _, err := e.grpc.SendPasswordReset(ctx, internal(secret, req)); err != nil {
			t.Fatal(err)
		}
	}
	// A request about an email no account has: accepted, nothing queued.
	if _, err := e.grpc.SendPasswordReset(ctx, internal(secret, &notificationv1.SendPasswordResetRequest{ResetToken: token})); err != nil {
		t.Fatalf("no-account call: %v", err)
	}
	var n int
	var to, subject, text, html string
	err = e.pool.QueryRow(ctx, `SELECT count(*) OVER (), to_address, subject, text_body, html_body FROM email_deliveries`).Scan(&n, &to, &subject, &text, &html)
	if err != nil {
		t.Fatal(err)
	}
	link := "http://localhost:8080/reset-password#token=" + token
	if n != 1 || to != "erin@example.com" || subject != "Reset your Parley password" ||
		!strings.Contains(text, link) || !strings.Contains(text, "until 2 Dec 21:30 UTC") || !strings.Contains(text, "If you did not ask for this") ||
		!strings.Contains(html, `href="`+link+`"`) {
		t.Fatalf("%d emails; to %q, subject %q\n%s\n%s", n, to, subject, text, html)
	}
}

func TestSendEmailVerificationQueuesTheConfirmationLink(t *testing.T) {
	e := setup(t, secret)
	ctx := context.Background()
	token := "dmVyaWZ5LW1lLXBsZWFzZS0xMjM0NTY3ODkwYWJjZGVmZ2g"
	req := &notificationv1.SendEmailVerificationRequest{UserId: uuid.NewString(), Email: "fay@example.com", VerificationToken: token,
		ExpiresAt: timestamppb.New(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)), IdempotencyKey: "k1"}
	_, err := e.client.SendEmailVerification(ctx, connect.NewRequest(req))
	rpctest.WantCode(t, err, connect.CodePermissionDenied, "SendEmailVerification is internal")
	_, err = e.client.SendEmailVerification(ctx, internal(secret, &notificationv1.SendEmailVerificationRequest{UserId: req.GetUserId()}))
	rpctest.WantCode(t, err, connect.CodeInvalidArgument, "verification_token: must be 16 to 128 URL-safe characters")
	if _, err := e.grpc.SendEmailVerification(ctx, internal(secret, req)); err != nil {
		t.Fatal(err)
	}
	var to, subject, text string
	if err := e.pool.QueryRow(ctx, `SELECT to_address, subject, text_body FROM email_deliveries`).Scan(&to, &subject, &text); err != nil {
		t.Fatal(err)
	}
	if to != "fay@example.com" || subject != "Confirm your email address for Parley" ||
		!strings.Contains(text, "http://localhost:8080/verify-email#token="+token) || !strings.Contains(text, "until 4 Dec 09:00 UTC") {
		t.Fatalf("to %q, subject %q:\n%s", to, subject, text)
	}
}
