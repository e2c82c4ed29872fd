// Package mediaclient asks the media service (parley.media.v1) about files — attachments being
// sent, and the URLs of attachments being read — with a generated Connect client over gRPC.
//
// Calls are made on behalf of the user of the request: their access token is forwarded
// (authn.ForwardToken), so the media service applies its own access rules and returns only the
// files that user may see. The internal token (INTERNAL_API_TOKEN, header X-Parley-Internal-Token)
// is sent only on calls made for no user: with it the media service returns every file named
// without checking access, so it must never accompany a user's call (a reader would then get URLs
// of files the media service would not show them).
package mediaclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/sync/errgroup"

	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/defaults"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/chat/internal/chat"
)

// DefaultTimeout bounds one BatchGetFiles call.
const DefaultTimeout = 2 * time.Second

// MaxBatch is the most ids the media service takes in one BatchGetFiles call.
const MaxBatch = 100

// Client implements chat.Files.
type Client struct {
	media   mediav1connect.MediaServiceClient
	timeout time.Duration
}

var _ chat.Files = (*Client)(nil)

// New returns a client for the media service at baseURL ("http://127.0.0.1:8086"). httpClient
// must speak HTTP/2 without TLS (h2c) for gRPC; nil means a suitable default. internalToken is
// INTERNAL_API_TOKEN ("" for none), sent only on calls whose context carries no user. timeout <= 0
// means DefaultTimeout.
func New(httpClient connect.HTTPClient, baseURL, internalToken string, timeout time.Duration) *Client {
	if httpClient == nil {
		httpClient = server.H2CClient()
	}
	timeout = defaults.Positive(timeout, DefaultTimeout)
	interceptors := connect.WithInterceptors(authn.ForwardToken(), authn.SendInternalTokenWithoutUser(internalToken))
	return &Client{
		media:   mediav1connect.NewMediaServiceClient(httpClient, baseURL, connect.WithGRPC(), interceptors),
		timeout: timeout,
	}
}

// Files implements chat.Files with BatchGetFiles: one call for up to MaxBatch distinct ids; more
// are split into calls of MaxBatch made at once. Ids the media service leaves out (unknown, or not
// visible to the user) are missing from the map.
func (c *Client) Files(ctx context.Context, ids []string) (map[string]chat.File, error) {
	var unique []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		id = strings.ToLower(id)
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return map[string]chat.File{}, nil
	}
	var chunks [][]string
	for start := 0; start < len(unique); start += MaxBatch {
		chunks = append(chunks, unique[start:min(start+MaxBatch, len(unique))])
	}
	results := make([][]*mediav1.File, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	for i, chunk := range chunks {
		g.Go(func() error {
			files, err := c.batch(ctx, gctx, chunk)
			results[i] = files
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]chat.File, len(unique))
	for _, files := range results {
		for _, f := range files {
			if id := strings.ToLower(f.GetFileId()); seen[id] {
				out[id] = fileOf(f)
			}
		}
	}
	return out, nil
}

// batch makes one BatchGetFiles call under the client's deadline. parent is the request's own
// context: when it has ended, that is the error, not the media service's.
func (c *Client) batch(parent, ctx context.Context, ids []string) ([]*mediav1.File, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.media.BatchGetFiles(ctx, connect.NewRequest(&mediav1.BatchGetFilesRequest{FileIds: ids}))
	if err == nil {
		return res.Msg.GetFiles(), nil
	}
	return nil, server.PeerError(parent, "media", fmt.Errorf("media BatchGetFiles (%d ids): %w", len(ids), err))
}

func fileOf(f *mediav1.File) chat.File {
	out := chat.File{
		ID:           strings.ToLower(f.GetFileId()),
		OwnerID:      strings.ToLower(f.GetOwnerId()),
		Purpose:      chat.FilePurpose(f.GetPurpose().String()),
		Status:       chat.FileStatus(f.GetStatus().String()),
		ChatID:       strings.ToLower(f.GetChatId()),
		Name:         f.GetName(),
		ContentType:  f.GetContentType(),
		SizeBytes:    f.GetSizeBytes(),
		Width:        f.GetWidth(),
		Height:       f.GetHeight(),
		URL:          f.GetUrl(),
		ThumbnailURL: f.GetThumbnail_256Url(),
	}
	if f.GetUrlExpiresAt() != nil {
		out.URLExpiresAt = f.GetUrlExpiresAt().AsTime().UTC()
	}
	return out
}
