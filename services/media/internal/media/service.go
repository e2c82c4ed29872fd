package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"time"

	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"

	"github.com/parleyhq/parley/services/media/internal/mediaimage"
)

// Limits are the service's rules in numbers (configured from the environment).
type Limits struct {
	// MaxAvatarBytes and MaxAttachmentBytes cap one file of each purpose.
	MaxAvatarBytes, MaxAttachmentBytes int64
	// QuotaBytes caps what one user holds: READY sizes plus PENDING reservations.
	QuotaBytes int64
	// MaxPendingUploads caps one user's uploads not completed yet.
	MaxPendingUploads int
	// MaxImageSide and MaxImagePixels bound an image's width/height and its area (for an
	// animated GIF, the area of all frames together), read before anything is decoded.
	MaxImageSide   int
	MaxImagePixels int64
	// MaxGIFFrames bounds an animated GIF's frames (also read before decoding).
	MaxGIFFrames int
	// MaxImageOutputBytes bounds a re-encoded image; encoding stops when it passes the bound.
	MaxImageOutputBytes int64
	// UploadTTL is how long an upload form works; a PENDING file older than that is discarded.
	UploadTTL time.Duration
}

func (l Limits) maxSize(p Purpose) int64 {
	if p == PurposeAvatar {
		return l.MaxAvatarBytes
	}
	return l.MaxAttachmentBytes
}

// Store keeps file metadata (mediadb implements it). Times are passed in, so one clock rules.
type Store interface {
	// Create inserts f (PENDING) unless, under a per-owner lock, the owner's READY bytes plus
	// unexpired PENDING reservations plus f.DeclaredSize would exceed quota, or maxPending
	// unexpired uploads are pending already: then an domainerr.ErrResourceExhausted error saying which.
	Create(ctx context.Context, f File, quota int64, maxPending int, now time.Time) error
	// Get returns one file in any status, or domainerr.ErrNotFound.
	Get(ctx context.Context, id string) (File, error)
	// GetMany returns the files among ids that exist, in any status, in no particular order.
	GetMany(ctx context.Context, ids []string) ([]File, error)
	// MarkReady makes a PENDING file READY with r and writes FileUploaded to the outbox in the
	// same transaction. It returns the file as it ends up: a file that was READY or REJECTED
	// already is returned unchanged; a DELETED or missing one is domainerr.ErrNotFound.
	MarkReady(ctx context.Context, id string, r Ready, now time.Time) (File, error)
	// MarkRejected makes a PENDING file REJECTED; otherwise as MarkReady.
	MarkRejected(ctx context.Context, id string, rej Rejection, now time.Time) (File, error)
	// MarkDeleted marks ownerID's file id DELETED (any status but DELETED) and reports whether
	// there was such a file.
	MarkDeleted(ctx context.Context, ownerID, id string, now time.Time) (bool, error)
	// Usage returns ownerID's READY bytes and unexpired PENDING reservations.
	Usage(ctx context.Context, ownerID string, now time.Time) (used, reserved int64, err error)

	// ExpiredUploads lists up to limit PENDING files whose upload expired before cutoff.
	ExpiredUploads(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
	// RemoveExpired deletes those of ids that are still PENDING and expired before cutoff.
	RemoveExpired(ctx context.Context, ids []string, cutoff time.Time) error
	// DeletedFiles lists up to limit DELETED files.
	DeletedFiles(ctx context.Context, limit int) ([]string, error)
	// RemoveDeleted deletes the rows of those of ids that are DELETED.
	RemoveDeleted(ctx context.Context, ids []string) error
	// UnsweptUploads lists up to limit READY or REJECTED files whose upload form expired before
	// cutoff and whose upload key has not been cleared since.
	UnsweptUploads(ctx context.Context, cutoff time.Time, limit int) ([]string, error)
	// MarkSwept records that ids' upload keys are cleared for good.
	MarkSwept(ctx context.Context, ids []string) error
	// PurgeRejected deletes REJECTED files rejected before cutoff whose upload key is cleared.
	PurgeRejected(ctx context.Context, cutoff time.Time) (int64, error)
}

// ErrObjectNotFound is returned by Objects for a key holding nothing.
var ErrObjectNotFound = errors.New("object not found")

// ErrRangeNotSatisfiable is returned by Objects.Open for a range outside the object.
var ErrRangeNotSatisfiable = errors.New("range not satisfiable")

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size        int64
	ContentType string
}

// Object is an object opened for download.
type Object struct {
	Body interface {
		Read([]byte) (int, error)
		Close() error
	}
	// Size is the length of Body; Total the object's whole size.
	Size, Total int64
	// ContentRange is set ("bytes 0-99/1234") when a range was asked for and served.
	ContentRange string
}

// Objects is object storage (mediastorage implements it over S3).
type Objects interface {
	// PresignPost returns a browser POST form that can store one object under key only, with
	// exactly contentType and 1 to maxSize bytes, for ttl.
	PresignPost(ctx context.Context, key, contentType string, maxSize int64, ttl time.Duration) (UploadForm, error)
	// Stat describes key's object, or ErrObjectNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// ReadHead returns up to the first n bytes of key's object.
	ReadHead(ctx context.Context, key string, n int64) ([]byte, error)
	// ReadAll returns key's object, failing when it is longer than maxBytes.
	ReadAll(ctx context.Context, key string, maxBytes int64) ([]byte, error)
	// Put stores data under key with the given Content-Type and Content-Disposition.
	Put(ctx context.Context, key string, data []byte, contentType, disposition string) error
	// Copy copies src to dst server-side, setting Content-Type and Content-Disposition.
	Copy(ctx context.Context, src, dst, contentType, disposition string) error
	// Delete removes keys; keys holding nothing are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Open opens key's object for reading, the byte range rng ("bytes=0-99") when not empty; or
	// ErrObjectNotFound.
	Open(ctx context.Context, key, rng string) (Object, error)
}

// ChatAccessChecker asks the chat service what a user may do in a chat, on behalf of the user in
// ctx (chatclient implements it, with a cache). Failures to ask are domainerr.ErrUnavailable errors.
type ChatAccessChecker interface {
	Access(ctx context.Context, chatID, userID string) (ChatAccess, error)
}

// Options wire a Service.
type Options struct {
	Store   Store
	Objects Objects
	Chats   ChatAccessChecker
	URLs    *URLSigner
	Limits  Limits
	Logger  *slog.Logger
	// ImageWorkers caps images decoded at once (each may need a few hundred MB); default 2.
	ImageWorkers int
	// ImageTimeout is one image's budget for decoding, re-encoding and thumbnails; over it the
	// file is rejected and the work abandoned (it keeps its worker until it ends); default 30s.
	ImageTimeout time.Duration
	// ProcessTimeout bounds CompleteUpload's checks of one file; default 2m.
	ProcessTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service holds the media use cases behind the RPCs and the download route.
type Service struct {
	store   Store
	objects Objects
	chats   ChatAccessChecker
	urls    *URLSigner
	lim     Limits
	logger  *slog.Logger
	now     func() time.Time
	slots   chan struct{}
	images  *mediaimage.Processor
	timeout time.Duration
}

// NewService wires the use cases.
func NewService(o Options) *Service {
	o.ImageWorkers = defaults.Positive(o.ImageWorkers, 2)
	o.ImageTimeout = defaults.Positive(o.ImageTimeout, 30*time.Second)
	o.ProcessTimeout = defaults.Positive(o.ProcessTimeout, 2*time.Minute)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: o.Store, objects: o.Objects, chats: o.Chats, urls: o.URLs, lim: o.Limits, logger: o.Logger,
		now: o.Now, slots: make(chan struct{}, o.ImageWorkers), timeout: o.ProcessTimeout,
		images: mediaimage.NewProcessor(o.ImageWorkers, o.ImageTimeout)}
}

// Limits returns the configured limits.
func (s *Service) Limits() Limits { return s.lim }

// CreateUpload reserves a file for callerID and returns it with the form to upload it with.
func (s *Service) CreateUpload(ctx context.Context, callerID string, req UploadRequest) (File, UploadForm, error) {
	r, err := req.validate(s.lim)
	if err != nil {
		return File{}, UploadForm{}, err
	}
	if r.Purpose == PurposeAttachment {
		acc, err := s.chats.Access(ctx, r.ChatID, callerID)
		if err != nil {
			return File{}, UploadForm{}, err
		}
		switch {
		case !acc.Participant:
			return File{}, UploadForm{}, domainerr.Errorf(domainerr.ErrNotFound, "chat_id: no chat %s of yours", r.ChatID)
		case !acc.CanSend:
			return File{}, UploadForm{}, domainerr.Errorf(domainerr.ErrFailedPrecondition, "chat_id: you can no longer send in this chat (you are not friends any more)")
		}
	}
	now := s.now().UTC()
	f := File{
		ID: NewFileID(), OwnerID: callerID, Purpose: r.Purpose, Status: StatusPending,
		Name: r.FileName, DeclaredType: r.ContentType, DeclaredSize: r.Size, ChatID: r.ChatID,
		CreatedAt: now, UploadExpiresAt: now.Add(s.lim.UploadTTL),
	}
	key, err := UploadKey(f.ID)
	if err != nil {
		return File{}, UploadForm{}, err
	}
	// Reserve first: a refused reservation must not hand out a form.
	if err := s.store.Create(ctx, f, s.lim.QuotaBytes, s.lim.MaxPendingUploads, now); err != nil {
		return File{}, UploadForm{}, err
	}
	form, err := s.objects.PresignPost(ctx, key, f.DeclaredType, f.DeclaredSize, s.lim.UploadTTL)
	if err != nil {
		if _, derr := s.store.MarkDeleted(context.WithoutCancel(ctx), callerID, f.ID, now); derr != nil {
			s.logger.WarnContext(ctx, "release reservation after a failed presign", slog.String("file", f.ID), slog.Any("error", derr))
		}
		return File{}, UploadForm{}, fmt.Errorf("presign upload of %s: %w", f.ID, err)
	}
	form.ExpiresAt = f.UploadExpiresAt
	return f, form, nil
}

// CompleteUpload checks callerID's uploaded file and makes it READY, or rejects it (a
// *RejectedError) and deletes its bytes.
func (s *Service) CompleteUpload(ctx context.Context, callerID, fileID string) (File, error) {
	id, err := validate.UUID("file_id", fileID)
	if err != nil {
		return File{}, err
	}
	notFound := domainerr.Errorf(domainerr.ErrNotFound, "file_id: no upload %s of yours", id)
	f, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, domainerr.ErrNotFound):
		return File{}, notFound
	case err != nil:
		return File{}, err
	case f.OwnerID != callerID || f.Status == StatusDeleted:
		return File{}, notFound
	case f.Status == StatusReady:
		return f, nil
	case f.Status == StatusRejected:
		return f, &RejectedError{FileID: f.ID, Rejection: f.Rejection}
	case !s.now().Before(f.UploadExpiresAt):
		return File{}, domainerr.Errorf(domainerr.ErrNotFound, "file_id: the upload expired at %s; start again with CreateUpload", f.UploadExpiresAt.UTC().Format(time.RFC3339))
	}

	upKey, err := UploadKey(id)
	if err != nil {
		return File{}, err
	}
	info, err := s.objects.Stat(ctx, upKey)
	if errors.Is(err, ErrObjectNotFound) {
		return File{}, domainerr.Errorf(domainerr.ErrFailedPrecondition, "file_id: nothing has been uploaded yet; POST the file with the form from CreateUpload, then call CompleteUpload")
	}
	if err != nil {
		return File{}, fmt.Errorf("stat upload %s: %w", id, err)
	}

	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	ready, rej, err := s.check(pctx, f, upKey, info)
	cancel()
	if err != nil {
		return File{}, err
	}
	cleanup := context.WithoutCancel(ctx)
	if rej != nil {
		// Checks reject before anything is written under the final keys: only the upload goes.
		s.deleteObjects(cleanup, upKey)
		f, err = s.store.MarkRejected(cleanup, id, *rej, s.now().UTC())
		if err != nil {
			return File{}, err
		}
		s.logger.InfoContext(ctx, "upload rejected", slog.String("file", id), slog.String("reason", string(rej.Reason)), slog.String("why", rej.Message))
		return s.completed(f)
	}
	f, err = s.store.MarkReady(cleanup, id, ready, s.now().UTC())
	if errors.Is(err, domainerr.ErrNotFound) {
		// Deleted (or expired and swept) while it was being checked: nothing must stay behind.
		keys, _ := AllKeys(id)
		s.deleteObjects(cleanup, keys...)
		return File{}, notFound
	}
	if err != nil {
		return File{}, err
	}
	s.deleteObjects(cleanup, upKey) // the janitor clears it again once the form has expired
	return s.completed(f)
}

// completed is what CompleteUpload answers for a file that is no longer PENDING.
func (s *Service) completed(f File) (File, error) {
	if f.Status == StatusRejected {
		return f, &RejectedError{FileID: f.ID, Rejection: f.Rejection}
	}
	return f, nil
}

// check runs CompleteUpload's checks on the uploaded object and, when they pass, stores the
// checked file (and thumbnails) under its final keys.
func (s *Service) check(ctx context.Context, f File, upKey string, info ObjectInfo) (Ready, *Rejection, error) {
	limit := s.lim.maxSize(f.Purpose)
	switch {
	case info.Size > limit:
		size, most := HumanBytesPair(info.Size, limit)
		return Ready{}, &Rejection{Reason: ReasonTooLarge, Message: fmt.Sprintf("the file is %s; %ss may be at most %s", size, f.Purpose, most)}, nil
	case info.Size != f.DeclaredSize:
		return Ready{}, &Rejection{Reason: ReasonSizeMismatch, Message: fmt.Sprintf("the uploaded file is %d bytes, but CreateUpload declared %d bytes", info.Size, f.DeclaredSize)}, nil
	case info.ContentType != f.DeclaredType:
		// The form's policy pins the Content-Type; storage that did not enforce it is caught here.
		return Ready{}, &Rejection{Reason: ReasonTypeMismatch, Message: fmt.Sprintf("the file was uploaded as %q, but CreateUpload declared %q", info.ContentType, f.DeclaredType)}, nil
	}
	head, err := s.objects.ReadHead(ctx, upKey, 512)
	if err != nil {
		return Ready{}, nil, fmt.Errorf("read upload %s: %w", f.ID, err)
	}
	ct, rej := resolveType(f.Purpose, f.DeclaredType, mediaimage.Detect(head))
	if rej != nil {
		return Ready{}, rej, nil
	}
	orig, err := ObjectKey(f.ID, VariantOriginal)
	if err != nil {
		return Ready{}, nil, err
	}
	if !IsImage(ct) {
		if err := s.objects.Copy(ctx, upKey, orig, ct, Disposition(f.Name, ct)); err != nil {
			return Ready{}, nil, fmt.Errorf("store %s: %w", f.ID, err)
		}
		return Ready{ContentType: ct, Size: info.Size}, nil, nil
	}

	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return Ready{}, nil, fmt.Errorf("wait to process image %s: %w", f.ID, ctx.Err())
	}
	data, err := s.objects.ReadAll(ctx, upKey, limit)
	if err != nil {
		return Ready{}, nil, fmt.Errorf("read upload %s: %w", f.ID, err)
	}
	mode := mediaimage.Fit
	if f.Purpose == PurposeAvatar {
		mode = mediaimage.Crop
	}
	// s.slots bounds the uploads read into memory for processing; the Processor's own workers
	// bound decodes, abandoned ones (over ImageTimeout) included.
	out, err := s.images.Process(ctx, data, essence(ct), mediaimage.Limits{
		MaxSide: s.lim.MaxImageSide, MaxPixels: s.lim.MaxImagePixels,
		MaxFrames: s.lim.MaxGIFFrames, MaxOutputBytes: s.lim.MaxImageOutputBytes,
	}, mode)
	if p := (*mediaimage.Problem)(nil); errors.As(err, &p) {
		reason := ReasonUnreadable
		if p.Kind == mediaimage.TooLarge {
			reason = ReasonDimensionsTooLarge
		}
		return Ready{}, &Rejection{Reason: reason, Message: p.Message}, nil
	}
	if err != nil {
		return Ready{}, nil, fmt.Errorf("process image %s: %w", f.ID, err)
	}
	if err := s.objects.Put(ctx, orig, out.Data, out.ContentType, Disposition(f.Name, out.ContentType)); err != nil {
		return Ready{}, nil, fmt.Errorf("store %s: %w", f.ID, err)
	}
	for v, data := range map[Variant][]byte{VariantThumb64: out.Thumb64, VariantThumb256: out.Thumb256} {
		key, _ := ObjectKey(f.ID, v)
		if err := s.objects.Put(ctx, key, data, out.ThumbType, "inline"); err != nil {
			return Ready{}, nil, fmt.Errorf("store thumbnail %s/%s: %w", f.ID, v, err)
		}
	}
	return Ready{ContentType: out.ContentType, Size: int64(len(out.Data)), Width: out.Width, Height: out.Height, ThumbType: out.ThumbType}, nil, nil
}

// Disposition is the Content-Disposition a file is served with: inline for the raster images
// this service has checked and re-encoded, attachment (a download, never rendered) for anything
// else. The file name is encoded per RFC 2231 / RFC 6266.
func Disposition(name, ct string) string {
	kind := "attachment"
	if IsImage(ct) {
		kind = "inline"
	}
	if d := mime.FormatMediaType(kind, map[string]string{"filename": name}); d != "" {
		return d
	}
	return kind
}

func (s *Service) deleteObjects(ctx context.Context, keys ...string) {
	if err := s.objects.Delete(ctx, keys...); err != nil {
		s.logger.WarnContext(ctx, "delete objects (the janitor retries)", slog.Any("keys", keys), slog.Any("error", err))
	}
}

// GetFile returns a file callerID may see, or domainerr.ErrNotFound.
func (s *Service) GetFile(ctx context.Context, callerID, fileID string) (File, error) {
	id, err := validate.UUID("file_id", fileID)
	if err != nil {
		return File{}, err
	}
	notFound := domainerr.Errorf(domainerr.ErrNotFound, "file_id: no file %s", id)
	f, err := s.store.Get(ctx, id)
	if errors.Is(err, domainerr.ErrNotFound) {
		return File{}, notFound
	}
	if err != nil {
		return File{}, err
	}
	ok, err := s.visible(ctx, callerID, f, nil)
	if err != nil {
		return File{}, err
	}
	if !ok {
		return File{}, notFound
	}
	return f, nil
}

// visible tells whether callerID may see f: its owner always; a READY avatar, anyone signed in;
// a READY attachment, the participants of its chat. chats, when not nil, memoises answers.
func (s *Service) visible(ctx context.Context, callerID string, f File, chats map[string]bool) (bool, error) {
	switch {
	case f.Status == StatusDeleted:
		return false, nil
	case f.OwnerID == callerID:
		return true, nil
	case f.Status != StatusReady:
		return false, nil
	case f.Purpose == PurposeAvatar:
		return true, nil
	}
	if ok, seen := chats[f.ChatID]; seen {
		return ok, nil
	}
	acc, err := s.chats.Access(ctx, f.ChatID, callerID)
	if err != nil {
		return false, err
	}
	if chats != nil {
		chats[f.ChatID] = acc.Participant
	}
	return acc.Participant, nil
}

// MaxBatch is the most ids BatchGetFiles takes.
const MaxBatch = 100

// BatchGetFiles returns the files among fileIDs. A trusted call (another Parley service
// presenting the internal token) gets every file that exists; a call on a user's behalf gets
// those callerID may see, by the same rule as GetFile.
func (s *Service) BatchGetFiles(ctx context.Context, callerID string, trusted bool, fileIDs []string) ([]File, error) {
	ids, err := validate.UUIDs("file_ids", fileIDs, MaxBatch)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	files, err := s.store.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := files[:0]
	chats := map[string]bool{}
	for _, f := range files {
		ok := f.Status != StatusDeleted
		if ok && !trusted {
			if ok, err = s.visible(ctx, callerID, f, chats); err != nil {
				return nil, err
			}
		}
		if ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// DeleteFile deletes one of callerID's files: it stops counting at once, its bytes go now (or,
// if storage fails, with the janitor's next round).
func (s *Service) DeleteFile(ctx context.Context, callerID, fileID string) error {
	id, err := validate.UUID("file_id", fileID)
	if err != nil {
		return err
	}
	found, err := s.store.MarkDeleted(ctx, callerID, id, s.now().UTC())
	if err != nil {
		return err
	}
	if !found {
		return domainerr.Errorf(domainerr.ErrNotFound, "file_id: no file %s of yours", id)
	}
	keys, _ := AllKeys(id)
	cleanup := context.WithoutCancel(ctx)
	if err := s.objects.Delete(cleanup, keys...); err != nil {
		s.logger.WarnContext(ctx, "delete objects of a deleted file (the janitor retries)", slog.String("file", id), slog.Any("error", err))
		return nil
	}
	if err := s.store.RemoveDeleted(cleanup, []string{id}); err != nil {
		s.logger.WarnContext(ctx, "remove deleted file row (the janitor retries)", slog.String("file", id), slog.Any("error", err))
	}
	return nil
}

// Quota returns callerID's storage use and the limits.
func (s *Service) Quota(ctx context.Context, callerID string) (Quota, error) {
	used, reserved, err := s.store.Usage(ctx, callerID, s.now().UTC())
	if err != nil {
		return Quota{}, err
	}
	return Quota{UsedBytes: used, ReservedBytes: reserved, LimitBytes: s.lim.QuotaBytes,
		MaxAvatarBytes: s.lim.MaxAvatarBytes, MaxAttachmentBytes: s.lim.MaxAttachmentBytes}, nil
}
