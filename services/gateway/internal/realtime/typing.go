package realtime

import (
	"errors"
	"log/slog"
	"time"
)

// typingRelay owns the typing frame: it checks with chats that the sender may send in the chat,
// keeps the per-chat interval, and publishes the indicator on the peer's channel, from where it
// reaches the peer's connections like any other frame.
type typingRelay struct {
	chats    *chats
	store    *store
	interval time.Duration
}

// relay relays a typing indicator to the chat's other participant, when the sender is a
// participant who may send there; at most one per interval per user and chat, the rest are
// dropped silently.
func (t *typingRelay) relay(c *conn, f clientFrame) {
	if !validID(f.ChatID) {
		c.sendError(f.Ref, codeInvalidArgument, "chat_id: must be a chat id (UUID)")
		return
	}
	now := time.Now()
	e, err := t.chats.chat(c, f.ChatID, now)
	switch {
	case errors.Is(err, errNoBudget):
		c.sendError(f.Ref, codeResourceExhausted, t.chats.cache.budget.String())
		return
	case err != nil:
		c.logger().Warn("realtime: typing: get chat", slog.Any("error", err))
		c.sendError(f.Ref, codeUnavailable, "cannot check the chat now, try again later")
		return
	}
	switch {
	case !e.found:
		c.sendError(f.Ref, codeNotFound, "chat_id: no such chat of yours")
		return
	case !e.canSend:
		c.sendError(f.Ref, codeFailedPrecondition, "chat_id: you cannot send in this chat")
		return
	case !t.chats.cache.allowTyping(c.userID, f.ChatID, now, t.interval):
		return
	}
	frame := mustJSON(typingFrame{Type: TypeTyping, ChatID: f.ChatID, UserID: c.userID})
	if err := t.store.publish(c.ctx, frame, e.peer); err != nil {
		c.sendError(f.Ref, codeUnavailable, "cannot relay typing now")
	}
}
