// Package fanout turns the domain events WebSocket clients must see into realtime frames,
// published on the Redis channels of the users who must see them (realtime.UserChannel).
//
// One Kafka consumer group shared by all gateways runs it; every gateway's hub (package
// realtime) subscribes to the channels of the users connected to it and passes the frames on.
// The fan-out needs no connection and no hub: only Redis, and the revoked-session marks
// (package sessions) it sets when auth revokes a session. docs/realtime.md describes the frames
// and the delivery guarantees.
package fanout

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/backoff"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/services/gateway/internal/realtime"
	"github.com/parleyhq/parley/services/gateway/internal/sessions"
)

// Topics are the topics whose events reach clients.
var Topics = []string{topics.Chat, topics.Friend, topics.Notification, topics.Auth}

// Options configure the fan-out. Logger, Redis and Revocations are required.
type Options struct {
	Logger *slog.Logger
	// Redis returns the gateway's Redis client, nil while it is not connected (the publishes
	// fail and are retried as below).
	Redis func() rueidis.Client
	// Revocations are marked when auth revokes a session; the gateway's API path and hub check
	// the same instance.
	Revocations *sessions.Revocations
	// MaxEventAge drops events older than this (by ce_time): a client connected since then
	// gets them through sync, and a new consumer group reading a topic from its start must not
	// replay history to everybody. Default 2m; negative keeps every event.
	MaxEventAge time.Duration
	// Attempts and Backoff bound the retries of a failed Redis publish before the event's frames
	// are given up (the affected clients are told to resync when their gateway's subscription
	// recovers). Default 3 and 100ms. Session revocations are not given up: the consumer retries
	// them until they are applied (events.Transient, its RetryBackoff and MaxBackoff).
	Attempts int
	Backoff  time.Duration
	// Telemetry counts the frames published and given up and, with tracing on, publishes each
	// frame with the trace context of the event it shows (realtime.WithTrace), so the gateway
	// that writes it to a socket continues the trace.
	Telemetry *telemetry.Telemetry
}

// redisTimeout bounds one Redis round trip.
const redisTimeout = 2 * time.Second

// Register registers, on a consumer of Topics without a database, the handlers that publish
// each event as a frame to the channels of the users who must see it. Kafka redelivers after
// restarts; a Redis marker per event and frame keeps a redelivered event from reaching clients
// twice (see publish).
func Register(c *events.Consumer, opts Options) error {
	f, err := newFanout(opts)
	if err != nil {
		return err
	}
	c.AfterBatch(f.flush)
	events.On(c, f.messageSent)
	on(c, f, messageEdited)
	on(c, f, messageDeleted)
	on(c, f, messagesRead)
	on(c, f, friendRequestSent)
	on(c, f, friendAccepted)
	on(c, f, friendDeclined)
	events.On(c, f.friendRemoved)
	on(c, f, notificationSent)
	events.On(c, f.sessionRevoked)
	events.OnUser(c, f.userDeleted)
	return nil
}

func newFanout(opts Options) (*fanout, error) {
	if opts.Logger == nil || opts.Redis == nil || opts.Revocations == nil {
		return nil, errors.New("fanout: Logger, Redis and Revocations are required")
	}
	if opts.MaxEventAge == 0 {
		opts.MaxEventAge = 2 * time.Minute
	}
	opts.Attempts = defaults.Positive(opts.Attempts, 3)
	opts.Backoff = defaults.Positive(opts.Backoff, 100*time.Millisecond)
	// A frame's sent-marker outlives the age past which its event is not pushed at all, so a
	// redelivery is caught for as long as it would be published.
	sentTTL := defaults.Positive(2*opts.MaxEventAge, 24*time.Hour)
	f := &fanout{opts: opts, log: opts.Logger.With("component", "realtime-fanout"), sentTTLMs: strconv.FormatInt(sentTTL.Milliseconds(), 10),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: telemetry.MetricFanoutFrames, Help: "Event frames the fan-out published to Redis for WebSocket clients."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: telemetry.MetricFanoutDropped, Help: "Event frames the fan-out gave up on after Redis kept failing (clients resync)."}),
	}
	opts.Telemetry.RegisterOnce(telemetry.MetricFanoutFrames, f.published)
	opts.Telemetry.RegisterOnce(telemetry.MetricFanoutDropped, f.dropped)
	return f, nil
}

// on registers the handler of events of type M whose one frame goes to the users the event
// names: render builds the frame (a JSON-encodable value) and lists them.
func on[M proto.Message](c *events.Consumer, f *fanout, render func(ev events.Event, m M) (frame any, users []string)) {
	events.On(c, func(ctx context.Context, _ pgx.Tx, ev events.Event, m M) error {
		frame, users := render(ev, m)
		b, err := json.Marshal(frame)
		if err != nil {
			return events.Permanent(fmt.Errorf("encode frame: %w", err))
		}
		return f.publish(ctx, ev, b, users...)
	})
}

type fanout struct {
	opts Options
	log  *slog.Logger
	// sentTTLMs is how long a sent-marker is kept (publishOnceScript's PX), in milliseconds.
	sentTTLMs string

	// pending are the frames of the consumer's current batch, published together by flush. Only
	// the consumer's goroutine touches them.
	pending []publication

	published, dropped prometheus.Counter
}

// publication is one event's frame for its users, published at most once per key (every time
// when there is none).
type publication struct {
	key   string
	frame []byte
	users []string
	trace string // the traceparent of the event's processing span, with tracing on
}

// publish queues frame for users (duplicates and empty ids left out); flush publishes the batch.
// Events too old to matter are skipped. It never fails the event: realtime delivery is best
// effort on top of what clients can always fetch, and a dead-lettered frame would help nobody.
func (f *fanout) publish(ctx context.Context, ev events.Event, frame []byte, users ...string) error {
	if f.opts.MaxEventAge > 0 && !ev.Time.IsZero() && time.Since(ev.Time) > f.opts.MaxEventAge {
		f.log.Debug("realtime: event too old, not pushed", slog.String("event_id", ev.ID), slog.Time("time", ev.Time))
		return nil
	}
	seen := make(map[string]bool, len(users))
	to := users[:0:0]
	for _, u := range users {
		if u != "" && !seen[u] {
			seen[u] = true
			to = append(to, u)
		}
	}
	if len(to) == 0 {
		return nil
	}
	var traceparent string
	if f.opts.Telemetry.Tracing() {
		traceparent = f.opts.Telemetry.TraceHeaders(ctx)["traceparent"]
	}
	if ev.ID == "" {
		// Nothing to mark it by, but it waits its turn all the same: published on its own, it
		// would overtake the frames queued before it for the same users.
		f.pending = append(f.pending, publication{frame: frame, users: to, trace: traceparent})
		return nil
	}
	// Kafka delivers at least once: after a broker or gateway restart the group may get records
	// again whose frames already went out. Each frame is sent once per event (keyed by the event
	// id and the frame, since one event may send different frames to different users), for as long
	// as the event is young enough to be pushed at all.
	sum := sha256.Sum256(frame)
	f.pending = append(f.pending, publication{key: ev.ID + ":" + hex.EncodeToString(sum[:8]), frame: frame, users: to, trace: traceparent})
	return nil
}

// flush publishes the batch's frames in one Redis round trip (one script per event, pipelined,
// so each user's channel gets them in event order), trying up to Attempts times, waiting Backoff,
// then twice as long each time, in between; a retry is harmless, since a frame marked sent is not
// sent again (only a frame without an event id may go twice). The consumer calls it after each
// batch (AfterBatch).
func (f *fanout) flush(ctx context.Context) {
	if len(f.pending) == 0 {
		return
	}
	batch := f.pending
	f.pending = nil
	var err error
	for attempt := range f.opts.Attempts {
		if err = f.publishOnce(ctx, batch); err == nil {
			f.published.Add(float64(len(batch)))
			return
		}
		if !backoff.Sleep(ctx, f.opts.Backoff<<attempt) {
			return // shutting down: nothing to report
		}
	}
	f.dropped.Add(float64(len(batch)))
	f.log.Warn("realtime: cannot publish event frames, dropped", slog.Int("events", len(batch)), slog.Any("error", err))
}

var errNoRedis = errors.New("redis not connected")

// publishTo publishes frame to the users' channels now, within redisTimeout.
func (f *fanout) publishTo(ctx context.Context, frame []byte, users ...string) error {
	c := f.opts.Redis()
	if c == nil {
		return errNoRedis
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	return realtime.Publish(ctx, c, frame, users...)
}

// sentKeyPrefix + event id + frame hash marks a frame already published for an event.
const sentKeyPrefix = "parley:rt:sent:"

// publishOnceLua publishes a frame to channels (ARGV[3:]) unless KEYS[1] says it already was:
// marking and publishing are one atomic step, so a frame is never marked without being sent.
// Without a key it publishes.
const publishOnceLua = `
if #KEYS > 0 and not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
for i = 3, #ARGV do
  redis.call('PUBLISH', ARGV[i], ARGV[2])
end
return 1
`

var (
	// publishOnceSHA names publishOnceLua to Redis (EVALSHA). A batch is sent under it, in one
	// round trip; publishOnceScript.ExecMulti would send SCRIPT LOAD first on every call, a
	// second round trip per batch, so it only serves when Redis no longer has the script.
	publishOnceSHA    = sha1Hex(publishOnceLua)
	publishOnceScript = rueidis.NewLuaScript(publishOnceLua)
)

// sha1Hex is how Redis names a script.
func sha1Hex(script string) string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}

// publishOnce publishes frames that a redelivered event would send again: each publication's
// first call (within the sent-marker's TTL, by its key) publishes, later ones do nothing; one
// without a key publishes each time. All of them go in one round trip, in order.
func (f *fanout) publishOnce(ctx context.Context, pubs []publication) error {
	c := f.opts.Redis()
	if c == nil {
		return errNoRedis
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	cmds := make(rueidis.Commands, len(pubs))
	for i, p := range pubs {
		keys, args := f.scriptInput(p)
		cmds[i] = c.B().Evalsha().Sha1(publishOnceSHA).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
	}
	results := c.DoMulti(ctx, cmds...)
	if noScript(results) {
		// Redis has lost its scripts (a restart, SCRIPT FLUSH): ExecMulti loads it and runs the
		// batch again, where the frames already sent are marked and not sent twice.
		execs := make([]rueidis.LuaExec, len(pubs))
		for i, p := range pubs {
			execs[i].Keys, execs[i].Args = f.scriptInput(p)
		}
		results = publishOnceScript.ExecMulti(ctx, c, execs...)
	}
	for _, r := range results {
		if err := r.Error(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// scriptInput is publishOnceLua's KEYS (the sent-marker, when p has a key) and ARGV for p.
func (f *fanout) scriptInput(p publication) (keys, args []string) {
	args = make([]string, 0, 2+len(p.users))
	args = append(args, f.sentTTLMs, string(realtime.WithTrace(p.trace, p.frame)))
	for _, u := range p.users {
		args = append(args, realtime.UserChannel(u))
	}
	if p.key != "" {
		keys = []string{sentKeyPrefix + p.key}
	}
	return keys, args
}

// userDeleted forgets the person's last-seen time, the one thing about a person the gateway keeps
// (30 days after their last connection). Their sessions' revocations, published before it, close
// their sockets; a socket that closes after this does not write the time again (the store writes
// a last-seen time at disconnect only over one still kept). Like a revocation it must not be lost:
// while Redis is down it fails Transient and is retried until applied. Forgetting twice is
// harmless.
func (f *fanout) userDeleted(ctx context.Context, _ pgx.Tx, _ events.Event, _ *eventsv1.UserDeleted, userID string) error {
	err := errNoRedis
	if c := f.opts.Redis(); c != nil {
		ctx, cancel := context.WithTimeout(ctx, redisTimeout)
		defer cancel()
		err = c.Do(ctx, c.B().Del().Key(realtime.PresenceKey(userID)).Build()).Error()
	}
	if err != nil {
		return events.Transient(fmt.Errorf("forget the last-seen time of %s: %w", userID, err))
	}
	return nil
}

// noScript reports whether Redis refused any of the results' scripts as unknown.
func noScript(results []rueidis.RedisResult) bool {
	for _, r := range results {
		if rerr, ok := rueidis.IsRedisErr(r.Error()); ok && rerr.IsNoScript() {
			return true
		}
	}
	return false
}

// sessionRevoked marks the session revoked (so its access tokens, valid for minutes more, are
// refused on the API and cannot open new connections), then tells every gateway to close its
// connections. The age limit does not apply: a revocation matters however late it comes. It is a
// security action that must not be lost: while Redis is down or stuck it fails Transient, so the
// consumer retries it without limit (capped back-off), never dead-letters it, and does not move
// the partition's offset past it; a gateway stopping meanwhile leaves it to the next one.
// Marking and publishing again are harmless.
func (f *fanout) sessionRevoked(ctx context.Context, _ pgx.Tx, _ events.Event, m *eventsv1.SessionRevoked) error {
	if m.GetSessionId() == "" || m.GetUserId() == "" {
		return nil
	}
	f.flush(ctx) // the frames of the events before it go first
	err := f.opts.Revocations.Mark(ctx, m.GetSessionId())
	if err == nil {
		err = f.publishTo(ctx, realtime.RevokeFrame(m.GetSessionId()), m.GetUserId())
	}
	if err != nil {
		return events.Transient(fmt.Errorf("revoke session %s: %w", m.GetSessionId(), err))
	}
	return nil
}
