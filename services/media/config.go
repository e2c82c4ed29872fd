package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/platform/config"
	"github.com/parleyhq/parley/services/media/internal/media"
)

// Config is the media service's whole configuration, read from the environment.
type Config struct {
	config.Common
	config.Service // LISTEN_ADDR, DATABASE_URL, DATABASE_WAIT, SHUTDOWN_TIMEOUT

	config.Redis    // REDIS_URL
	config.ChatPeer // CHAT_URL
	config.AuthJWKS // AUTH_JWKS_URL
	// INTERNAL_API_TOKEN authorises service-to-service calls of internal methods. Empty:
	// BatchGetFiles answers only on a user's behalf.
	config.InternalAPI
	config.InternalAPIAccepted // INTERNAL_API_TOKEN_ACCEPTED

	config.MediaPublic // MEDIA_PUBLIC_URL: the origin download URLs start with
	// URLSigningKey signs attachment URLs; every replica needs the same. Empty: derived from
	// S3_SECRET_KEY.
	URLSigningKey string `env:"URL_SIGNING_KEY" secret:"true"`

	config.S3Endpoints        // S3_ENDPOINT, S3_PUBLIC_ENDPOINT (the upload form's URL; empty: S3_ENDPOINT)
	S3Region           string `env:"S3_REGION" envDefault:"us-east-1"`
	S3AccessKey        string `env:"S3_ACCESS_KEY" secret:"true"`
	S3SecretKey        string `env:"S3_SECRET_KEY" secret:"true"`
	S3Bucket           string `env:"S3_BUCKET" envDefault:"parley-media"`

	MaxAvatarBytes     int64 `env:"MAX_AVATAR_BYTES" envDefault:"5242880"`      // 5 MiB
	MaxAttachmentBytes int64 `env:"MAX_ATTACHMENT_BYTES" envDefault:"26214400"` // 25 MiB
	QuotaBytes         int64 `env:"MEDIA_QUOTA_BYTES" envDefault:"104857600"`   // 100 MiB
	MaxPendingUploads  int   `env:"MAX_PENDING_UPLOADS" envDefault:"20"`
	MaxImageSide       int   `env:"MAX_IMAGE_SIDE" envDefault:"8192"`
	MaxImagePixels     int64 `env:"MAX_IMAGE_PIXELS" envDefault:"25000000"`
	MaxGIFFrames       int   `env:"MAX_GIF_FRAMES" envDefault:"1000"`
	// MaxImageOutputBytes bounds a re-encoded image (WebP → PNG can grow a lot).
	MaxImageOutputBytes int64         `env:"MAX_IMAGE_OUTPUT_BYTES" envDefault:"52428800"` // 50 MiB
	ImageWorkers        int           `env:"IMAGE_WORKERS" envDefault:"2"`
	ImageTimeout        time.Duration `env:"IMAGE_TIMEOUT" envDefault:"30s"`

	UploadTTL          time.Duration `env:"UPLOAD_TTL" envDefault:"15m"`
	URLTTL             time.Duration `env:"URL_TTL" envDefault:"5m"`
	ChatAccessCacheTTL time.Duration `env:"CHAT_ACCESS_CACHE_TTL" envDefault:"1m"`
	JanitorInterval    time.Duration `env:"JANITOR_INTERVAL" envDefault:"1m"`
	RejectedRetention  time.Duration `env:"REJECTED_RETENTION" envDefault:"24h"`
}

// defaults is where this service's LISTEN_ADDR and DATABASE_URL defaults come from (config.Start).
var defaults = Config{Service: config.ServiceDefaults("media", 8086)}

// validate refuses configurations the service cannot run with, naming every problem.
func (c Config) validate() error {
	errs := config.Positive(map[string]int64{
		"MAX_AVATAR_BYTES": c.MaxAvatarBytes, "MAX_ATTACHMENT_BYTES": c.MaxAttachmentBytes, "MEDIA_QUOTA_BYTES": c.QuotaBytes,
		"MAX_PENDING_UPLOADS": int64(c.MaxPendingUploads), "MAX_IMAGE_SIDE": int64(c.MaxImageSide),
		"MAX_IMAGE_PIXELS": c.MaxImagePixels, "IMAGE_WORKERS": int64(c.ImageWorkers),
		"MAX_GIF_FRAMES": int64(c.MaxGIFFrames), "MAX_IMAGE_OUTPUT_BYTES": c.MaxImageOutputBytes,
	})
	errs = append(errs, config.Positive(map[string]time.Duration{
		"UPLOAD_TTL": c.UploadTTL, "URL_TTL": c.URLTTL, "JANITOR_INTERVAL": c.JanitorInterval, "IMAGE_TIMEOUT": c.ImageTimeout,
		// 0 or less would have the janitor delete a rejection before its uploader could read why.
		"REJECTED_RETENTION": c.RejectedRetention,
	})...)
	if c.UploadTTL > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("UPLOAD_TTL %v is over S3's 7-day limit for presigned forms", c.UploadTTL))
	}
	if c.S3AccessKey == "" || c.S3SecretKey == "" {
		errs = append(errs, errors.New("S3_ACCESS_KEY and S3_SECRET_KEY are required"))
	}
	if c.URLSigningKey != "" && len(c.URLSigningKey) < 32 {
		errs = append(errs, errors.New("URL_SIGNING_KEY must be at least 32 characters"))
	}
	return errors.Join(errs...)
}

func (c Config) limits() media.Limits {
	return media.Limits{
		MaxAvatarBytes: c.MaxAvatarBytes, MaxAttachmentBytes: c.MaxAttachmentBytes, QuotaBytes: c.QuotaBytes,
		MaxPendingUploads: c.MaxPendingUploads, MaxImageSide: c.MaxImageSide, MaxImagePixels: c.MaxImagePixels,
		MaxGIFFrames: c.MaxGIFFrames, MaxImageOutputBytes: c.MaxImageOutputBytes,
		UploadTTL: c.UploadTTL,
	}
}

// signingKey is URL_SIGNING_KEY, or a key derived from S3_SECRET_KEY (which every replica has).
func (c Config) signingKey() []byte {
	if c.URLSigningKey != "" {
		return []byte(c.URLSigningKey)
	}
	m := hmac.New(sha256.New, []byte(c.S3SecretKey))
	m.Write([]byte("parley media url signing key v1"))
	return m.Sum(nil)
}
