package profilerpc_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	profilev1 "github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/platform/pg"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/services/profile/internal/mediaclient"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
	"github.com/parleyhq/parley/services/profile/internal/profilerpc"
)

// mediaStandIn answers parley.media.v1.MediaService/GetFile from a map. It stands in for the media
// service, which does not exist yet; it is the generated handler over a fake, so the profile
// service's generated client, gRPC protocol and token forwarding are exercised for real.
type mediaStandIn struct {
	mediav1connect.UnimplementedMediaServiceHandler
	mu        sync.Mutex
	files     map[string]*mediav1.File
	fail      map[string]error // the media service's answer for these file ids
	lastAuthz string
}

func (m *mediaStandIn) GetFile(_ context.Context, req *connect.Request[mediav1.GetFileRequest]) (*connect.Response[mediav1.GetFileResponse], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastAuthz = req.Header().Get("Authorization")
	if m.lastAuthz == "" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no token"))
	}
	if err := m.fail[req.Msg.GetFileId()]; err != nil {
		return nil, err
	}
	f, ok := m.files[req.Msg.GetFileId()]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("file not found"))
	}
	return connect.NewResponse(&mediav1.GetFileResponse{File: f}), nil
}

func (m *mediaStandIn) authorization() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastAuthz
}

type env struct {
	client profilev1connect.ProfileServiceClient
	pool   *pgxpool.Pool
	iss    *authntest.TokenIssuer
	media  *mediaStandIn
	mediaS *httptest.Server
	alice  string // nickname "alice"
	bob    string // asked for "alice" at registration, got a derived nickname
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pool := eventstest.NewDB(t, "profile", profiledb.Migrations)
	store := profiledb.New(pool, events.NewOutbox("profile"))
	e := &env{pool: pool, iss: authntest.New(t), alice: uuid.NewString(), bob: uuid.NewString()}
	for _, r := range []profile.Registration{{UserID: e.alice, RequestedNickname: "alice"}, {UserID: e.bob, RequestedNickname: "alice"}} {
		if err := pg.InTx(ctx, pool, func(tx pgx.Tx) error {
			_, _, err := store.CreateFromRegistration(ctx, tx, r)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	e.media = &mediaStandIn{files: map[string]*mediav1.File{}, fail: map[string]error{}}
	_, mediaHandler := mediav1connect.NewMediaServiceHandler(e.media)
	e.mediaS = rpctest.Serve(t, mediaHandler)

	svc := profile.NewService(store, profilecache.New(redistest.New(t), time.Minute), mediaclient.New(nil, e.mediaS.URL), logger)
	auth := authn.NewInterceptor(e.iss.Verifier(), profilerpc.PublicProcedures...)
	srv := server.New(logger, "")
	srv.Mount(profilev1connect.NewProfileServiceHandler(profilerpc.NewHandler(svc), server.HandlerOptions(logger, nil, auth)...))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e.client = profilev1connect.NewProfileServiceClient(hs.Client(), hs.URL)
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

func wantCode(t *testing.T, err error, code connect.Code, msgPrefix string) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
	var ce *connect.Error
	if errors.As(err, &ce) && !strings.HasPrefix(ce.Message(), msgPrefix) {
		t.Fatalf("message %q, want it to start with %q", ce.Message(), msgPrefix)
	}
}

func TestAuthentication(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	_, err := e.client.GetProfile(ctx, connect.NewRequest(&profilev1.GetProfileRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated, "")
	req := connect.NewRequest(&profilev1.SearchUsersRequest{Query: "alice"})
	req.Header().Set("Authorization", "Bearer not-a-jwt")
	_, err = e.client.SearchUsers(ctx, req)
	wantCode(t, err, connect.CodeUnauthenticated, "")
	other := authntest.New(t) // a token signed by a key the service does not know
	req = connect.NewRequest(&profilev1.SearchUsersRequest{Query: "alice"})
	req.Header().Set("Authorization", "Bearer "+other.Token(t, e.alice))
	_, err = e.client.SearchUsers(ctx, req)
	wantCode(t, err, connect.CodeUnauthenticated, "")

	// CheckNickname is public.
	res, err := e.client.CheckNickname(ctx, connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: "ALICE"}))
	if err != nil || res.Msg.GetAvailable() || res.Msg.GetReason() != "nickname: already taken" {
		t.Fatalf("CheckNickname ALICE: %v, %v", res, err)
	}
	res, err = e.client.CheckNickname(ctx, connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: "newcomer"}))
	if err != nil || !res.Msg.GetAvailable() || res.Msg.GetReason() != "" {
		t.Fatalf("CheckNickname newcomer: %v, %v", res, err)
	}
	res, err = e.client.CheckNickname(ctx, connect.NewRequest(&profilev1.CheckNicknameRequest{Nickname: "a!"}))
	if err != nil || res.Msg.GetAvailable() || !strings.HasPrefix(res.Msg.GetReason(), "nickname: ") {
		t.Fatalf("CheckNickname a!: %v, %v", res, err)
	}
	// Signed in, one's own nickname (in any case) counts as available.
	res, err = e.client.CheckNickname(ctx, as(t, e, e.alice, &profilev1.CheckNicknameRequest{Nickname: "Alice"}))
	if err != nil || !res.Msg.GetAvailable() {
		t.Fatalf("CheckNickname Alice by alice: %v, %v", res, err)
	}
}

func TestOwnAndOthersProfile(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	own, err := e.client.GetProfile(ctx, as(t, e, e.bob, &profilev1.GetProfileRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	p := own.Msg.GetProfile()
	if p.GetUserId() != e.bob || !strings.HasPrefix(p.GetNickname(), "alice_") ||
		p.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_REQUESTED_TAKEN || p.GetRequestedNickname() != "alice" ||
		p.GetCreatedAt() == nil || p.GetUpdatedAt() == nil {
		t.Fatalf("bob's own profile: %v", p)
	}
	seen, err := e.client.GetProfile(ctx, as(t, e, e.alice, &profilev1.GetProfileRequest{UserId: e.bob}))
	if err != nil {
		t.Fatal(err)
	}
	if q := seen.Msg.GetProfile(); q.GetNickname() != p.GetNickname() ||
		q.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_UNSPECIFIED || q.GetRequestedNickname() != "" {
		t.Fatalf("bob's profile seen by alice: %v", q)
	}
	same, err := e.client.GetProfile(ctx, as(t, e, e.bob, &profilev1.GetProfileRequest{UserId: strings.ToUpper(e.bob)}))
	if err != nil || same.Msg.GetProfile().GetRequestedNickname() != "alice" {
		t.Fatalf("bob's profile by his own id: %v, %v", same, err)
	}

	_, err = e.client.GetProfile(ctx, as(t, e, e.alice, &profilev1.GetProfileRequest{UserId: uuid.NewString()}))
	wantCode(t, err, connect.CodeNotFound, "user_id: ")
	_, err = e.client.GetProfile(ctx, as(t, e, e.alice, &profilev1.GetProfileRequest{UserId: "nope"}))
	wantCode(t, err, connect.CodeInvalidArgument, "user_id: ")
	_, err = e.client.GetProfile(ctx, as(t, e, uuid.NewString(), &profilev1.GetProfileRequest{}))
	wantCode(t, err, connect.CodeNotFound, "your profile does not exist yet")

	batch, err := e.client.BatchGetProfiles(ctx, as(t, e, e.alice, &profilev1.BatchGetProfilesRequest{UserIds: []string{e.alice, e.bob, uuid.NewString(), e.bob}}))
	if err != nil || len(batch.Msg.GetProfiles()) != 2 {
		t.Fatalf("batch: %v, %v", batch, err)
	}
	for _, q := range batch.Msg.GetProfiles() {
		if q.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_UNSPECIFIED || q.GetRequestedNickname() != "" {
			t.Fatalf("batch carries private fields: %v", q)
		}
	}
	_, err = e.client.BatchGetProfiles(ctx, as(t, e, e.alice, &profilev1.BatchGetProfilesRequest{UserIds: make([]string, 101)}))
	wantCode(t, err, connect.CodeInvalidArgument, "user_ids: ")
}

func TestUpdateProfile(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	str := func(s string) *string { return &s }

	_, err := e.client.UpdateProfile(ctx, as(t, e, e.bob, &profilev1.UpdateProfileRequest{Nickname: str("-x"), About: str(strings.Repeat("a", 501))}))
	wantCode(t, err, connect.CodeInvalidArgument, "nickname: ")
	if !strings.Contains(err.Error(), "about: ") {
		t.Fatalf("%v: want both bad fields named", err)
	}
	_, err = e.client.UpdateProfile(ctx, as(t, e, e.bob, &profilev1.UpdateProfileRequest{Nickname: str("ALICE")}))
	wantCode(t, err, connect.CodeAlreadyExists, "nickname: already taken")

	res, err := e.client.UpdateProfile(ctx, as(t, e, e.bob, &profilev1.UpdateProfileRequest{Nickname: str("Bobby"), About: str("hi")}))
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Msg.GetProfile(); p.GetNickname() != "Bobby" || p.GetAbout() != "hi" ||
		p.GetNicknameStatus() != profilev1.NicknameStatus_NICKNAME_STATUS_CHOSEN || p.GetRequestedNickname() != "" {
		t.Fatalf("after update: %v", p)
	}
	// Unset fields are kept.
	res, err = e.client.UpdateProfile(ctx, as(t, e, e.bob, &profilev1.UpdateProfileRequest{About: str("")}))
	if err != nil || res.Msg.GetProfile().GetNickname() != "Bobby" || res.Msg.GetProfile().GetAbout() != "" {
		t.Fatalf("clearing about: %v, %v", res, err)
	}
	got, err := e.client.GetProfile(ctx, as(t, e, e.alice, &profilev1.GetProfileRequest{UserId: e.bob}))
	if err != nil || got.Msg.GetProfile().GetNickname() != "Bobby" {
		t.Fatalf("alice reads bob after his update: %v, %v", got, err)
	}
}

func TestSearchUsers(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	res, err := e.client.SearchUsers(ctx, as(t, e, e.alice, &profilev1.SearchUsersRequest{Query: " @Alice", PageSize: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Msg.GetResults()) != 1 || res.Msg.GetResults()[0].GetProfile().GetUserId() != e.alice ||
		res.Msg.GetResults()[0].GetMatch() != profilev1.MatchKind_MATCH_KIND_EXACT || res.Msg.GetNextPageToken() == "" {
		t.Fatalf("first page: %v", res.Msg)
	}
	res, err = e.client.SearchUsers(ctx, as(t, e, e.alice, &profilev1.SearchUsersRequest{Query: "alice", PageSize: 1, PageToken: res.Msg.GetNextPageToken()}))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Msg.GetResults(); len(r) != 1 || r[0].GetProfile().GetUserId() != e.bob || r[0].GetMatch() != profilev1.MatchKind_MATCH_KIND_PREFIX ||
		r[0].GetProfile().GetRequestedNickname() != "" || res.Msg.GetNextPageToken() != "" {
		t.Fatalf("second page: %v", res.Msg)
	}
	_, err = e.client.SearchUsers(ctx, as(t, e, e.alice, &profilev1.SearchUsersRequest{Query: "alice", PageToken: "bogus"}))
	wantCode(t, err, connect.CodeInvalidArgument, "page_token: ")
	_, err = e.client.SearchUsers(ctx, as(t, e, e.alice, &profilev1.SearchUsersRequest{Query: "@"}))
	wantCode(t, err, connect.CodeInvalidArgument, "query: ")
	_, err = e.client.SearchUsers(ctx, as(t, e, e.alice, &profilev1.SearchUsersRequest{Query: "alice", PageSize: 51}))
	wantCode(t, err, connect.CodeInvalidArgument, "page_size: ")
}

func TestSetAvatar(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	file := func(owner string, purpose mediav1.FilePurpose, status mediav1.FileStatus) string {
		id := uuid.NewString()
		f := &mediav1.File{FileId: id, OwnerId: owner, Purpose: purpose, Status: status}
		if status == mediav1.FileStatus_FILE_STATUS_READY {
			f.Url, f.Thumbnail_64Url, f.Thumbnail_256Url = "https://cdn/"+id, "https://cdn/"+id+"/64", "https://cdn/"+id+"/256"
		}
		e.media.mu.Lock()
		e.media.files[id] = f
		e.media.mu.Unlock()
		return id
	}
	ready := file(e.alice, mediav1.FilePurpose_FILE_PURPOSE_AVATAR, mediav1.FileStatus_FILE_STATUS_READY)
	aliceToken := e.iss.Token(t, e.alice)
	req := connect.NewRequest(&profilev1.SetAvatarRequest{FileId: ready})
	req.Header().Set("Authorization", "Bearer "+aliceToken)
	res, err := e.client.SetAvatar(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Msg.GetProfile().GetAvatar(); a.GetFileId() != ready || a.GetUrl() != "https://cdn/"+ready || a.GetThumbnail_64Url() == "" || a.GetThumbnail_256Url() == "" {
		t.Fatalf("avatar: %v", a)
	}
	if got := e.media.authorization(); got != "Bearer "+aliceToken {
		t.Fatalf("media saw Authorization %q, want the caller's token forwarded", got)
	}
	seen, err := e.client.GetProfile(ctx, as(t, e, e.bob, &profilev1.GetProfileRequest{UserId: e.alice}))
	if err != nil || seen.Msg.GetProfile().GetAvatar().GetFileId() != ready {
		t.Fatalf("bob sees alice's avatar: %v, %v", seen, err)
	}
	// The ProfileUpdated it published carries the media service's 64px thumbnail URL, as media gave it.
	if ev := lastProfileUpdated(t, e.pool, e.alice); ev.GetAvatarFileId() != ready || ev.GetAvatarThumbnailUrl() != "https://cdn/"+ready+"/64" {
		t.Fatalf("ProfileUpdated after SetAvatar = %v; want the file id and thumbnail URL https://cdn/%s/64", ev, ready)
	}

	cases := []struct {
		name   string
		fileID string
		code   connect.Code
		prefix string
	}{
		{"someone else's", file(e.bob, mediav1.FilePurpose_FILE_PURPOSE_AVATAR, mediav1.FileStatus_FILE_STATUS_READY), connect.CodePermissionDenied, "file_id: "},
		{"an attachment", file(e.alice, mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT, mediav1.FileStatus_FILE_STATUS_READY), connect.CodeInvalidArgument, "file_id: "},
		{"not completed", file(e.alice, mediav1.FilePurpose_FILE_PURPOSE_AVATAR, mediav1.FileStatus_FILE_STATUS_PENDING), connect.CodeFailedPrecondition, "file_id: "},
		{"unknown", uuid.NewString(), connect.CodeNotFound, "file_id: "},
		{"malformed", "../etc/passwd", connect.CodeInvalidArgument, "file_id: "},
	}
	for _, c := range cases {
		_, err := e.client.SetAvatar(ctx, as(t, e, e.alice, &profilev1.SetAvatarRequest{FileId: c.fileID}))
		if connect.CodeOf(err) != c.code {
			t.Errorf("%s: %v, want %v", c.name, err, c.code)
			continue
		}
		var ce *connect.Error
		if errors.As(err, &ce) && !strings.HasPrefix(ce.Message(), c.prefix) {
			t.Errorf("%s: message %q", c.name, ce.Message())
		}
	}

	// The media service's own answers reach the caller as profile's: its code where it has a
	// meaning here, profile's message, none of media's metadata.
	const secret = "dial tcp 10.0.3.7:5432: parley_media password authentication failed"
	refusals := []struct {
		name   string
		media  connect.Code
		code   connect.Code
		prefix string
	}{
		{"media refuses the token", connect.CodeUnauthenticated, connect.CodeUnauthenticated, "the media service did not accept your access token"},
		{"media refuses the id", connect.CodeInvalidArgument, connect.CodeInvalidArgument, "file_id: "},
		{"media denies", connect.CodePermissionDenied, connect.CodePermissionDenied, "file_id: the file is not yours"},
		{"media overloaded", connect.CodeResourceExhausted, connect.CodeUnavailable, "the media service cannot be reached"},
		{"media fails", connect.CodeInternal, connect.CodeInternal, "internal error"},
		{"media precondition", connect.CodeFailedPrecondition, connect.CodeInternal, "internal error"},
	}
	for _, r := range refusals {
		id := uuid.NewString()
		merr := connect.NewError(r.media, errors.New(secret))
		merr.Meta().Set("X-Media-Internal", secret)
		e.media.mu.Lock()
		e.media.fail[id] = merr
		e.media.mu.Unlock()
		_, err := e.client.SetAvatar(ctx, as(t, e, e.alice, &profilev1.SetAvatarRequest{FileId: id}))
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != r.code || !strings.HasPrefix(ce.Message(), r.prefix) {
			t.Errorf("%s: %v, want %v starting with %q", r.name, err, r.code, r.prefix)
			continue
		}
		if strings.Contains(ce.Message(), secret) || ce.Meta().Get("X-Media-Internal") != "" || len(ce.Details()) != 0 {
			t.Errorf("%s: media's message or metadata reached the caller: %q %v", r.name, ce.Message(), ce.Meta())
		}
	}

	res, err = e.client.SetAvatar(ctx, as(t, e, e.alice, &profilev1.SetAvatarRequest{FileId: ""}))
	if err != nil || res.Msg.GetProfile().GetAvatar() != nil {
		t.Fatalf("clearing: %v, %v", res, err)
	}
	if ev := lastProfileUpdated(t, e.pool, e.alice); ev.GetAvatarFileId() != "" || ev.GetAvatarThumbnailUrl() != "" {
		t.Fatalf("ProfileUpdated after removing the avatar = %v; want no file id and no thumbnail URL", ev)
	}

	e.mediaS.Close() // the media service goes away
	_, err = e.client.SetAvatar(ctx, as(t, e, e.alice, &profilev1.SetAvatarRequest{FileId: ready}))
	wantCode(t, err, connect.CodeUnavailable, "the media service cannot be reached")
}

// lastProfileUpdated returns the newest ProfileUpdated in the outbox for userID.
func lastProfileUpdated(t *testing.T, pool *pgxpool.Pool, userID string) *eventsv1.ProfileUpdated {
	t.Helper()
	var payload []byte
	if err := pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE key = $1 ORDER BY id DESC LIMIT 1`, userID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev eventsv1.ProfileUpdated
	if err := proto.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}
