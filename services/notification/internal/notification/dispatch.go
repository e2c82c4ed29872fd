package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parleyhq/parley/platform/backoff"
	"github.com/parleyhq/parley/platform/defaults"
)

// ErrRejected marks a Mailer error that retrying cannot fix: the mail server refused the message
// or the recipient for good (an SMTP 5xx reply).
var ErrRejected = errors.New("rejected by the mail server")

// Mailer sends one email (the mailer package implements it over SMTP). Errors wrapping
// ErrRejected are final; any other error is retried.
type Mailer interface {
	Send(ctx context.Context, e Email) error
}

// Presence tells when users were last seen online: the time the gateways last wrote for each of
// userIDs (see presence.Redis). Users never seen are absent from the map.
type Presence interface {
	LastSeen(ctx context.Context, userIDs []string) (map[string]time.Time, error)
}

// DispatcherConfig configures a Dispatcher. Service, Store, Mailer, Presence and Logger are required.
type DispatcherConfig struct {
	Service  *Service
	Store    Store
	Mailer   Mailer
	Presence Presence
	Logger   *slog.Logger

	// PollInterval is how often due digests and emails are looked for. Default 1s.
	PollInterval time.Duration
	// OfflineAfter is how long since a user was last seen before they count as away: a digest is
	// only emailed to a user who is away. Default 5m.
	OfflineAfter time.Duration
	// SendTimeout bounds one SMTP conversation. A claimed email's lease is twice as long: a worker
	// that has not finished by then is taken to have died, and the email is sent again. Default 30s.
	SendTimeout time.Duration
	// RetryBackoff is the wait after a failed attempt, doubled after each further one up to
	// MaxRetryBackoff. Defaults 30s and 1h.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// MaxAttempts is how many attempts an email gets before it is given up on. Default 10.
	MaxAttempts int
	// Concurrency is how many emails one replica sends at once. Default 4.
	Concurrency int
	// BatchSize is how many digests are flushed per database round trip. Default 20. (Emails are
	// claimed Concurrency at a time; see sendDue.)
	BatchSize int
}

// Dispatcher works the email channel: it turns due digests into emails (or drops them when the
// recipient came back or read the chat) and sends queued emails with retries; and, when the push
// channel is on, queued pushes the same way (push_dispatch.go). Run one in every
// replica; row locks (SKIP LOCKED) give each digest and email to one replica at a time.
//
// Sending follows the delivery outbox: an email is queued in the transaction that decides it
// (record intent), claimed with a lease and committed before the SMTP conversation (send), and
// marked sent after it (mark). A redelivered event finds the email already queued; a restart finds
// it claimed and, once the lease ends, sends it again — so a crash between send and mark sends
// that email one more time, with the same Message-ID, which lets mail clients fold the copies.
type Dispatcher struct {
	cfg DispatcherConfig
	log *slog.Logger
}

// NewDispatcher checks cfg and fills in defaults.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Service == nil || cfg.Store == nil || cfg.Mailer == nil || cfg.Presence == nil || cfg.Logger == nil {
		return nil, errors.New("new dispatcher: service, store, mailer, presence and logger are required")
	}
	cfg.PollInterval = defaults.Positive(cfg.PollInterval, time.Second)
	cfg.OfflineAfter = defaults.Positive(cfg.OfflineAfter, 5*time.Minute)
	cfg.SendTimeout = defaults.Positive(cfg.SendTimeout, 30*time.Second)
	cfg.RetryBackoff = defaults.Positive(cfg.RetryBackoff, 30*time.Second)
	cfg.MaxRetryBackoff = defaults.Positive(cfg.MaxRetryBackoff, time.Hour)
	cfg.MaxAttempts = defaults.Positive(cfg.MaxAttempts, 10)
	cfg.Concurrency = defaults.Positive(cfg.Concurrency, 4)
	cfg.BatchSize = defaults.Positive(cfg.BatchSize, 20)
	return &Dispatcher{cfg: cfg, log: cfg.Logger.With("component", "email-dispatcher")}, nil
}

// Run works until ctx ends, then returns nil. Failures are logged and retried at the next poll.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.Info("email dispatcher started", "poll_interval", d.cfg.PollInterval, "offline_after", d.cfg.OfflineAfter)
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		d.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce flushes every due digest and sends every due email and push.
func (d *Dispatcher) RunOnce(ctx context.Context) {
	d.drain(ctx, "flush digests", d.cfg.BatchSize, func(ctx context.Context) (int, error) {
		return d.cfg.Service.flushDigests(ctx, d.cfg.Presence, d.cfg.OfflineAfter, d.cfg.BatchSize)
	})
	d.drain(ctx, "send emails", d.cfg.Concurrency, d.sendDue)
	if d.cfg.Service.push != nil {
		d.drain(ctx, "send pushes", d.cfg.Concurrency, d.sendDuePushes)
	}
}

// drain runs batch, which handles up to full items and says how many it did, until one handles
// fewer (nothing more is due), it fails (logged as what failed; the next poll retries) or ctx ends.
func (d *Dispatcher) drain(ctx context.Context, what string, full int, batch func(context.Context) (int, error)) {
	for ctx.Err() == nil {
		n, err := batch(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn(what+" failed, will retry", "err", err)
			}
			return
		}
		if n < full {
			return
		}
	}
}

// sendDue claims as many due emails as it sends at once (Concurrency) and sends them. Claiming no
// more than that matters: a lease starts at the claim, so an email claimed to wait behind others
// could outlive its lease (2 × SendTimeout) on a slow mail server and be claimed and sent again
// by another replica. Each claimed email starts at once and ends within SendTimeout.
func (d *Dispatcher) sendDue(ctx context.Context) (int, error) {
	claimed, err := d.cfg.Store.ClaimDeliveries(ctx, d.cfg.Service.now(), 2*d.cfg.SendTimeout, d.cfg.Concurrency)
	if err != nil {
		return 0, err
	}
	parallel(d.cfg.Concurrency, claimed, func(del Delivery) { d.send(ctx, del) })
	return len(claimed), nil
}

// parallel calls send for each item, at most limit at once, and returns when all have returned.
func parallel[T any](limit int, items []T, send func(T)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, item := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			send(item)
		})
	}
	wg.Wait()
}

// record records a delivery's outcome with save even when ctx has ended (shutting down): the email
// or push went out, or not, either way.
func record(ctx context.Context, save func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return save(rctx)
}

func (d *Dispatcher) send(ctx context.Context, del Delivery) {
	log := d.log.With("delivery", del.ID, "kind", del.Kind.Name(), "user", del.UserID, "attempt", del.Attempt)
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	err := d.cfg.Mailer.Send(sctx, del.Email)
	cancel()
	var out DeliveryOutcome
	switch {
	case err == nil:
		out.Sent = true
		log.Info("email sent", "message_id", del.MessageID)
	case errors.Is(err, ErrRejected) || del.Attempt >= d.cfg.MaxAttempts:
		out.Err = err.Error()
		log.Error("email given up", "err", err)
	default:
		out.Err = err.Error()
		retry := d.cfg.Service.now().Add(backoff.Delay(d.cfg.RetryBackoff, d.cfg.MaxRetryBackoff, del.Attempt))
		out.RetryAt = &retry
		log.Warn("email not sent, will retry", "err", err, "retry_at", retry)
	}
	if err := record(ctx, func(ctx context.Context) error { return d.cfg.Store.FinishDelivery(ctx, del, out) }); err != nil {
		log.Error("cannot record the email's outcome; it will be sent again when its lease ends", "err", err, "sent", out.Sent)
	}
}

// awayAction is what becomes of what is sent only to a recipient who is away from the app (an
// email digest, a push), decided from when they were last seen.
type awayAction int

const (
	sendAway    awayAction = iota // not seen since it was raised, and no connection can still be open: send it
	seenSince                     // connected at or after it was raised: the app showed it; drop it
	mayBeOnline                   // seen shortly before: a connection may still be open; look again later
)

// decideAway decides from when the recipient was last seen (seen false: never) what becomes of
// something raised at raisedAt. The gateways refresh presence every 30 s while a connection is
// open and once more when the last one closes, so a value at or after raisedAt means the user was
// connected when it came; an older value younger than window may still belong to an open
// connection, whose next refresh will tell: look again at the time returned.
func decideAway(raisedAt, lastSeen time.Time, seen bool, now time.Time, window time.Duration) (awayAction, time.Time) {
	switch {
	case !seen:
		return sendAway, time.Time{}
	case !lastSeen.Before(raisedAt):
		return seenSince, time.Time{}
	case now.Before(lastSeen.Add(window)):
		return mayBeOnline, lastSeen.Add(window)
	}
	return sendAway, time.Time{}
}

// flushDigests handles up to limit due digests in one transaction and returns how many.
func (s *Service) flushDigests(ctx context.Context, presence Presence, offlineAfter time.Duration, limit int) (int, error) {
	n := 0
	err := s.store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		due, err := tx.LockDueDigests(ctx, now, limit)
		if err != nil || len(due) == 0 {
			return err
		}
		n = len(due)
		var users []string
		for _, dg := range due {
			users = append(users, dg.UserID)
		}
		lastSeen, err := presence.LastSeen(ctx, users)
		if err != nil {
			return fmt.Errorf("read presence: %w", err)
		}
		for _, dg := range due {
			seenAt, seen := lastSeen[dg.UserID]
			action, at := decideAway(dg.FirstMessageAt, seenAt, seen, now, offlineAfter)
			switch action {
			case mayBeOnline:
				err = tx.PostponeDigest(ctx, dg.ID, at)
			case seenSince:
				s.logger.DebugContext(ctx, "digest dropped: recipient came online", slog.String("user", dg.UserID), slog.String("chat", dg.ChatID))
				err = tx.DeleteDigest(ctx, dg.ID)
			case sendAway:
				err = s.emailDigest(ctx, tx, dg, now)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// emailDigest queues the email of a digest — unless, since its messages came, the recipient
// switched message emails off, muted the chat or has no address — and deletes the digest.
func (s *Service) emailDigest(ctx context.Context, tx Tx, dg Digest, now time.Time) error {
	prefs, err := tx.Preferences(ctx, dg.UserID, now)
	if err != nil {
		return err
	}
	muted, err := tx.IsMuted(ctx, dg.UserID, dg.ChatID, now)
	if err != nil {
		return err
	}
	to, err := tx.Recipient(ctx, dg.UserID)
	if err != nil {
		return err
	}
	if prefs.EmailFor(KindMessage) && !muted && to.Email != "" && len(dg.Messages) > 0 {
		names := map[string]string{}
		var lookupErr error
		c, err := s.emails.Digest(to, dg, func(userID string) string {
			if name, ok := names[userID]; ok {
				return name
			}
			name, err := s.nickname(ctx, tx, userID, "")
			if err != nil {
				lookupErr = err
			}
			names[userID] = name
			return name
		})
		if err != nil {
			return err
		}
		if lookupErr != nil {
			return lookupErr
		}
		if _, err := s.queueEmail(ctx, tx, to, KindMessage, "digest:"+dg.ID, c, now); err != nil {
			return err
		}
	}
	return tx.DeleteDigest(ctx, dg.ID)
}
