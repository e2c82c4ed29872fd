// Package chatclient asks the chat service (parley.chat.v1.ChatService/CheckChatAccess) whether a
// user is a participant of a chat and may send in it, with a generated Connect client over gRPC.
// The end user's access token is forwarded (authn.ForwardToken), and the internal token, when
// configured, is sent in X-Parley-Internal-Token so the chat service knows a Parley service is
// asking. Positive answers are cached briefly in Redis (with rueidis client-side caching), so
// showing a chat's attachments does not ask the chat service once per file.
package chatclient

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/redis/rueidis"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/media/internal/media"
)

// DefaultTimeout bounds one call to the chat service.
const DefaultTimeout = 5 * time.Second

// keyPrefix names the cache keys; bump its version when the encoding changes.
const keyPrefix = "parley:media:v1:chat-access:"

// Key returns the cache key of userID's access to chatID (hash-tagged by chat for Redis Cluster).
func Key(chatID, userID string) string { return keyPrefix + "{" + chatID + "}:" + userID }

// Client implements media.ChatAccessChecker.
type Client struct {
	chat    chatv1connect.ChatServiceClient
	redis   rueidis.Client
	ttl     time.Duration
	timeout time.Duration
	logger  *slog.Logger
}

var _ media.ChatAccessChecker = (*Client)(nil)

// New returns a client for the chat service at baseURL ("http://127.0.0.1:8084"). httpClient
// must speak h2c for gRPC; nil means a suitable default. redis may be nil (no cache); ttl is how
// long a positive answer is believed.
func New(httpClient connect.HTTPClient, baseURL, internalToken string, redis rueidis.Client, ttl time.Duration, logger *slog.Logger) *Client {
	if httpClient == nil {
		httpClient = server.H2CClient()
	}
	interceptors := connect.WithInterceptors(authn.ForwardToken(), authn.SendInternalToken(internalToken))
	return &Client{
		chat:    chatv1connect.NewChatServiceClient(httpClient, baseURL, connect.WithGRPC(), interceptors),
		redis:   redis,
		ttl:     ttl,
		timeout: DefaultTimeout,
		logger:  logger,
	}
}

// Cached values.
const (
	valueSend = "send" // participant, may send
	valueRead = "read" // participant, may only read
)

// Access implements media.ChatAccessChecker.
func (c *Client) Access(ctx context.Context, chatID, userID string) (media.ChatAccess, error) {
	key := Key(chatID, userID)
	if c.redis != nil && c.ttl > 0 {
		v, err := c.redis.DoCache(ctx, c.redis.B().Get().Key(key).Cache(), c.ttl).ToString()
		switch {
		case err == nil && v == valueSend:
			return media.ChatAccess{Participant: true, CanSend: true}, nil
		case err == nil && v == valueRead:
			return media.ChatAccess{Participant: true}, nil
		case err != nil && !rueidis.IsRedisNil(err):
			c.logger.WarnContext(ctx, "chat access cache read failed; asking the chat service", slog.Any("error", err))
		}
	}

	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.chat.CheckChatAccess(cctx, connect.NewRequest(&chatv1.CheckChatAccessRequest{ChatId: chatID, UserId: userID}))
	if err != nil {
		return media.ChatAccess{}, server.PeerError(ctx, "chat", fmt.Errorf("chat CheckChatAccess %s/%s: %w", chatID, userID, err))
	}
	acc := media.ChatAccess{Participant: res.Msg.GetIsParticipant(), CanSend: res.Msg.GetIsParticipant() && res.Msg.GetCanSend()}
	if acc.Participant && c.redis != nil && c.ttl > 0 {
		v := valueRead
		if acc.CanSend {
			v = valueSend
		}
		if err := c.redis.Do(ctx, c.redis.B().Set().Key(key).Value(v).Px(c.ttl).Build()).Error(); err != nil {
			c.logger.WarnContext(ctx, "chat access cache write failed", slog.Any("error", err))
		}
	}
	return acc, nil
}
