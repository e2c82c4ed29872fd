// Package mediastorage keeps the media service's bytes in S3 (aws-sdk-go-v2): presigned POST
// forms for browsers, object checks, server-side copies, reads for image processing and
// downloads. It works with AWS S3 and any S3-compatible server (MinIO, versitygw) by
// configuration alone: path-style addressing for every endpoint that is not AWS's.
package mediastorage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/parleyhq/parley/services/media/internal/media"
)

// Config says where the bucket is.
type Config struct {
	// Endpoint is the S3 API the service itself talks to, e.g. "http://127.0.0.1:9000" or
	// "https://s3.eu-central-1.amazonaws.com".
	Endpoint string
	// PublicEndpoint is the S3 API as browsers reach it (the upload form's URL); default Endpoint.
	PublicEndpoint string
	Region         string
	AccessKey      string
	SecretKey      string
	Bucket         string
	// HTTPClient, when set, carries the service's own requests.
	HTTPClient *http.Client
}

// Store implements media.Objects.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

var _ media.Objects = (*Store)(nil)

// New returns a store over cfg. Nothing is contacted until the first call.
func New(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket configured (S3_BUCKET)")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: no credentials configured (S3_ACCESS_KEY, S3_SECRET_KEY)")
	}
	if cfg.PublicEndpoint == "" {
		cfg.PublicEndpoint = cfg.Endpoint
	}
	client, err := newClient(cfg, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	public, err := newClient(cfg, cfg.PublicEndpoint)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, presign: s3.NewPresignClient(public), bucket: cfg.Bucket}, nil
}

func newClient(cfg Config, endpoint string) (*s3.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3: endpoint %q must look like http://127.0.0.1:9000 or https://s3.eu-central-1.amazonaws.com", endpoint)
	}
	opts := s3.Options{
		BaseEndpoint: aws.String(strings.TrimSuffix(endpoint, "/")),
		Region:       cfg.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		// AWS resolves buckets as virtual hosts; other servers are addressed by path.
		UsePathStyle: !strings.HasSuffix(u.Hostname(), ".amazonaws.com"),
		// Checksums only where S3 requires them: not every S3-compatible server accepts the
		// SDK's default trailing checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	return s3.New(opts), nil
}

// PresignPost implements media.Objects. The policy pins the bucket, the key, the Content-Type
// (an exact match) and the body size (1 to maxSize bytes); the form fields include the
// Content-Type, so a client sends it unchanged.
func (s *Store) PresignPost(ctx context.Context, key, contentType string, maxSize int64, ttl time.Duration) (media.UploadForm, error) {
	req, err := s.presign.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = ttl
			o.Conditions = []any{
				map[string]string{"key": key},
				[]any{"eq", "$Content-Type", contentType},
				[]any{"content-length-range", 1, maxSize},
			}
		})
	if err != nil {
		return media.UploadForm{}, fmt.Errorf("presign POST for %s: %w", key, err)
	}
	fields := make(map[string]string, len(req.Values)+1)
	for k, v := range req.Values {
		fields[k] = v
	}
	fields["Content-Type"] = contentType
	return media.UploadForm{URL: req.URL, Fields: fields, ExpiresAt: time.Now().Add(ttl)}, nil
}

// Stat implements media.Objects.
func (s *Store) Stat(ctx context.Context, key string) (media.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return media.ObjectInfo{}, wrap("stat", key, err)
	}
	return media.ObjectInfo{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}, nil
}

// ReadHead implements media.Objects.
func (s *Store) ReadHead(ctx context.Context, key string, n int64) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=0-%d", n-1))})
	if err != nil {
		return nil, wrap("read", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, n))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// ErrTooLong is returned by ReadAll for an object longer than asked for.
var ErrTooLong = errors.New("object is longer than allowed")

// ReadAll implements media.Objects.
func (s *Store) ReadAll(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, wrap("read", key, err)
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > maxBytes {
		return nil, fmt.Errorf("read %s: %w (%d > %d bytes)", key, ErrTooLong, n, maxBytes)
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("read %s: %w (over %d bytes)", key, ErrTooLong, maxBytes)
	}
	return b, nil
}

// Put implements media.Objects.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType, disposition string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ContentType: aws.String(contentType), ContentDisposition: aws.String(disposition),
	})
	return wrap("put", key, err)
}

// Copy implements media.Objects.
func (s *Store) Copy(ctx context.Context, src, dst, contentType, disposition string) error {
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(dst),
		CopySource:        aws.String(s.bucket + "/" + src),
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       aws.String(contentType), ContentDisposition: aws.String(disposition),
	})
	return wrap("copy "+src+" to", dst, err)
}

// Delete implements media.Objects.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	var errs []error
	for _, k := range keys {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
		if err != nil && !errors.Is(wrap("", k, err), media.ErrObjectNotFound) {
			errs = append(errs, wrap("delete", k, err))
		}
	}
	return errors.Join(errs...)
}

// Open implements media.Objects.
func (s *Store) Open(ctx context.Context, key, rng string) (media.Object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return media.Object{}, wrap("open", key, err)
	}
	obj := media.Object{Body: out.Body, Size: aws.ToInt64(out.ContentLength), Total: aws.ToInt64(out.ContentLength),
		ContentRange: aws.ToString(out.ContentRange)}
	if obj.ContentRange != "" {
		if _, total, ok := strings.Cut(obj.ContentRange, "/"); ok {
			_, _ = fmt.Sscan(total, &obj.Total)
		}
	}
	return obj, nil
}

// Ping checks the bucket answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", s.bucket, err)
	}
	return nil
}

// wrap turns S3's "not found" answers into media.ErrObjectNotFound and adds context.
func wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *awshttp.ResponseError
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf):
		return fmt.Errorf("%s %s: %w", op, key, media.ErrObjectNotFound)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", op, key, media.ErrObjectNotFound)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%s %s: %w", op, key, media.ErrRangeNotSatisfiable)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}
