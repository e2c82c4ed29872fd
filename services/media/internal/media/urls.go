package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FilesPath is the path prefix of the download route: GET <public URL>/media/files/<id>/<variant>.
const FilesPath = "/media/files/"

// URLSigner makes download URLs. Avatars get stable URLs anyone may fetch; everything else gets
// URLs that carry an expiry and an HMAC-SHA256 signature over the file id, the variant and the
// expiry, checked by the download route (like an S3 presigned URL, but served by this service so
// the response headers — Content-Type, nosniff, Content-Disposition — are always its own).
type URLSigner struct {
	base string
	key  []byte
	ttl  time.Duration
}

// NewURLSigner returns a signer of URLs under base (the public origin, e.g.
// "https://parley.example"), signing with key, valid for ttl.
func NewURLSigner(base string, key []byte, ttl time.Duration) *URLSigner {
	return &URLSigner{base: strings.TrimSuffix(base, "/"), key: key, ttl: ttl}
}

// FileURLs are a READY file's download URLs.
type FileURLs struct {
	Original, Thumb64, Thumb256 string
	// ExpiresAt is when they stop working; zero for avatars (they do not expire).
	ExpiresAt time.Time
}

// URLs returns f's download URLs as of now; none unless f is READY.
func (u *URLSigner) URLs(f File, now time.Time) FileURLs {
	if f.Status != StatusReady {
		return FileURLs{}
	}
	var exp time.Time
	if f.Purpose != PurposeAvatar {
		// Rounded up to the minute, so URLs issued within a minute are identical and a browser
		// cache can reuse the download; a URL lives between ttl and ttl plus a minute.
		exp = now.Truncate(time.Minute).Add(u.ttl + time.Minute).UTC()
	}
	out := FileURLs{Original: u.url(f.ID, VariantOriginal, exp), ExpiresAt: exp}
	if f.ThumbType != "" {
		out.Thumb64 = u.url(f.ID, VariantThumb64, exp)
		out.Thumb256 = u.url(f.ID, VariantThumb256, exp)
	}
	return out
}

func (u *URLSigner) url(id string, v Variant, exp time.Time) string {
	s := u.base + FilesPath + id + "/" + string(v)
	if exp.IsZero() {
		return s
	}
	e := strconv.FormatInt(exp.Unix(), 10)
	return s + "?" + url.Values{"expires": {e}, "sig": {u.sign(id, v, e)}}.Encode()
}

func (u *URLSigner) sign(id string, v Variant, expires string) string {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte("parley-media-url-v1\n" + id + "\n" + string(v) + "\n" + expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrLinkExpired = errors.New("this link has expired; ask for the file again to get a fresh one")
	ErrLinkInvalid = errors.New("this link is not valid")
)

// Verify checks a signed URL's expires and sig query values for variant v of file id at now.
func (u *URLSigner) Verify(id string, v Variant, expires, sig string, now time.Time) error {
	if expires == "" || sig == "" {
		return ErrLinkInvalid
	}
	if !hmac.Equal([]byte(sig), []byte(u.sign(id, v, expires))) {
		return ErrLinkInvalid
	}
	e, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return ErrLinkInvalid
	}
	if !now.Before(time.Unix(e, 0)) {
		return ErrLinkExpired
	}
	return nil
}
