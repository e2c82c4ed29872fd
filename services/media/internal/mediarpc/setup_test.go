package mediarpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	chatv1 "github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/media/internal/chatclient"
	"github.com/parleyhq/parley/services/media/internal/media"
	"github.com/parleyhq/parley/services/media/internal/mediadb"
	"github.com/parleyhq/parley/services/media/internal/mediarpc"
	"github.com/parleyhq/parley/services/media/internal/mediastorage"
	"github.com/parleyhq/parley/services/media/internal/mediatest"
	"github.com/parleyhq/parley/services/media/internal/s3test"
)

// The tests run against a real S3 server (versitygw, one per package), Postgres (a database per
// test) and Redis; only the chat service is a stand-in.
func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

const internalToken = "internal-token-for-tests-0123456789"

// chatStandIn answers parley.chat.v1.ChatService/CheckChatAccess from a table. It stands in for
// the chat service, which lives in another module (and is being built alongside this one); it is
// the generated handler, so the media service's generated client, the gRPC protocol, the token
// forwarding and the internal token are exercised for real. It authorises like the real one is
// meant to: the forwarded token must be valid and belong to the user asked about.
type chatStandIn struct {
	chatv1connect.UnimplementedChatServiceHandler
	verifier *authn.Verifier

	mu       sync.Mutex
	access   map[string]media.ChatAccess // chat id + "/" + user id
	calls    int
	internal string
	down     bool
}

func (c *chatStandIn) CheckChatAccess(ctx context.Context, req *connect.Request[chatv1.CheckChatAccessRequest]) (*connect.Response[chatv1.CheckChatAccessResponse], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.internal = req.Header().Get(authn.InternalTokenHeader)
	if c.down {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("chat is down"))
	}
	p, err := c.verifier.Verify(ctx, authn.BearerToken(req.Header().Get("Authorization")))
	if err != nil || p.UserID != req.Msg.GetUserId() {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("not the caller's own access"))
	}
	a := c.access[req.Msg.GetChatId()+"/"+req.Msg.GetUserId()]
	return connect.NewResponse(&chatv1.CheckChatAccessResponse{IsParticipant: a.Participant, CanSend: a.CanSend}), nil
}

func (c *chatStandIn) set(chatID, userID string, a media.ChatAccess) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.access[chatID+"/"+userID] = a
}

func (c *chatStandIn) internalToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.internal
}

func (c *chatStandIn) setDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = true
}

func (c *chatStandIn) callCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// clock is the service's clock, moved by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	client mediav1connect.MediaServiceClient
	base   string // the media service's URL, also the public URL of downloads
	iss    *authntest.TokenIssuer
	chat   *chatStandIn
	pool   *pgxpool.Pool
	bucket string
	clock  *clock
	svc    *media.Service

	alice, bob, carol string
	chatID            string // alice and bob's chat; carol is a stranger
}

var defaultLimits = media.Limits{
	MaxAvatarBytes: 5 << 20, MaxAttachmentBytes: 25 << 20, QuotaBytes: 100 << 20, MaxPendingUploads: 20,
	MaxImageSide: 8192, MaxImagePixels: 25_000_000, UploadTTL: 15 * time.Minute,
}

func setup(t *testing.T, change ...func(*media.Limits)) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	lim := defaultLimits
	for _, c := range change {
		c(&lim)
	}
	e := &env{iss: authntest.New(t), clock: &clock{t: time.Now()}, alice: uuid.NewString(), bob: uuid.NewString(),
		carol: uuid.NewString(), chatID: uuid.NewString()}
	verifier := e.iss.Verifier()

	e.chat = &chatStandIn{verifier: verifier, access: map[string]media.ChatAccess{}}
	e.chat.set(e.chatID, e.alice, media.ChatAccess{Participant: true, CanSend: true})
	e.chat.set(e.chatID, e.bob, media.ChatAccess{Participant: true, CanSend: true})
	_, chatHandler := chatv1connect.NewChatServiceHandler(e.chat)
	chatSrv := rpctest.Serve(t, chatHandler)

	e.pool = eventstest.NewDB(t, "media", mediadb.Migrations)
	e.bucket = s3test.Bucket(t)
	objects, err := mediastorage.New(mediastorage.Config{Endpoint: s3test.Endpoint(), Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Bucket: e.bucket})
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	e.svc = media.NewService(media.Options{
		Store:   mediadb.New(e.pool, events.NewOutbox("media")),
		Objects: objects,
		Chats:   chatclient.New(nil, chatSrv.URL, internalToken, redistest.New(t), time.Minute, logger),
		URLs:    media.NewURLSigner(e.base, []byte("url-signing-key-for-tests-0123456789"), 5*time.Minute),
		Limits:  lim,
		Logger:  logger,
		Now:     e.clock.now,
	})
	auth := authn.NewInterceptor(verifier, mediarpc.PublicProcedures...)
	srv := server.New(logger, "")
	srv.Mount(mediav1connect.NewMediaServiceHandler(mediarpc.NewHandler(e.svc, authn.InternalTokens{internalToken}), server.HandlerOptions(logger, nil, auth)...))
	srv.Handle(mediarpc.DownloadPattern, mediarpc.NewDownload(e.svc, logger, e.clock.now))
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	e.client = mediav1connect.NewMediaServiceClient(hs.Client(), hs.URL)
	return e
}

func as[T any](t *testing.T, e *env, userID string, msg *T) *connect.Request[T] {
	t.Helper()
	req := connect.NewRequest(msg)
	if userID != "" {
		req.Header().Set("Authorization", "Bearer "+e.iss.Token(t, userID))
	}
	return req
}

// create asks for an upload form.
func (e *env) create(t *testing.T, user string, purpose mediav1.FilePurpose, name, ct string, size int, chatID string) *mediav1.CreateUploadResponse {
	t.Helper()
	res, err := e.client.CreateUpload(context.Background(), as(t, e, user, &mediav1.CreateUploadRequest{
		Purpose: purpose, FileName: name, ContentType: ct, SizeBytes: int64(size), ChatId: chatID}))
	if err != nil {
		t.Fatalf("CreateUpload %s: %v", name, err)
	}
	return res.Msg
}

// upload creates an upload and posts data with its form, as a browser would; it returns the id.
func (e *env) upload(t *testing.T, user string, purpose mediav1.FilePurpose, name, ct string, data []byte, chatID string) string {
	t.Helper()
	form := e.create(t, user, purpose, name, ct, len(data), chatID)
	if code, body := mediatest.PostForm(t, form.GetUploadUrl(), form.GetFormFields(), name, data); code/100 != 2 {
		t.Fatalf("POST %s: %d %s", name, code, body)
	}
	return form.GetFileId()
}

func (e *env) complete(t *testing.T, user, id string) (*mediav1.File, error) {
	t.Helper()
	res, err := e.client.CompleteUpload(context.Background(), as(t, e, user, &mediav1.CompleteUploadRequest{FileId: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetFile(), nil
}

func (e *env) mustComplete(t *testing.T, user, id string) *mediav1.File {
	t.Helper()
	f, err := e.complete(t, user, id)
	if err != nil {
		t.Fatalf("CompleteUpload %s: %v", id, err)
	}
	if f.GetStatus() != mediav1.FileStatus_FILE_STATUS_READY {
		t.Fatalf("completed file %v", f)
	}
	return f
}

func (e *env) getFile(t *testing.T, user, id string) (*mediav1.File, error) {
	t.Helper()
	res, err := e.client.GetFile(context.Background(), as(t, e, user, &mediav1.GetFileRequest{FileId: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetFile(), nil
}

// rejection returns the UploadRejection detail of a CompleteUpload error.
func rejection(t *testing.T, err error) *mediav1.UploadRejection {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Fatalf("error %v, want InvalidArgument with an UploadRejection", err)
	}
	for _, d := range ce.Details() {
		v, err := d.Value()
		if r, ok := v.(*mediav1.UploadRejection); ok && err == nil {
			return r
		}
	}
	t.Fatalf("error %v has no UploadRejection detail", err)
	return nil
}

// fetched is a response whose body has been read and closed.
type fetched struct {
	StatusCode int
	Header     http.Header
}

// fetch GETs url (with header name, value pairs) and returns the response and its body.
func fetch(t *testing.T, url string, header ...string) (fetched, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{StatusCode: res.StatusCode, Header: res.Header}, b
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	return pgtest.Count(t, e.pool, sql, args...)
}
