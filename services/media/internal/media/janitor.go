package media

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// SweepGrace is how long after an upload form expires the janitor waits before touching the
// file: longer than CompleteUpload may take (ProcessTimeout), so a completion that started before
// the expiry is never swept from under it.
const SweepGrace = 5 * time.Minute

// sweepBatch caps the files handled per step and round.
const sweepBatch = 200

// SweepStats counts what one janitor round did.
type SweepStats struct {
	Expired, Deleted, Swept, Purged int
}

// Sweep runs one janitor round:
//
//   - PENDING uploads expired for SweepGrace: their bytes and rows are deleted;
//   - DELETED files: their bytes (upload, file, thumbnails) and rows are deleted;
//   - READY and REJECTED files whose form expired SweepGrace ago: the upload key is deleted once
//     more, in case the still-valid form was used again after CompleteUpload;
//   - REJECTED files older than rejectedRetention: their rows are deleted (so CompleteUpload's
//     "same error again" lasts that long).
//
// Storage failures leave the rows in place for the next round. Replicas may sweep at the same
// time: every step is idempotent.
func (s *Service) Sweep(ctx context.Context, rejectedRetention time.Duration) (SweepStats, error) {
	var st SweepStats
	now := s.now().UTC()
	cutoff := now.Add(-SweepGrace)
	var errs []error

	if ids, err := s.store.ExpiredUploads(ctx, cutoff, sweepBatch); err != nil {
		errs = append(errs, err)
	} else if done := s.deleteAll(ctx, ids); len(done) > 0 {
		if err := s.store.RemoveExpired(ctx, done, cutoff); err != nil {
			errs = append(errs, err)
		} else {
			st.Expired = len(done)
		}
	}

	if ids, err := s.store.DeletedFiles(ctx, sweepBatch); err != nil {
		errs = append(errs, err)
	} else if done := s.deleteAll(ctx, ids); len(done) > 0 {
		if err := s.store.RemoveDeleted(ctx, done); err != nil {
			errs = append(errs, err)
		} else {
			st.Deleted = len(done)
		}
	}

	if ids, err := s.store.UnsweptUploads(ctx, cutoff, sweepBatch); err != nil {
		errs = append(errs, err)
	} else {
		var done []string
		for _, id := range ids {
			key, err := UploadKey(id)
			if err == nil {
				err = s.objects.Delete(ctx, key)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, id)
		}
		if len(done) > 0 {
			if err := s.store.MarkSwept(ctx, done); err != nil {
				errs = append(errs, err)
			} else {
				st.Swept = len(done)
			}
		}
	}

	if n, err := s.store.PurgeRejected(ctx, now.Add(-rejectedRetention)); err != nil {
		errs = append(errs, err)
	} else {
		st.Purged = int(n)
	}
	return st, errors.Join(errs...)
}

// deleteAll deletes every object of each file and returns the ids whose objects are gone.
func (s *Service) deleteAll(ctx context.Context, ids []string) []string {
	var done []string
	for _, id := range ids {
		keys, err := AllKeys(id)
		if err == nil {
			err = s.objects.Delete(ctx, keys...)
		}
		if err != nil {
			s.logger.WarnContext(ctx, "janitor: delete objects", slog.String("file", id), slog.Any("error", err))
			continue
		}
		done = append(done, id)
	}
	return done
}

// RunJanitor sweeps every interval until ctx ends, then returns nil.
func (s *Service) RunJanitor(ctx context.Context, interval, rejectedRetention time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := s.Sweep(ctx, rejectedRetention)
		if err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "janitor round failed (retried next round)", slog.Any("error", err))
		}
		if st != (SweepStats{}) {
			s.logger.InfoContext(ctx, "janitor", slog.Int("expired_uploads", st.Expired), slog.Int("deleted_files", st.Deleted),
				slog.Int("swept_upload_keys", st.Swept), slog.Int("purged_rejections", st.Purged))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
