// Package notificationclient hands verification and password-reset emails to the notification
// service (parley.notification.v1 SendEmailVerification, SendPasswordReset), the one service that
// sends email, with a generated
// Connect client over gRPC and the internal token (INTERNAL_API_TOKEN, header
// X-Parley-Internal-Token): the call is made for no user.
//
// The tokens travel only in these calls' bodies: never in a URL, a log line or an event.
package notificationclient

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/server"

	"github.com/parleyhq/parley/services/auth/internal/auth"
)

// DefaultTimeout bounds one call: a person is waiting for the answer.
const DefaultTimeout = 3 * time.Second

// Client implements auth.ResetMailer.
type Client struct {
	notification notificationv1connect.NotificationServiceClient
}

var _ auth.Mailer = (*Client)(nil)

// New returns a client for the notification service at baseURL ("http://127.0.0.1:8085").
// httpClient must speak h2c (nil: server.H2CClient()); internalToken is INTERNAL_API_TOKEN and must
// not be empty; timeout <= 0 means DefaultTimeout.
func New(httpClient connect.HTTPClient, baseURL, internalToken string, timeout time.Duration) (*Client, error) {
	if internalToken == "" {
		return nil, errors.New("notification client: INTERNAL_API_TOKEN is required to send password-reset emails")
	}
	if httpClient == nil {
		httpClient = server.H2CClient()
	}
	timeout = defaults.Positive(timeout, DefaultTimeout)
	// Every call is made for no user, with the internal token, and bounded: a person is waiting.
	bounded := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return next(ctx, req)
		}
	})
	return &Client{
		notification: notificationv1connect.NewNotificationServiceClient(httpClient, baseURL, connect.WithGRPC(),
			connect.WithInterceptors(authn.SendInternalToken(internalToken), bounded)),
	}, nil
}

// SendPasswordReset implements auth.ResetMailer.
func (c *Client) SendPasswordReset(ctx context.Context, e auth.ResetEmail) error {
	_, err := c.notification.SendPasswordReset(ctx, connect.NewRequest(&notificationv1.SendPasswordResetRequest{
		UserId: e.UserID, Email: e.Email, ResetToken: e.Token, ExpiresAt: timestamppb.New(e.ExpiresAt), IdempotencyKey: e.Key,
	}))
	return err
}

// SendEmailVerification implements auth.VerificationMailer.
func (c *Client) SendEmailVerification(ctx context.Context, e auth.VerificationEmail) error {
	_, err := c.notification.SendEmailVerification(ctx, connect.NewRequest(&notificationv1.SendEmailVerificationRequest{
		UserId: e.UserID, Email: e.Email, VerificationToken: e.Token, ExpiresAt: timestamppb.New(e.ExpiresAt), IdempotencyKey: e.Key,
	}))
	return err
}
