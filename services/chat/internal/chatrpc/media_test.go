package chatrpc_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/authn"
	"github.com/parleyhq/parley/platform/rpctest"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
	"github.com/parleyhq/parley/services/chat/internal/mediaclient"
)

// fakeInternalToken is the INTERNAL_API_TOKEN the chat service and the stand-in media service
// share in these tests.
const fakeInternalToken = "chat-test-internal-token"

// fakeMedia stands in for the media service, which lives in another module: the generated
// parley.media.v1.MediaService handler over an h2c httptest server, answering BatchGetFiles from a
// table of files the way the real service does — with the internal token every file named;
// with a forwarded user token (verified like the real one) only the files that user may see: their
// own in any status, READY avatars, and READY attachments of chats they take part in (asked of the
// chat store, as the real service asks CheckChatAccess); neither is PermissionDenied. READY files
// get URLs, images a 256 thumbnail. It records who each call was for.
type fakeMedia struct {
	mediav1connect.UnimplementedMediaServiceHandler
	url   string
	store *chatdb.Store

	mu    sync.Mutex
	files map[string]*mediav1.File
	down  bool
	calls []mediaCall
}

// mediaCall is one BatchGetFiles call as the stand-in saw it.
type mediaCall struct {
	user     string // the forwarded token's user; "" for none
	internal bool   // the internal token was presented
	ids      []string
}

func newFakeMedia(t *testing.T, verifier *authn.Verifier, store *chatdb.Store) *fakeMedia {
	f := &fakeMedia{store: store, files: map[string]*mediav1.File{}}
	mux := http.NewServeMux()
	mux.Handle(mediav1connect.NewMediaServiceHandler(f,
		connect.WithInterceptors(authn.NewInterceptor(verifier, mediav1connect.MediaServiceBatchGetFilesProcedure))))
	hs := rpctest.Serve(t, mux)
	f.url = hs.URL
	return f
}

// fileSpec describes a file to put in the stand-in's table.
type fileSpec struct {
	owner         user
	purpose       mediav1.FilePurpose
	status        mediav1.FileStatus
	chatID        string
	name, typ     string
	size          int64
	width, height int32
}

// add stores a file and returns its id.
func (f *fakeMedia) add(s fileSpec) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.NewString()
	f.files[id] = &mediav1.File{FileId: id, OwnerId: s.owner.id, Purpose: s.purpose, Status: s.status, ChatId: s.chatID,
		Name: s.name, ContentType: s.typ, SizeBytes: s.size, Width: s.width, Height: s.height}
	return id
}

// attachment adds a READY attachment of owner's uploaded for chatID.
func (f *fakeMedia) attachment(owner user, chatID, name, typ string, size int64) string {
	s := fileSpec{owner: owner, purpose: mediav1.FilePurpose_FILE_PURPOSE_ATTACHMENT, status: mediav1.FileStatus_FILE_STATUS_READY,
		chatID: chatID, name: name, typ: typ, size: size}
	if strings.HasPrefix(typ, "image/") {
		s.width, s.height = 640, 480
	}
	return f.add(s)
}

func (f *fakeMedia) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, id)
}

func (f *fakeMedia) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeMedia) callLog() []mediaCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mediaCall(nil), f.calls...)
}

// fakeURL is the stand-in's download URL of a file's variant.
func fakeURL(id, variant string) string {
	return "http://media.test/media/files/" + id + "/" + variant + "?expires=1&sig=x"
}

func (f *fakeMedia) BatchGetFiles(ctx context.Context, req *connect.Request[mediav1.BatchGetFilesRequest]) (*connect.Response[mediav1.BatchGetFilesResponse], error) {
	call := mediaCall{user: authn.UserID(ctx), ids: req.Msg.GetFileIds()}
	if tok := req.Header().Get(authn.InternalTokenHeader); tok != "" {
		if tok != fakeInternalToken {
			return nil, connect.NewError(connect.CodePermissionDenied, errors.New("the internal token is not valid"))
		}
		call.internal = true
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	down := f.down
	var found []*mediav1.File
	for _, id := range req.Msg.GetFileIds() {
		if file, ok := f.files[strings.ToLower(id)]; ok {
			found = append(found, proto.CloneOf(file))
		}
	}
	f.mu.Unlock()

	switch {
	case down:
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("media database down"))
	case len(req.Msg.GetFileIds()) > mediaclient.MaxBatch:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("file_ids: at most 100 ids per call"))
	case !call.internal && call.user == "":
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("BatchGetFiles is internal"))
	}
	res := &mediav1.BatchGetFilesResponse{}
	for _, file := range found {
		ok, err := f.visible(ctx, call, file)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if file.GetStatus() == mediav1.FileStatus_FILE_STATUS_READY {
			file.Url = fakeURL(file.GetFileId(), "original")
			if strings.HasPrefix(file.GetContentType(), "image/") {
				file.Thumbnail_64Url, file.Thumbnail_256Url = fakeURL(file.GetFileId(), "64"), fakeURL(file.GetFileId(), "256")
			}
			file.UrlExpiresAt = timestamppb.New(time.Now().Add(5 * time.Minute).Truncate(time.Minute))
		}
		res.Files = append(res.Files, file)
	}
	return connect.NewResponse(res), nil
}

func (f *fakeMedia) visible(ctx context.Context, call mediaCall, file *mediav1.File) (bool, error) {
	switch {
	case call.internal || file.GetOwnerId() == call.user:
		return true, nil
	case file.GetStatus() != mediav1.FileStatus_FILE_STATUS_READY:
		return false, nil
	case file.GetPurpose() == mediav1.FilePurpose_FILE_PURPOSE_AVATAR:
		return true, nil
	}
	participant, _, err := f.store.Access(ctx, call.user, file.GetChatId())
	return participant, err
}
