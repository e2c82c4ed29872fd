// Package notificationrpc serves parley.notification.v1.NotificationService: it turns requests into
// use-case calls on notification.Service and domain values into protos. Domain errors map to
// Connect codes by server.DefaultErrorCodes.
package notificationrpc

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/parleyhq/parley/contracts/access"
	notificationv1 "github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/notification/v1/notificationv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/notification/internal/notification"
)

// PublicProcedures need no access token: Notify has no end user and is authorised by the internal
// secret instead (a user's token alone is refused). notification.proto marks it
// ACCESS_INTERNAL_SERVICE; contracts/access reads the mark.
var PublicProcedures = access.Unauthenticated(notificationv1connect.NotificationServiceName)

// Handler implements notificationv1connect.NotificationServiceHandler.
type Handler struct {
	svc *notification.Service
	// internal are what the internal procedures' callers may present; none when
	// INTERNAL_API_TOKEN is unset (every call refused).
	internal authn.InternalTokens
}

var _ notificationv1connect.NotificationServiceHandler = (*Handler)(nil)

// NewHandler returns the handler over svc, taking internal calls with the internal tokens.
func NewHandler(svc *notification.Service, internal authn.InternalTokens) *Handler {
	return &Handler{svc: svc, internal: internal}
}

// internalCaller checks the internal secret with authn.InternalTokens: constant time, so not
// even the secret's length leaks.
func (h *Handler) internalCaller(procedure, header string) error {
	if h.internal.Off() {
		return domainerr.Errorf(domainerr.ErrPermissionDenied, "%s is disabled: this service has no INTERNAL_API_TOKEN configured", procedure)
	}
	if !h.internal.Accept(header) {
		return domainerr.Errorf(domainerr.ErrPermissionDenied, "%s is internal: only Parley services may call it, with the %s header", procedure, authn.InternalTokenHeader)
	}
	return nil
}

// ListNotifications implements NotificationServiceHandler.
func (h *Handler) ListNotifications(ctx context.Context, req *connect.Request[notificationv1.ListNotificationsRequest]) (*connect.Response[notificationv1.ListNotificationsResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.ListNotificationsResponse, error) {
		page, err := h.svc.List(ctx, me, req.Msg.GetPageSize(), req.Msg.GetPageToken(), req.Msg.GetUnreadOnly())
		if err != nil {
			return nil, err
		}
		return &notificationv1.ListNotificationsResponse{NextPageToken: page.NextPageToken, UnreadCount: page.UnreadCount,
			Notifications: server.Protos(page.Notifications, toProto)}, nil
	})
}

// MarkNotificationsRead implements NotificationServiceHandler.
func (h *Handler) MarkNotificationsRead(ctx context.Context, req *connect.Request[notificationv1.MarkNotificationsReadRequest]) (*connect.Response[notificationv1.MarkNotificationsReadResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.MarkNotificationsReadResponse, error) {
		unread, err := h.svc.MarkRead(ctx, me, req.Msg.GetNotificationIds(), req.Msg.GetAll())
		if err != nil {
			return nil, err
		}
		return &notificationv1.MarkNotificationsReadResponse{UnreadCount: unread}, nil
	})
}

// GetUnreadCount implements NotificationServiceHandler.
func (h *Handler) GetUnreadCount(ctx context.Context, _ *connect.Request[notificationv1.GetUnreadCountRequest]) (*connect.Response[notificationv1.GetUnreadCountResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.GetUnreadCountResponse, error) {
		n, err := h.svc.UnreadCount(ctx, me)
		if err != nil {
			return nil, err
		}
		return &notificationv1.GetUnreadCountResponse{UnreadCount: n}, nil
	})
}

// GetPreferences implements NotificationServiceHandler.
func (h *Handler) GetPreferences(ctx context.Context, _ *connect.Request[notificationv1.GetPreferencesRequest]) (*connect.Response[notificationv1.GetPreferencesResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.GetPreferencesResponse, error) {
		p, err := h.svc.Preferences(ctx, me)
		if err != nil {
			return nil, err
		}
		return &notificationv1.GetPreferencesResponse{Preferences: prefsToProto(p)}, nil
	})
}

// UpdatePreferences implements NotificationServiceHandler.
func (h *Handler) UpdatePreferences(ctx context.Context, req *connect.Request[notificationv1.UpdatePreferencesRequest]) (*connect.Response[notificationv1.UpdatePreferencesResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.UpdatePreferencesResponse, error) {
		c := notification.PreferenceChanges{EmailEnabled: req.Msg.EmailEnabled, PushEnabled: req.Msg.PushEnabled, PushPreviews: req.Msg.PushPreviews}
		for _, kp := range req.Msg.GetKinds() {
			c.Kinds = append(c.Kinds, notification.KindPreference{Kind: notification.Kind(kp.GetKind()), InApp: kp.GetInApp(), Email: kp.GetEmail()})
		}
		p, err := h.svc.UpdatePreferences(ctx, me, c)
		if err != nil {
			return nil, err
		}
		return &notificationv1.UpdatePreferencesResponse{Preferences: prefsToProto(p)}, nil
	})
}

// MuteChat implements NotificationServiceHandler.
func (h *Handler) MuteChat(ctx context.Context, req *connect.Request[notificationv1.MuteChatRequest]) (*connect.Response[notificationv1.MuteChatResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.MuteChatResponse, error) {
		var until *time.Time
		if u := req.Msg.GetUntil(); u != nil {
			if err := u.CheckValid(); err != nil {
				return nil, domainerr.Errorf(domainerr.ErrInvalidArgument, "until: not a valid timestamp: %v", err)
			}
			t := u.AsTime()
			until = &t
		}
		m, err := h.svc.MuteChat(ctx, me, req.Msg.GetChatId(), until)
		if err != nil {
			return nil, err
		}
		return &notificationv1.MuteChatResponse{MutedChat: mutedToProto(m)}, nil
	})
}

// UnmuteChat implements NotificationServiceHandler.
func (h *Handler) UnmuteChat(ctx context.Context, req *connect.Request[notificationv1.UnmuteChatRequest]) (*connect.Response[notificationv1.UnmuteChatResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.UnmuteChatResponse, error) {
		return &notificationv1.UnmuteChatResponse{}, h.svc.UnmuteChat(ctx, me, req.Msg.GetChatId())
	})
}

// GetPushPublicKey implements NotificationServiceHandler.
func (h *Handler) GetPushPublicKey(ctx context.Context, _ *connect.Request[notificationv1.GetPushPublicKeyRequest]) (*connect.Response[notificationv1.GetPushPublicKeyResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(string) (*notificationv1.GetPushPublicKeyResponse, error) {
		key, err := h.svc.PushPublicKey()
		if err != nil {
			return nil, err
		}
		return &notificationv1.GetPushPublicKeyResponse{PublicKey: key}, nil
	})
}

// RegisterPushSubscription implements NotificationServiceHandler. The subscription is linked to
// the token's session (sid), whose end removes it.
func (h *Handler) RegisterPushSubscription(ctx context.Context, req *connect.Request[notificationv1.RegisterPushSubscriptionRequest]) (*connect.Response[notificationv1.RegisterPushSubscriptionResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.RegisterPushSubscriptionResponse, error) {
		p, _ := authn.FromContext(ctx)
		m := req.Msg
		sub, err := h.svc.RegisterPushSubscription(ctx, me, p.SessionID, notification.PushRegistration{
			Endpoint: m.GetEndpoint(), P256dh: m.GetP256Dh(), Auth: m.GetAuth(), DeviceLabel: m.GetDeviceLabel()})
		if err != nil {
			return nil, err
		}
		return &notificationv1.RegisterPushSubscriptionResponse{Subscription: subscriptionToProto(sub)}, nil
	})
}

// ListPushSubscriptions implements NotificationServiceHandler.
func (h *Handler) ListPushSubscriptions(ctx context.Context, _ *connect.Request[notificationv1.ListPushSubscriptionsRequest]) (*connect.Response[notificationv1.ListPushSubscriptionsResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.ListPushSubscriptionsResponse, error) {
		subs, err := h.svc.ListPushSubscriptions(ctx, me)
		if err != nil {
			return nil, err
		}
		return &notificationv1.ListPushSubscriptionsResponse{Subscriptions: server.Protos(subs, subscriptionToProto)}, nil
	})
}

// RemovePushSubscription implements NotificationServiceHandler.
func (h *Handler) RemovePushSubscription(ctx context.Context, req *connect.Request[notificationv1.RemovePushSubscriptionRequest]) (*connect.Response[notificationv1.RemovePushSubscriptionResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*notificationv1.RemovePushSubscriptionResponse, error) {
		return &notificationv1.RemovePushSubscriptionResponse{}, h.svc.RemovePushSubscription(ctx, me, req.Msg.GetSubscriptionId())
	})
}

// Notify implements NotificationServiceHandler. It is internal: the caller must present the
// shared secret; an end user's access token is not enough.
func (h *Handler) Notify(ctx context.Context, req *connect.Request[notificationv1.NotifyRequest]) (*connect.Response[notificationv1.NotifyResponse], error) {
	if err := h.internalCaller("Notify", req.Header().Get(authn.InternalTokenHeader)); err != nil {
		return nil, err
	}
	m := req.Msg
	res, err := h.svc.Notify(ctx, notification.NotifyRequest{
		UserID: m.GetUserId(), Kind: notification.Kind(m.GetKind()), Title: m.GetTitle(), Body: m.GetBody(),
		SubjectID: m.GetSubjectId(), ActorUserID: m.GetActorUserId(), IdempotencyKey: m.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, err
	}
	out := &notificationv1.NotifyResponse{EmailQueued: res.EmailQueued}
	if res.Notification != nil {
		out.Notification = toProto(*res.Notification)
	}
	return connect.NewResponse(out), nil
}

// SendPasswordReset implements NotificationServiceHandler.
func (h *Handler) SendPasswordReset(ctx context.Context, req *connect.Request[notificationv1.SendPasswordResetRequest]) (*connect.Response[notificationv1.SendPasswordResetResponse], error) {
	if err := h.internalCaller("SendPasswordReset", req.Header().Get(authn.InternalTokenHeader)); err != nil {
		return nil, err
	}
	m := req.Msg
	return server.Reply(&notificationv1.SendPasswordResetResponse{},
		h.svc.SendPasswordReset(ctx, tokenEmail(m.GetUserId(), m.GetEmail(), m.GetResetToken(), m.GetIdempotencyKey(), m.GetExpiresAt())))
}

// SendEmailVerification implements NotificationServiceHandler.
func (h *Handler) SendEmailVerification(ctx context.Context, req *connect.Request[notificationv1.SendEmailVerificationRequest]) (*connect.Response[notificationv1.SendEmailVerificationResponse], error) {
	if err := h.internalCaller("SendEmailVerification", req.Header().Get(authn.InternalTokenHeader)); err != nil {
		return nil, err
	}
	m := req.Msg
	return server.Reply(&notificationv1.SendEmailVerificationResponse{},
		h.svc.SendEmailVerification(ctx, tokenEmail(m.GetUserId(), m.GetEmail(), m.GetVerificationToken(), m.GetIdempotencyKey(), m.GetExpiresAt())))
}

func tokenEmail(userID, email, token, key string, expires *timestamppb.Timestamp) notification.TokenEmail {
	e := notification.TokenEmail{UserID: userID, Email: email, Token: token, IdempotencyKey: key}
	if expires != nil {
		e.ExpiresAt = expires.AsTime()
	}
	return e
}

func toProto(n notification.Notification) *notificationv1.Notification {
	out := &notificationv1.Notification{
		NotificationId: n.ID,
		Kind:           notificationv1.NotificationKind(n.Kind),
		Title:          n.Title,
		Body:           n.Body,
		SubjectId:      n.SubjectID,
		ActorUserId:    n.ActorUserID,
		Count:          n.Count,
		CreatedAt:      timestamppb.New(n.CreatedAt),
	}
	if n.ReadAt != nil {
		out.ReadAt = timestamppb.New(*n.ReadAt)
	}
	return out
}

func prefsToProto(p notification.Preferences) *notificationv1.Preferences {
	out := &notificationv1.Preferences{EmailEnabled: p.EmailEnabled, PushEnabled: p.PushEnabled, PushPreviews: p.PushPreviews,
		Kinds: server.Protos(p.Kinds, kindToProto), MutedChats: server.Protos(p.MutedChats, mutedToProto)}
	if p.UpdatedAt != nil {
		out.UpdatedAt = timestamppb.New(*p.UpdatedAt)
	}
	return out
}

func kindToProto(kp notification.KindPreference) *notificationv1.KindPreference {
	return &notificationv1.KindPreference{Kind: notificationv1.NotificationKind(kp.Kind), InApp: kp.InApp, Email: kp.Email}
}

func subscriptionToProto(s notification.PushSubscription) *notificationv1.PushSubscription {
	return &notificationv1.PushSubscription{SubscriptionId: s.ID, Endpoint: s.Endpoint, DeviceLabel: s.DeviceLabel,
		CreatedAt: timestamppb.New(s.CreatedAt), UpdatedAt: timestamppb.New(s.UpdatedAt)}
}

func mutedToProto(m notification.MutedChat) *notificationv1.MutedChat {
	out := &notificationv1.MutedChat{ChatId: m.ChatID}
	if m.Until != nil {
		out.Until = timestamppb.New(*m.Until)
	}
	return out
}
