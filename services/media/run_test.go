package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	mediav1 "github.com/parleyhq/parley/contracts/gen/go/parley/media/v1"
	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/authntest"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/redistest"
	"github.com/parleyhq/parley/platform/server"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/platform/waittest"
	"github.com/parleyhq/parley/services/media/internal/mediatest"
	"github.com/parleyhq/parley/services/media/internal/s3test"
)

// runOn is main's start-up, with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, service())
}

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// TestRun starts the whole service as main does — migrations, server, outbox relay, janitor —
// against a fresh database, the S3 server, an in-process Kafka-protocol broker, Redis and a JWKS
// endpoint, uploads an avatar through the API and storage, downloads it, and reads FileUploaded
// from Kafka.
func TestRun(t *testing.T) {
	pool := pgtest.New(t) // an empty database: run applies the migrations
	_, brokers := kafkatest.New(t)
	bucket := s3test.Bucket(t)

	iss := authntest.New(t)

	ln := waittest.Listen(t) // the service's public URL is in its configuration
	base := "http://" + ln.Addr().String()
	t.Setenv("DATABASE_URL", pgtest.URL(t, pool))
	t.Setenv("KAFKA_BROKERS", brokers[0])
	t.Setenv("REDIS_URL", "redis://"+redistest.Addr())
	t.Setenv("AUTH_JWKS_URL", iss.JWKSURL())
	t.Setenv("CHAT_URL", "http://127.0.0.1:1")
	t.Setenv("S3_ENDPOINT", s3test.Endpoint())
	t.Setenv("S3_ACCESS_KEY", s3test.AccessKey)
	t.Setenv("S3_SECRET_KEY", s3test.SecretKey)
	t.Setenv("S3_BUCKET", bucket)
	t.Setenv("MEDIA_PUBLIC_URL", base)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runOn(ctx, logger, []string{"migrate"}, nil); err != nil {
		t.Fatalf("media migrate: %v", err)
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('files', 'outbox', 'inbox')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("after migrate: %d tables, %v", tables, err)
	}
	if err := runOn(ctx, logger, []string{"bogus"}, nil); err == nil {
		t.Fatal("unknown argument accepted")
	}
	_, stop := waittest.StartServiceOn(t, ln, func(ctx context.Context, ln net.Listener) error {
		return runOn(ctx, logger, nil, ln)
	})

	userID := uuid.NewString()
	token := iss.Token(t, userID)
	client := mediav1connect.NewMediaServiceClient(server.H2CClient(), base, connect.WithGRPC()) // gRPC over h2c
	data := mediatest.PNG(t, mediatest.TwoColour(120, 80))
	req := connect.NewRequest(&mediav1.CreateUploadRequest{Purpose: mediav1.FilePurpose_FILE_PURPOSE_AVATAR, FileName: "me.png", ContentType: "image/png", SizeBytes: int64(len(data))})
	req.Header().Set("Authorization", "Bearer "+token)
	form, err := client.CreateUpload(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := mediatest.PostForm(t, form.Msg.GetUploadUrl(), form.Msg.GetFormFields(), "me.png", data); code/100 != 2 {
		t.Fatalf("POST: %d %s", code, body)
	}
	creq := connect.NewRequest(&mediav1.CompleteUploadRequest{FileId: form.Msg.GetFileId()})
	creq.Header().Set("Authorization", "Bearer "+token)
	res, err := client.CompleteUpload(ctx, creq)
	if err != nil {
		t.Fatal(err)
	}
	f := res.Msg.GetFile()
	if !strings.HasPrefix(f.GetUrl(), base+"/media/files/") {
		t.Fatalf("url %q", f.GetUrl())
	}
	got, err := http.Get(f.GetThumbnail_64Url())
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusOK || got.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("thumbnail: %d %v", got.StatusCode, got.Header)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Media), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	waittest.Until(t, "FileUploaded on "+topics.Media, func() bool {
		pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		found := false
		consumer.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) {
			var ev eventsv1.FileUploaded
			if string(r.Key) == userID && proto.Unmarshal(r.Value, &ev) == nil && ev.GetFileId() == f.GetFileId() && ev.GetPurpose() == "avatar" {
				found = true
			}
		})
		return found
	})

	stop()
}
