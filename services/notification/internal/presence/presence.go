// Package presence reads when users were last online, as the gateways record it in Redis.
//
// The contract (docs/notification.md): key "parley:presence:<user_id>" holds the Unix time in
// milliseconds, as a decimal string, at which the user was last seen with an open WebSocket. The
// gateway writes it when a connection opens, refreshes it while any is open, and writes it once
// more when the last one closes. An absent key means never seen (or seen so long ago that the
// key expired).
package presence

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/parleyhq/parley/contracts/rediskeys"
)

// KeyPrefix starts every presence key; the name is shared with the gateway in contracts/rediskeys.
const KeyPrefix = rediskeys.PresencePrefix

// Key is userID's presence key.
func Key(userID string) string { return rediskeys.Presence(userID) }

// Redis reads presence keys (it implements notification.Presence).
type Redis struct {
	client rueidis.Client
	logger *slog.Logger
}

// New returns a reader over client.
func New(client rueidis.Client, logger *slog.Logger) *Redis {
	return &Redis{client: client, logger: logger}
}

// LastSeen returns when each of userIDs was last seen; users never seen are left out, and so are
// keys that do not hold a number (logged: the writer broke the contract).
func (r *Redis) LastSeen(ctx context.Context, userIDs []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	keys := make([]string, len(userIDs))
	for i, id := range userIDs {
		keys[i] = Key(id)
	}
	// MGet splits the keys by cluster slot when Redis is a cluster.
	vals, err := rueidis.MGet(r.client, ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read presence: %w", err)
	}
	for i, id := range userIDs {
		msg, ok := vals[keys[i]]
		if !ok || msg.IsNil() {
			continue
		}
		s, err := msg.ToString()
		if err != nil {
			return nil, fmt.Errorf("read presence of %s: %w", id, err)
		}
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms <= 0 {
			r.logger.WarnContext(ctx, "presence key does not hold Unix milliseconds; ignored", slog.String("key", keys[i]), slog.String("value", s))
			continue
		}
		out[id] = time.UnixMilli(ms).UTC()
	}
	return out, nil
}

// Touch records userID as seen at t: what a gateway does. The service itself never writes
// presence; tests and tools use this to act as a gateway. ttl, when positive, lets the key expire.
func Touch(ctx context.Context, client rueidis.Client, userID string, t time.Time, ttl time.Duration) error {
	cmd := client.B().Set().Key(Key(userID)).Value(strconv.FormatInt(t.UnixMilli(), 10))
	var err error
	if ttl > 0 {
		err = client.Do(ctx, cmd.Px(ttl).Build()).Error()
	} else {
		err = client.Do(ctx, cmd.Build()).Error()
	}
	if err != nil {
		return fmt.Errorf("write presence of %s: %w", userID, err)
	}
	return nil
}
