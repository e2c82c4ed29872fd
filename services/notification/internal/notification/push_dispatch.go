package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/platform/backoff"
)

// sendDuePushes claims as many due pushes as it sends at once, decides each from presence, and
// sends those whose recipient is away — the email channel's outbox (record intent → claim with a
// lease → send → mark), for pushes.
func (d *Dispatcher) sendDuePushes(ctx context.Context) (int, error) {
	cfg := d.cfg.Service.push
	now := d.cfg.Service.now()
	claimed, err := d.cfg.Store.ClaimPushes(ctx, now, 2*cfg.Timeout, d.cfg.Concurrency)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	users := make([]string, 0, len(claimed))
	for _, p := range claimed {
		users = append(users, p.UserID)
	}
	lastSeen, err := d.cfg.Presence.LastSeen(ctx, users)
	if err != nil {
		// Put them back untried; the next poll decides again.
		retry := now.Add(d.cfg.PollInterval)
		for _, p := range claimed {
			d.finishPush(ctx, d.log, p, PushOutcome{RetryAt: &retry, Unattempted: true})
		}
		return 0, fmt.Errorf("read presence: %w", err)
	}
	var sends []func()
	for _, p := range claimed {
		log := d.log.With("push", p.ID, "kind", p.Kind.Name(), "user", p.UserID, "subscription", p.SubscriptionID, "attempt", p.Attempt)
		seenAt, seen := lastSeen[p.UserID]
		action, at := decideAway(p.CreatedAt, seenAt, seen, now, cfg.OnlineWindow)
		switch {
		case action == seenSince:
			log.Debug("push skipped: the recipient was online")
			d.finishPush(ctx, log, p, PushOutcome{Skipped: true, Unattempted: true})
		case action == mayBeOnline:
			d.finishPush(ctx, log, p, PushOutcome{RetryAt: &at, Unattempted: true})
		case now.After(p.CreatedAt.Add(cfg.TTL)):
			log.Warn("push given up: older than PUSH_TTL")
			d.finishPush(ctx, log, p, PushOutcome{Err: "expired before it could be sent", Unattempted: true})
		default:
			sends = append(sends, func() { d.sendPush(ctx, log, p) })
		}
	}
	parallel(d.cfg.Concurrency, sends, func(send func()) { send() })
	return len(claimed), nil
}

func (d *Dispatcher) sendPush(ctx context.Context, log *slog.Logger, p PushDelivery) {
	cfg := d.cfg.Service.push
	// What is left of the TTL, so a retried push expires at the push service when it would have.
	ttl := p.CreatedAt.Add(cfg.TTL).Sub(d.cfg.Service.now())
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	err := cfg.Pusher.Push(sctx, PushMessage{Endpoint: p.Endpoint, P256dh: p.P256dh, Auth: p.Auth, Payload: p.Payload,
		TTL: ttl, Urgency: p.Urgency, Topic: p.Topic})
	cancel()
	var out PushOutcome
	var busy *PushRetryAfter
	switch {
	case err == nil:
		out.Sent = true
		log.Info("push sent")
	case errors.Is(err, ErrPushGone):
		out.Gone, out.Err = true, err.Error()
		log.Info("push subscription gone; removed", "err", err)
	case errors.Is(err, ErrPushRejected) || p.Attempt >= cfg.MaxAttempts:
		out.Err = err.Error()
		log.Warn("push dropped", "err", err)
	case errors.As(err, &busy) && busy.After > 0:
		out.Err = err.Error()
		retry := d.cfg.Service.now().Add(min(busy.After, time.Hour))
		out.RetryAt = &retry
		log.Warn("push service busy, will retry as it asked", "retry_at", retry)
	default:
		out.Err = err.Error()
		retry := d.cfg.Service.now().Add(backoff.Delay(cfg.RetryBackoff, time.Hour, p.Attempt))
		out.RetryAt = &retry
		log.Warn("push not sent, will retry", "err", err, "retry_at", retry)
	}
	d.finishPush(ctx, log, p, out)
}

// finishPush records an outcome, even when shutting down.
func (d *Dispatcher) finishPush(ctx context.Context, log *slog.Logger, p PushDelivery, out PushOutcome) {
	if err := record(ctx, func(ctx context.Context) error { return d.cfg.Store.FinishPush(ctx, p, out) }); err != nil {
		log.Error("cannot record the push's outcome; it will be tried again when its lease ends", "err", err, "sent", out.Sent)
	}
}
