package mediaclient_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/rpctest"

	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/services/profile/internal/mediaclient"
	"github.com/parleyhq/parley/services/profile/internal/profile"
)

// secret is what the media service's own error messages say in these tests: an internal detail
// that must never reach the profile service's caller.
const secret = "dial tcp 10.0.3.7:5432: parley_media password authentication failed"

// mediaStandIn stands in for the media service (another module): the generated handler over
// h2c, answering GetFile with file, or with err.
type mediaStandIn struct {
	mediav1connect.UnimplementedMediaServiceHandler
	mu   sync.Mutex
	file *mediav1.File
	err  error
}

func (m *mediaStandIn) GetFile(context.Context, *connect.Request[mediav1.GetFileRequest]) (*connect.Response[mediav1.GetFileResponse], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return connect.NewResponse(&mediav1.GetFileResponse{File: m.file}), nil
}

func (m *mediaStandIn) answer(f *mediav1.File, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.file, m.err = f, err
}

func newMedia(t *testing.T) (*mediaStandIn, *mediaclient.Client) {
	t.Helper()
	m := &mediaStandIn{}
	_, h := mediav1connect.NewMediaServiceHandler(m)
	s := rpctest.Serve(t, h)
	return m, mediaclient.New(nil, s.URL)
}

// mediaErr is an error as the media service sends it: its code, its message and metadata of its own.
func mediaErr(code connect.Code) error {
	err := connect.NewError(code, errors.New(secret))
	err.Meta().Set("X-Media-Internal", secret)
	return err
}

// Every answer of the media service becomes one of profile's own errors: the sentinel its code
// means, profile's own message, and never media's *connect.Error as the error itself (the rpc
// layer would send that on as it is, with media's code, message and metadata; one further down the
// chain it ignores, see TestSetAvatar in profilerpc). The cause stays in the chain for
// the log.
func TestMediaErrorsBecomeProfilesOwn(t *testing.T) {
	m, c := newMedia(t)
	owner, id := uuid.NewString(), uuid.NewString()
	cases := []struct {
		code   connect.Code
		kind   error // nil: Internal for the caller (no sentinel)
		prefix string
	}{
		{connect.CodeNotFound, domainerr.ErrNotFound, "file_id: no file " + id},
		{connect.CodePermissionDenied, domainerr.ErrPermissionDenied, "file_id: the file is not yours"},
		{connect.CodeInvalidArgument, domainerr.ErrInvalidArgument, "file_id: " + id + " is not a file the media service accepts"},
		{connect.CodeUnauthenticated, domainerr.ErrUnauthenticated, "the media service did not accept your access token"},
		{connect.CodeUnavailable, domainerr.ErrUnavailable, "the media service cannot be reached"},
		{connect.CodeDeadlineExceeded, domainerr.ErrUnavailable, "the media service cannot be reached"},
		{connect.CodeResourceExhausted, domainerr.ErrUnavailable, "the media service cannot be reached"},
		{connect.CodeCanceled, domainerr.ErrUnavailable, "the media service cannot be reached"},
		{connect.CodeInternal, nil, "media GetFile " + id},
		{connect.CodeFailedPrecondition, nil, "media GetFile " + id},
		{connect.CodeUnimplemented, nil, "media GetFile " + id},
	}
	sentinels := []error{domainerr.ErrNotFound, domainerr.ErrPermissionDenied, domainerr.ErrInvalidArgument, domainerr.ErrUnauthenticated,
		domainerr.ErrUnavailable, domainerr.ErrFailedPrecondition, domainerr.ErrAlreadyExists}
	for _, tc := range cases {
		t.Run(tc.code.String(), func(t *testing.T) {
			m.answer(nil, mediaErr(tc.code))
			_, err := c.AvatarFile(context.Background(), owner, id)
			if err == nil {
				t.Fatal("no error")
			}
			if ce, ok := err.(*connect.Error); ok { //nolint:errorlint // only a top-level one reaches our caller
				t.Fatalf("%v: media's *connect.Error (%v) is returned as it is; it would reach our caller", err, ce.Code())
			}
			if !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Fatalf("message %q, want it to start with %q", err.Error(), tc.prefix)
			}
			for _, s := range sentinels {
				want := tc.kind != nil && errors.Is(tc.kind, s) // the sentinels are distinct values
				if errors.Is(err, s) != want {
					t.Fatalf("%v: errors.Is(%v) = %v, want only %v", err, s, errors.Is(err, s), tc.kind)
				}
			}
			var pe *domainerr.Error
			if tc.kind != nil {
				// What a person is shown is profile's own message; media's stays in the cause.
				if !errors.As(err, &pe) || strings.Contains(pe.Error(), secret) {
					t.Fatalf("%v: want a profile.Error whose message does not carry media's", err)
				}
				if errs := pe.Unwrap(); len(errs) != 2 || !strings.Contains(errs[1].Error(), secret) {
					t.Fatalf("%v: want media's answer kept as the cause, for the log", err)
				}
			} else if !strings.Contains(err.Error(), secret) {
				// Internal for the caller (generic message); the text is only logged.
				t.Fatalf("%v: want media's answer in the logged text", err)
			}
		})
	}
}

func TestAvatarFileAnswers(t *testing.T) {
	m, c := newMedia(t)
	owner, id := uuid.NewString(), uuid.NewString()
	ready := &mediav1.File{FileId: id, OwnerId: owner, Purpose: mediav1.FilePurpose_FILE_PURPOSE_AVATAR, Status: mediav1.FileStatus_FILE_STATUS_READY,
		Url: "https://gw/media/files/" + id + "/original", Thumbnail_64Url: "https://gw/media/files/" + id + "/64", Thumbnail_256Url: "https://gw/media/files/" + id + "/256"}
	m.answer(ready, nil)
	a, err := c.AvatarFile(context.Background(), owner, id)
	if err != nil || a != (profile.Avatar{FileID: id, URL: ready.GetUrl(), Thumbnail64URL: ready.GetThumbnail_64Url(), Thumbnail256URL: ready.GetThumbnail_256Url()}) {
		t.Fatalf("AvatarFile = %+v, %v; want the media service's URLs as given", a, err)
	}
	if _, err := c.AvatarFile(context.Background(), uuid.NewString(), id); !errors.Is(err, domainerr.ErrPermissionDenied) {
		t.Fatalf("someone else's file: %v, want PermissionDenied", err)
	}

	// The caller going away is the caller's error, not the media service's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.AvatarFile(ctx, owner, id); !errors.Is(err, context.Canceled) || errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("caller gone: %v, want context.Canceled", err)
	}
}

func TestUnreachableMediaIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = mediaclient.New(nil, "http://"+addr).AvatarFile(context.Background(), uuid.NewString(), uuid.NewString())
	if _, ok := err.(*connect.Error); !errors.Is(err, domainerr.ErrUnavailable) || ok { //nolint:errorlint // only a top-level one reaches our caller
		t.Fatalf("closed port: %v, want ErrUnavailable, not a *connect.Error of its own", err)
	}
}
