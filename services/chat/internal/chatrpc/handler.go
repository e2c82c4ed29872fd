// Package chatrpc serves parley.chat.v1.ChatService: it turns requests into use-case calls on
// chat.Service and domain values into protos. Domain errors map to Connect codes by
// server.DefaultErrorCodes.
package chatrpc

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// Handler implements chatv1connect.ChatServiceHandler. Every method needs an access token; the
// authn interceptor refuses requests without a valid one.
type Handler struct {
	svc *chat.Service
}

var _ chatv1connect.ChatServiceHandler = (*Handler)(nil)

// NewHandler returns the handler over svc.
func NewHandler(svc *chat.Service) *Handler {
	return &Handler{svc: svc}
}

// SendMessage implements ChatServiceHandler.
func (h *Handler) SendMessage(ctx context.Context, req *connect.Request[chatv1.SendMessageRequest]) (*connect.Response[chatv1.SendMessageResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.SendMessageResponse, error) {
		r := req.Msg
		msg, dup, err := h.svc.Send(ctx, me, chat.SendRequest{UserID: r.GetUserId(), ChatID: r.GetChatId(),
			ClientMsgID: r.GetClientMsgId(), Text: r.GetText(), AttachmentIDs: r.GetAttachmentFileIds()})
		if err != nil {
			return nil, err
		}
		return &chatv1.SendMessageResponse{Message: messageToProto(msg), Duplicate: dup}, nil
	})
}

// ListMessages implements ChatServiceHandler.
func (h *Handler) ListMessages(ctx context.Context, req *connect.Request[chatv1.ListMessagesRequest]) (*connect.Response[chatv1.ListMessagesResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.ListMessagesResponse, error) {
		r := req.Msg
		page, err := h.svc.ListMessages(ctx, me, chat.ListMessagesRequest{ChatID: r.GetChatId(), Direction: chat.Direction(r.GetDirection()),
			FromSeq: r.GetFromSeq(), PageSize: r.GetPageSize(), PageToken: r.GetPageToken()})
		if err != nil {
			return nil, err
		}
		return &chatv1.ListMessagesResponse{Messages: server.Protos(page.Messages, messageToProto), NextPageToken: page.NextPageToken}, nil
	})
}

// ListChats implements ChatServiceHandler.
func (h *Handler) ListChats(ctx context.Context, req *connect.Request[chatv1.ListChatsRequest]) (*connect.Response[chatv1.ListChatsResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.ListChatsResponse, error) {
		page, err := h.svc.ListChats(ctx, me, req.Msg.GetPageSize(), req.Msg.GetPageToken())
		if err != nil {
			return nil, err
		}
		return &chatv1.ListChatsResponse{Chats: server.Protos(page.Chats, h.chatToProto), NextPageToken: page.NextPageToken}, nil
	})
}

// GetChat implements ChatServiceHandler.
func (h *Handler) GetChat(ctx context.Context, req *connect.Request[chatv1.GetChatRequest]) (*connect.Response[chatv1.GetChatResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.GetChatResponse, error) {
		c, err := h.svc.GetChat(ctx, me, req.Msg.GetChatId(), req.Msg.GetUserId())
		if err != nil {
			return nil, err
		}
		return &chatv1.GetChatResponse{Chat: h.chatToProto(c)}, nil
	})
}

// MarkRead implements ChatServiceHandler.
func (h *Handler) MarkRead(ctx context.Context, req *connect.Request[chatv1.MarkReadRequest]) (*connect.Response[chatv1.MarkReadResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.MarkReadResponse, error) {
		readSeq, unread, err := h.svc.MarkRead(ctx, me, req.Msg.GetChatId(), req.Msg.GetUpToSeq())
		if err != nil {
			return nil, err
		}
		return &chatv1.MarkReadResponse{ReadSeq: readSeq, UnreadCount: unread}, nil
	})
}

// EditMessage implements ChatServiceHandler.
func (h *Handler) EditMessage(ctx context.Context, req *connect.Request[chatv1.EditMessageRequest]) (*connect.Response[chatv1.EditMessageResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.EditMessageResponse, error) {
		m, err := h.svc.EditMessage(ctx, me, req.Msg.GetChatId(), req.Msg.GetMessageId(), req.Msg.GetText())
		if err != nil {
			return nil, err
		}
		return &chatv1.EditMessageResponse{Message: messageToProto(m)}, nil
	})
}

// DeleteMessage implements ChatServiceHandler.
func (h *Handler) DeleteMessage(ctx context.Context, req *connect.Request[chatv1.DeleteMessageRequest]) (*connect.Response[chatv1.DeleteMessageResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.DeleteMessageResponse, error) {
		m, err := h.svc.DeleteMessage(ctx, me, req.Msg.GetChatId(), req.Msg.GetMessageId())
		if err != nil {
			return nil, err
		}
		return &chatv1.DeleteMessageResponse{Message: messageToProto(m)}, nil
	})
}

// CheckChatAccess implements ChatServiceHandler. It is internal (the gateway does not route it):
// the media service calls it forwarding its user's access token, and it answers only about that
// user.
func (h *Handler) CheckChatAccess(ctx context.Context, req *connect.Request[chatv1.CheckChatAccessRequest]) (*connect.Response[chatv1.CheckChatAccessResponse], error) {
	return server.ForUser(ctx, authn.RequireUser, func(me string) (*chatv1.CheckChatAccessResponse, error) {
		participant, canSend, err := h.svc.CheckChatAccess(ctx, me, req.Msg.GetChatId(), req.Msg.GetUserId())
		if err != nil {
			return nil, err
		}
		return &chatv1.CheckChatAccessResponse{IsParticipant: participant, CanSend: canSend}, nil
	})
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// messageToProto converts a message. Attachments carry the metadata stored with the message and,
// when the media service answered for this reader, short-lived URLs.
func messageToProto(m chat.Message) *chatv1.Message {
	return &chatv1.Message{
		MessageId: m.ID, ChatId: m.ChatID, Seq: m.Seq, SenderId: m.SenderID, Text: m.Text, ClientMsgId: m.ClientMsgID,
		SentAt: timestamp(m.SentAt), EditedAt: timestamp(m.EditedAt), Deleted: m.Deleted(), DeletedAt: timestamp(m.DeletedAt),
		Attachments: server.Protos(m.Attachments, attachmentToProto),
	}
}

func attachmentToProto(a chat.Attachment) *chatv1.Attachment {
	return &chatv1.Attachment{
		FileId: a.FileID, Name: a.Name, SizeBytes: a.SizeBytes, ContentType: a.ContentType, Width: a.Width, Height: a.Height,
		Url: a.URL, ThumbnailUrl: a.ThumbnailURL, UrlExpiresAt: timestamp(a.URLExpiresAt),
	}
}

func (h *Handler) chatToProto(c chat.Chat) *chatv1.Chat {
	out := &chatv1.Chat{
		ChatId: c.ID,
		// The thumbnail URL is the media service's, as ProfileUpdated carried it; never built here.
		Peer: &chatv1.ChatPeer{UserId: c.Peer.UserID, Nickname: c.Peer.Nickname, AvatarFileId: c.Peer.AvatarFileID,
			AvatarThumbnailUrl: c.Peer.AvatarThumbnailURL, DeletedAccount: c.Peer.DeletedAccount},
		LastSeq:        c.LastSeq,
		UnreadCount:    c.UnreadCount,
		ReadSeq:        c.ReadSeq,
		PeerReadSeq:    c.PeerReadSeq,
		CanSend:        c.CanSend,
		CreatedAt:      timestamp(c.CreatedAt),
		LastActivityAt: timestamp(c.LastActivityAt),
	}
	if c.LastMessage != nil {
		out.LastMessage = messageToProto(*c.LastMessage)
	}
	return out
}
