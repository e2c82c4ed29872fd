package mediaclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/mediaclient"
)

// recorder stands in for the media service (another module): the generated handler over h2c,
// recording the headers and ids of each BatchGetFiles call and answering with every id named, or
// with a set error. (The access rules and the use of the answers are tested through the chat
// handler in chatrpc.)
type recorder struct {
	mediav1connect.UnimplementedMediaServiceHandler
	mu    sync.Mutex
	calls []call
	err   error
}

type call struct {
	authorization, internal string
	ids                     []string
}

func (r *recorder) BatchGetFiles(_ context.Context, req *connect.Request[mediav1.BatchGetFilesRequest]) (*connect.Response[mediav1.BatchGetFilesResponse], error) {
	r.mu.Lock()
	r.calls = append(r.calls, call{req.Header().Get("Authorization"), req.Header().Get(authn.InternalTokenHeader), req.Msg.GetFileIds()})
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(req.Msg.GetFileIds()) > mediaclient.MaxBatch {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("file_ids: at most 100 ids per call"))
	}
	res := &mediav1.BatchGetFilesResponse{}
	for _, id := range req.Msg.GetFileIds() {
		res.Files = append(res.Files, &mediav1.File{FileId: id, OwnerId: "OWNER", Purpose: mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT,
			Status: mediav1.FileStatus_FILE_STATUS_READY, Name: "n-" + id[:4], Url: "u", Thumbnail_64Url: "t64", Thumbnail_256Url: "t256"})
	}
	return connect.NewResponse(res), nil
}

func (r *recorder) log() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func start(t *testing.T) (*recorder, string) {
	r := &recorder{}
	mux := http.NewServeMux()
	mux.Handle(mediav1connect.NewMediaServiceHandler(r))
	hs := rpctest.Serve(t, mux)
	return r, hs.URL
}

func forUser(userID string) context.Context {
	return authn.WithPrincipal(context.Background(), authn.Principal{UserID: userID, Token: "token-of-" + userID})
}

// A user's call carries their token and never the internal token (with it the media service
// would skip its access rules); a call made for no user carries the internal token.
func TestTokens(t *testing.T) {
	rec, url := start(t)
	c := mediaclient.New(nil, url, "internal-secret", time.Second)
	id := uuid.NewString()
	files, err := c.Files(forUser("alice"), []string{strings.ToUpper(id)})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := files[id]
	if !ok || f.ID != id || f.OwnerID != "owner" || f.Purpose != chat.PurposeAttachment || f.Status != chat.StatusReady || f.ThumbnailURL != "t256" {
		t.Fatalf("files %+v; want the file by its lower-case id, owner lower-cased, the 256 thumbnail", files)
	}
	if _, err := c.Files(context.Background(), []string{id}); err != nil {
		t.Fatal(err)
	}
	if got := rec.log(); len(got) != 2 ||
		got[0].authorization != "Bearer token-of-alice" || got[0].internal != "" ||
		got[1].authorization != "" || got[1].internal != "internal-secret" {
		t.Fatalf("calls %+v; want alice's token alone, then the internal token alone", got)
	}
}

// More ids than one call takes are split into calls of at most 100, and repeats are asked once.
func TestManyIDsAreSplit(t *testing.T) {
	rec, url := start(t)
	c := mediaclient.New(nil, url, "", time.Second)
	var ids []string
	for range 250 {
		ids = append(ids, uuid.NewString())
	}
	files, err := c.Files(forUser("bob"), append(ids, ids[:10]...))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 250 {
		t.Fatalf("%d files; want 250", len(files))
	}
	total := 0
	calls := rec.log()
	for _, call := range calls {
		if len(call.ids) > mediaclient.MaxBatch {
			t.Fatalf("a call with %d ids", len(call.ids))
		}
		total += len(call.ids)
	}
	if len(calls) != 3 || total != 250 {
		t.Fatalf("%d calls for %d ids; want 3 calls for 250", len(calls), total)
	}
	if _, err := c.Files(forUser("bob"), nil); err != nil || len(rec.log()) != 3 {
		t.Fatalf("no ids: %v, %d calls; want no call", err, len(rec.log()))
	}
}

// The media service's errors become the chat domain's; its *connect.Error (code and message) never
// passes through.
func TestErrors(t *testing.T) {
	rec, url := start(t)
	c := mediaclient.New(nil, url, "", time.Second)
	cases := []struct {
		code connect.Code
		want error // nil: none of the sentinels (Internal, cause logged)
	}{
		{connect.CodeUnavailable, domainerr.ErrUnavailable},
		{connect.CodeDeadlineExceeded, domainerr.ErrUnavailable},
		{connect.CodeResourceExhausted, domainerr.ErrUnavailable},
		{connect.CodeUnauthenticated, domainerr.ErrUnauthenticated},
		{connect.CodePermissionDenied, nil},
		{connect.CodeInvalidArgument, nil},
		{connect.CodeInternal, nil},
	}
	for _, tc := range cases {
		rec.mu.Lock()
		rec.err = connect.NewError(tc.code, errors.New("media secret detail"))
		rec.mu.Unlock()
		_, err := c.Files(forUser("carol"), []string{uuid.NewString()})
		_, isConnect := err.(*connect.Error) //nolint:errorlint // only a top-level one reaches our caller
		switch {
		case err == nil:
			t.Fatalf("%v: no error", tc.code)
		case isConnect:
			t.Fatalf("%v: %v passes the media service's *connect.Error through", tc.code, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Fatalf("%v: %v; want %v", tc.code, err, tc.want)
		case tc.want != nil && strings.Contains(err.Error(), "secret detail"):
			t.Fatalf("%v: message %q shows the media service's message", tc.code, err.Error())
		case tc.want == nil && (errors.Is(err, domainerr.ErrUnavailable) || errors.Is(err, domainerr.ErrInvalidArgument)):
			t.Fatalf("%v: %v; want an internal error", tc.code, err)
		}
	}
}

// A media service nobody answers for is Unavailable.
func TestUnreachableMediaServiceIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	c := mediaclient.New(nil, "http://"+addr, "", time.Second)
	if _, err := c.Files(forUser("dave"), []string{uuid.NewString()}); !errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("Files against a closed port: %v; want ErrUnavailable", err)
	}
}

// The caller going away is its own error, not the media service's.
func TestCallerGoneIsNotUnavailable(t *testing.T) {
	_, url := start(t)
	c := mediaclient.New(nil, url, "", time.Second)
	ctx, cancel := context.WithCancel(forUser("erin"))
	cancel()
	if _, err := c.Files(ctx, []string{uuid.NewString()}); !errors.Is(err, context.Canceled) || errors.Is(err, domainerr.ErrUnavailable) {
		t.Fatalf("Files with the caller gone: %v; want context.Canceled", err)
	}
}
