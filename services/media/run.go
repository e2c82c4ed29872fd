package main

import (
	"context"

	"github.com/parleyhq/parley/contracts/gen/go/parley/media/v1/mediav1connect"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/media/internal/chatclient"
	"github.com/parleyhq/parley/services/media/internal/media"
	"github.com/parleyhq/parley/services/media/internal/mediadb"
	"github.com/parleyhq/parley/services/media/internal/mediaevents"
	"github.com/parleyhq/parley/services/media/internal/mediarpc"
	"github.com/parleyhq/parley/services/media/internal/mediastorage"
)

// wire builds the media service on the process startup.Run opened.
func wire(ctx context.Context, p *startup.Process[Config]) error {
	cfg := p.Config
	objects, err := mediastorage.New(mediastorage.Config{
		Endpoint: cfg.S3Endpoint, PublicEndpoint: cfg.BrowserS3Endpoint(), Region: cfg.S3Region,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Bucket: cfg.S3Bucket,
	})
	if err != nil {
		return err
	}
	redis, err := p.Redis(cfg.RedisURL)
	if err != nil {
		return err
	}

	store := mediadb.New(p.Pool, p.Outbox)
	svc := media.NewService(media.Options{
		Store:        store,
		Objects:      objects,
		Chats:        chatclient.New(p.PeerClient(), cfg.ChatURL, cfg.InternalAPIToken, redis, cfg.ChatAccessCacheTTL, p.Logger),
		URLs:         media.NewURLSigner(cfg.MediaPublicURL, cfg.signingKey(), cfg.URLTTL),
		Limits:       cfg.limits(),
		Logger:       p.Logger,
		ImageWorkers: cfg.ImageWorkers,
		ImageTimeout: cfg.ImageTimeout,
	})
	p.Server.Mount(mediav1connect.NewMediaServiceHandler(mediarpc.NewHandler(svc, cfg.AcceptedInternalTokens(cfg.InternalAPIToken)), p.HandlerOptions()...))
	p.Server.Handle(mediarpc.DownloadPattern, mediarpc.NewDownload(svc, p.Logger, nil))
	p.Server.AddReadinessCheck("s3", objects.Ping)

	consumer, err := p.Consumer(mediaevents.Group, mediaevents.Topics)
	if err != nil {
		return err
	}
	mediaevents.Register(consumer, store, p.Logger)
	p.Go(func(ctx context.Context) error {
		return svc.RunJanitor(ctx, cfg.JanitorInterval, cfg.RejectedRetention)
	})
	return nil
}

// service is how media starts (platform/startup): main runs it, and so do the tests, on a listener
// of their own.
func service() startup.Service[Config] {
	return startup.Service[Config]{
		Name: "media", Defaults: defaults, Validate: Config.validate, Migrations: mediadb.Migrations, Wire: wire,
		PublicProcedures: mediarpc.PublicProcedures,
		MigrateUnchecked: true, // `media migrate` needs no S3 credentials
	}
}
