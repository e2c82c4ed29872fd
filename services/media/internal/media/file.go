// Package media is the media service's domain: uploaded files (avatars and chat attachments),
// the checks an upload must pass, who may see a file, quotas, and the use cases behind
// parley.media.v1.MediaService. Bytes live in object storage under keys this package generates
// from file ids alone (keys.go); metadata lives in Postgres (mediadb).
package media

import (
	"time"
)

// Purpose says what a file is for; it decides the checks, the limits and who may see it.
type Purpose string

// Purposes.
const (
	PurposeAvatar     Purpose = "avatar"
	PurposeAttachment Purpose = "attachment"
)

// Status is where a file is in its life.
type Status string

// Statuses. Deleted files are invisible to everyone; the janitor removes their bytes and rows.
const (
	StatusPending  Status = "pending"
	StatusReady    Status = "ready"
	StatusRejected Status = "rejected"
	StatusDeleted  Status = "deleted"
)

// Reason says why CompleteUpload rejected a file.
type Reason string

// Rejection reasons (parley.media.v1.RejectionReason).
const (
	ReasonSizeMismatch       Reason = "size_mismatch"
	ReasonTooLarge           Reason = "too_large"
	ReasonTypeNotAllowed     Reason = "type_not_allowed"
	ReasonTypeMismatch       Reason = "type_mismatch"
	ReasonDimensionsTooLarge Reason = "dimensions_too_large"
	ReasonUnreadable         Reason = "unreadable"
)

// Rejection is why a file was rejected, for a person to read.
type Rejection struct {
	Reason  Reason
	Message string
}

// File is an uploaded file's metadata.
type File struct {
	ID      string
	OwnerID string
	Purpose Purpose
	Status  Status
	// Name is the original file name, for display only; it never reaches a storage key.
	Name string
	// DeclaredType and DeclaredSize are what CreateUpload was told.
	DeclaredType string
	DeclaredSize int64
	// ContentType and Size describe the stored file once READY (after re-encoding, for images).
	ContentType string
	Size        int64
	// Width and Height are an image's dimensions once READY; 0 otherwise.
	Width, Height int
	// ThumbType is the content type of the 64 and 256 px thumbnails; "" when there are none.
	ThumbType string
	// ChatID is the chat an attachment was uploaded for; "" for avatars.
	ChatID    string
	CreatedAt time.Time
	// UploadExpiresAt is when the upload form stops working and a PENDING file is discarded.
	UploadExpiresAt time.Time
	ReadyAt         time.Time
	// Rejection is set when Status is StatusRejected.
	Rejection Rejection
}

// Ready is what CompleteUpload's checks produced: the stored file's final description.
type Ready struct {
	ContentType   string
	Size          int64
	Width, Height int
	ThumbType     string
}

// Variant names one stored rendition of a file.
type Variant string

// Variants: the file itself and its two square (avatars) or fitted (attachments) thumbnails.
const (
	VariantOriginal Variant = "original"
	VariantThumb64  Variant = "64"
	VariantThumb256 Variant = "256"
)

// ParseVariant returns the variant named v, or false.
func ParseVariant(v string) (Variant, bool) {
	switch Variant(v) {
	case VariantOriginal, VariantThumb64, VariantThumb256:
		return Variant(v), true
	}
	return "", false
}

// Quota is a user's storage use and limits.
type Quota struct {
	UsedBytes, ReservedBytes, LimitBytes int64
	MaxAvatarBytes, MaxAttachmentBytes   int64
}

// UploadForm is a presigned POST form for object storage.
type UploadForm struct {
	URL       string
	Fields    map[string]string
	ExpiresAt time.Time
}

// ChatAccess is what a user may do in a chat (parley.chat.v1.CheckChatAccessResponse).
type ChatAccess struct {
	Participant bool
	CanSend     bool
}
