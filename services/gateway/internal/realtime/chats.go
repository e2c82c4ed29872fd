package realtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
)

// chats answers the client frames that need the chat service: it owns the ChatAPI, the chat cache
// (with each user's budget of upstream calls, which the presence query's friend reload spends
// too) and the sync limits. It replays missed messages (sync.go) and tells typing whether a chat
// is the user's; it asks with the token of the connection it is given and answers on that
// connection, so it needs nothing of the hub's registry.
type chats struct {
	api             ChatAPI
	cache           *chatCache
	upstreamTimeout time.Duration
	syncMaxChats    int
	syncMaxMessages int
}

func newChats(opts Options) *chats {
	return &chats{
		api:             opts.Chat,
		cache:           newChatCache(30*time.Second, budget{calls: opts.UpstreamCalls, interval: opts.UpstreamInterval}),
		upstreamTimeout: opts.UpstreamTimeout,
		syncMaxChats:    opts.SyncMaxChats,
		syncMaxMessages: opts.SyncMaxMessages,
	}
}

// errNoBudget: the user has spent their budget of upstream calls (chatCache's budget says how
// many per interval).
var errNoBudget = errors.New("upstream call budget spent")

// chat is the user's entry for one chat: from the cache, or else fetched.
func (s *chats) chat(c *conn, chatID string, now time.Time) (chatEntry, error) {
	if e, ok := s.cache.get(c.userID, chatID, now); ok {
		return e, nil
	}
	e, _, err := s.fetch(c, chatID, now)
	return e, err
}

// fetch asks the chat service about one of the user's chats with the connection's token,
// spending one of the user's upstream calls (errNoBudget when none is left), and caches the
// answer. It returns the chat too, for what the cache does not keep (sync needs its last_seq). A
// chat that is not the user's is an entry with found false and no chat, not an error.
func (s *chats) fetch(c *conn, chatID string, now time.Time) (chatEntry, *chatv1.Chat, error) {
	if !s.cache.spend(c.userID, now) {
		return chatEntry{}, nil, errNoBudget
	}
	e := chatEntry{fetched: now}
	chat, err := s.getChat(c, chatID)
	switch {
	case connect.CodeOf(err) == connect.CodeNotFound:
	case err != nil:
		return chatEntry{}, nil, err
	default:
		e.found, e.peer, e.canSend = true, chat.GetPeer().GetUserId(), chat.GetCanSend()
	}
	s.cache.put(c.userID, chatID, e)
	return e, chat, nil
}

func (s *chats) getChat(c *conn, chatID string) (*chatv1.Chat, error) {
	req := connect.NewRequest(&chatv1.GetChatRequest{By: &chatv1.GetChatRequest_ChatId{ChatId: chatID}})
	req.Header().Set("Authorization", "Bearer "+c.token())
	ctx, cancel := context.WithTimeout(c.ctx, s.upstreamTimeout)
	defer cancel()
	res, err := s.api.GetChat(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("get chat %s: %w", chatID, err)
	}
	return res.Msg.GetChat(), nil
}
