package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
)

// messageJSON is how messages appear in frames: the chat.v1.Message in protobuf JSON with the
// proto field names (what ListMessages returns over Connect JSON, and what connect-es' fromJson
// reads).
var messageJSON = protojson.MarshalOptions{UseProtoNames: true}

// sync replays, chat by chat, the messages the client missed: for each chat it has every message
// up to last_seq, it gets message frames (replay: true) for the newer ones in seq order and then
// sync_done, or sync_required when more than SyncMaxMessages are missing. The connection is
// subscribed before any of this, and the chat's live frames are held during its replay, so
// nothing falls between the replay and the live stream. sync_complete (or the error refusing the
// frame) ends the reply; done is called just before it, so the next sync may start.
func (s *chats) sync(c *conn, f clientFrame, done func()) {
	refuse := func(msg string) {
		done()
		c.sendError(f.Ref, codeInvalidArgument, msg)
	}
	if len(f.Chats) > s.syncMaxChats {
		refuse("chats: at most " + strconv.Itoa(s.syncMaxChats) + " per sync frame")
		return
	}
	seen := map[string]bool{}
	for i, sc := range f.Chats {
		switch {
		case !validID(sc.ChatID):
			refuse(fmt.Sprintf("chats[%d].chat_id: must be a chat id (UUID)", i))
			return
		case sc.LastSeq < 0:
			refuse(fmt.Sprintf("chats[%d].last_seq: must not be negative", i))
			return
		case seen[sc.ChatID]:
			refuse(fmt.Sprintf("chats[%d].chat_id: listed twice", i))
			return
		}
		seen[sc.ChatID] = true
	}
	for _, sc := range f.Chats {
		if !s.syncChat(c, f.Ref, sc) {
			return
		}
	}
	done()
	c.sendSync(mustJSON(syncCompleteFrame{Type: TypeSyncComplete, Ref: f.Ref, Chats: len(f.Chats)}))
}

// syncChat replays one chat; false when the connection closed meanwhile.
func (s *chats) syncChat(c *conn, ref string, sc syncChat) bool {
	c.beginSync(sc.ChatID)
	upTo := sc.LastSeq
	answered := false // messages replayed, or sync_done sent
	defer func() { c.endSync(sc.ChatID, upTo, answered) }()

	now := time.Now()
	if e, ok := s.cache.get(c.userID, sc.ChatID, now); ok && !e.found {
		return c.sendSync(s.syncError(c, ref, sc.ChatID, errNotYourChat)) // asked a moment ago
	}
	// Asked again even when the cache holds the chat: the cache does not keep last_seq.
	e, chat, err := s.fetch(c, sc.ChatID, now)
	switch {
	case errors.Is(err, errNoBudget):
		return c.sendSync(s.budgetError(ref, sc.ChatID))
	case err != nil:
		return c.sendSync(s.syncError(c, ref, sc.ChatID, err))
	case !e.found:
		return c.sendSync(s.syncError(c, ref, sc.ChatID, errNotYourChat))
	}
	last := chat.GetLastSeq()
	if last-sc.LastSeq > int64(s.syncMaxMessages) {
		return c.sendSync(mustJSON(syncRequiredFrame{
			Type: TypeSyncRequired, Ref: ref, ChatID: sc.ChatID, FromSeq: sc.LastSeq, LastSeq: last, Reason: "too_many_missed",
		}))
	}
	sent := 0
	pageToken := ""
	// Nothing newer than what the client has: no listing. (A message committed after GetChat read
	// the chat reaches the client live; its frame is held until this chat's sync_done.)
	for last > sc.LastSeq {
		if !s.cache.spend(c.userID, time.Now()) {
			// The messages sent so far are in order; the client syncs the rest of this chat later.
			return c.sendSync(s.budgetError(ref, sc.ChatID))
		}
		req := connect.NewRequest(&chatv1.ListMessagesRequest{
			ChatId: sc.ChatID, Direction: chatv1.PageDirection_PAGE_DIRECTION_NEWER, FromSeq: sc.LastSeq,
			PageSize: 100, PageToken: pageToken,
		})
		req.Header().Set("Authorization", "Bearer "+c.token())
		ctx, cancel := context.WithTimeout(c.ctx, s.upstreamTimeout)
		res, err := s.api.ListMessages(ctx, req)
		cancel()
		if err != nil {
			return c.sendSync(s.syncError(c, ref, sc.ChatID, fmt.Errorf("list messages: %w", err)))
		}
		for _, m := range res.Msg.GetMessages() {
			if m.GetSeq() <= upTo {
				continue
			}
			if sent >= s.syncMaxMessages {
				// More arrived while replaying than the bound allows: the client pages the rest.
				return c.sendSync(mustJSON(syncRequiredFrame{
					Type: TypeSyncRequired, Ref: ref, ChatID: sc.ChatID, FromSeq: upTo, LastSeq: m.GetSeq(), Reason: "too_many_missed",
				}))
			}
			body, err := messageJSON.Marshal(m)
			if err != nil {
				return c.sendSync(s.syncError(c, ref, sc.ChatID, fmt.Errorf("encode message: %w", err)))
			}
			if !c.sendSync(mustJSON(messageFrame{
				Type: TypeMessage, ChatID: sc.ChatID, Seq: m.GetSeq(), Replay: true, Ref: ref, Message: body,
			})) {
				return false
			}
			upTo = m.GetSeq()
			answered = true
			sent++
		}
		pageToken = res.Msg.GetNextPageToken()
		if pageToken == "" {
			break
		}
	}
	answered = true
	return c.sendSync(mustJSON(syncDoneFrame{Type: TypeSyncDone, Ref: ref, ChatID: sc.ChatID, LastSeq: max(upTo, sc.LastSeq), Sent: sent}))
}

// errNotYourChat stands for the chat service's NotFound: a chat that is not the user's, just asked
// or remembered in the chat cache.
var errNotYourChat = connect.NewError(connect.CodeNotFound, errors.New("chat not found"))

// budgetError is the error frame for a chat of a sync left out because the user's budget of
// upstream calls is spent.
func (s *chats) budgetError(ref, chatID string) []byte {
	return mustJSON(errorFrame{Type: TypeError, Ref: ref, Code: codeResourceExhausted, Message: s.cache.budget.String(), ChatID: chatID})
}

// syncError is the error frame for one chat of a sync: NotFound and InvalidArgument as the chat
// service said, anything else unavailable (logged).
func (s *chats) syncError(c *conn, ref, chatID string, err error) []byte {
	code, msg := codeUnavailable, "cannot read this chat now, try again later"
	switch connect.CodeOf(err) {
	case connect.CodeNotFound:
		code, msg = codeNotFound, "no such chat of yours"
	case connect.CodeInvalidArgument:
		code, msg = codeInvalidArgument, "the chat service refused: "+connectMessage(err)
	case connect.CodeUnauthenticated:
		code, msg = codeUnauthenticated, "the access token was refused: send a fresh one in an auth frame"
	default:
		c.logger().Warn("realtime: sync", slog.String("chat", chatID), slog.Any("error", err))
	}
	return mustJSON(errorFrame{Type: TypeError, Ref: ref, Code: code, Message: msg, ChatID: chatID})
}

func connectMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}
