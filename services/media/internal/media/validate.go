package media

import (
	"fmt"
	"mime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/platform/validate"
)

// The raster image types CompleteUpload decodes, re-encodes and makes thumbnails of.
const (
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
	TypeGIF  = "image/gif"
	TypeWebP = "image/webp"
)

// IsImage reports whether content type ct (parameters ignored) is one of the raster image types
// this service processes. Only these are ever served inline; everything else is a download.
func IsImage(ct string) bool {
	switch essence(ct) {
	case TypePNG, TypeJPEG, TypeGIF, TypeWebP:
		return true
	}
	return false
}

// AvatarTypes are the content types an avatar may have.
var AvatarTypes = []string{TypeJPEG, TypePNG, TypeWebP}

func avatarType(ct string) bool {
	switch essence(ct) {
	case TypeJPEG, TypePNG, TypeWebP:
		return true
	}
	return false
}

// essence is a content type without parameters, lower-cased ("text/plain; charset=utf-8" →
// "text/plain").
func essence(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// MaxFileNameLength is the longest file name accepted, in characters.
const MaxFileNameLength = 255

// UploadRequest is CreateUpload's input.
type UploadRequest struct {
	Purpose     Purpose
	FileName    string
	ContentType string
	Size        int64
	ChatID      string
}

// validate checks r against limits and returns it normalised (content type canonical, chat id in
// canonical UUID form), or an domainerr.ErrInvalidArgument naming every bad field.
func (r UploadRequest) validate(lim Limits) (UploadRequest, error) {
	var problems validate.Problems

	var maxSize int64
	switch r.Purpose {
	case PurposeAvatar:
		maxSize = lim.MaxAvatarBytes
	case PurposeAttachment:
		maxSize = lim.MaxAttachmentBytes
	default:
		problems.Addf("purpose: required; FILE_PURPOSE_AVATAR or FILE_PURPOSE_ATTACHMENT")
	}

	if msg := checkFileName(r.FileName); msg != "" {
		problems.Addf("file_name: %s", msg)
	}

	ct, msg := normaliseContentType(r.ContentType)
	switch {
	case msg != "":
		problems.Addf("content_type: %s", msg)
	case r.Purpose == PurposeAvatar && (!avatarType(ct) || ct != essence(ct)):
		problems.Addf("content_type: %q is not allowed for avatars; use image/jpeg, image/png or image/webp", r.ContentType)
	}
	r.ContentType = ct

	switch {
	case r.Size < 1:
		problems.Addf("size_bytes: must be at least 1 (the file's exact size in bytes)")
	case maxSize > 0 && r.Size > maxSize:
		size, limit := HumanBytesPair(r.Size, maxSize)
		problems.Addf("size_bytes: %s is over the %s limit of %s", size, r.Purpose, limit)
	}

	switch r.Purpose {
	case PurposeAvatar:
		if r.ChatID != "" {
			problems.Addf("chat_id: must be empty for avatars")
		}
	case PurposeAttachment:
		if r.ChatID == "" {
			problems.Addf("chat_id: required for attachments (the chat the file will be sent in)")
		} else if id, err := validate.UUID("chat_id", r.ChatID); err != nil {
			problems.Add(err)
		} else {
			r.ChatID = id
		}
	}

	return r, problems.Err()
}

func checkFileName(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "must be valid UTF-8"
	case strings.TrimSpace(name) == "":
		return "required (the file's name, for display)"
	case utf8.RuneCountInString(name) > MaxFileNameLength:
		return fmt.Sprintf("at most %d characters", MaxFileNameLength)
	case strings.ContainsAny(name, `/\`):
		return "must be a plain name without path separators (/ or \\)"
	case name == "." || name == "..":
		return "must be a file name, not . or .."
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return "must not contain control characters"
		case r == unicode.ReplacementChar:
			return "must not contain U+FFFD, the mark of a name whose encoding was lost on the way"
		}
	}
	return ""
}

// normaliseContentType parses a declared content type and returns its canonical form
// ("Text/Plain; Charset=UTF-8" → "text/plain; charset=UTF-8"), or a problem.
func normaliseContentType(ct string) (string, string) {
	if ct == "" {
		return "", `required, e.g. "image/png"`
	}
	if len(ct) > 255 {
		return "", "at most 255 characters"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") || strings.HasSuffix(mt, "/") || strings.HasPrefix(mt, "/") {
		return "", fmt.Sprintf("%q is not a content type like image/png", ct)
	}
	out := mime.FormatMediaType(mt, params)
	if out == "" {
		return "", fmt.Sprintf("%q is not a content type like image/png", ct)
	}
	return out, ""
}

// resolveType decides the stored content type of an upload from what was declared and what the
// bytes are (detected by their magic bytes), or rejects it.
//
//   - If either the declared or the detected type is a raster image type, both must be the same
//     type: an HTML file declared as image/png is a mismatch, and so is a PNG declared as
//     application/pdf. Avatars must be JPEG, PNG or WebP.
//   - Any other attachment is stored as what its bytes are (e.g. application/pdf, text/plain,
//     application/zip for a .docx, application/octet-stream when nothing is recognised). Such files
//     are only ever served as downloads, so the declared type does not have to agree.
func resolveType(p Purpose, declared, detected string) (string, *Rejection) {
	d, got := essence(declared), essence(detected)
	if IsImage(d) || IsImage(got) {
		if d != got {
			if p == PurposeAvatar && IsImage(got) && !avatarType(got) {
				return "", &Rejection{Reason: ReasonTypeNotAllowed,
					Message: fmt.Sprintf("the file is a %s image; avatars must be JPEG, PNG or WebP", strings.ToUpper(strings.TrimPrefix(got, "image/")))}
			}
			return "", &Rejection{Reason: ReasonTypeMismatch,
				Message: fmt.Sprintf("the file was declared as %s, but its content is %s", d, describeType(got))}
		}
		if p == PurposeAvatar && !avatarType(got) {
			return "", &Rejection{Reason: ReasonTypeNotAllowed, Message: fmt.Sprintf("%s is not allowed for avatars; use JPEG, PNG or WebP", got)}
		}
		return got, nil
	}
	if p == PurposeAvatar {
		return "", &Rejection{Reason: ReasonTypeNotAllowed, Message: fmt.Sprintf("the file is %s; avatars must be JPEG, PNG or WebP images", describeType(got))}
	}
	return detected, nil
}

func describeType(ct string) string {
	switch ct {
	case "application/octet-stream":
		return "not a recognised format"
	case "text/html":
		return "an HTML document (text/html)"
	}
	return ct
}

// HumanBytes formats n for people: "1 byte", "812 bytes", "3.4 KiB", "5 MiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n == 1 {
		return "1 byte"
	}
	if n < unit {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTP"[exp]) + "iB"
}

// HumanBytesPair formats two sizes a message compares ("a is over the limit of b"): HumanBytes of
// each, unless both round to the same text, when it gives the exact byte counts instead, so 5 MiB + 1
// byte against a 5 MiB limit reads "5242881 bytes" against "5242880 bytes", never "5 MiB" against
// "5 MiB".
func HumanBytesPair(a, b int64) (string, string) {
	ha, hb := HumanBytes(a), HumanBytes(b)
	if ha == hb && a != b {
		return strconv.FormatInt(a, 10) + " bytes", strconv.FormatInt(b, 10) + " bytes"
	}
	return ha, hb
}
