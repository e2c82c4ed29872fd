package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/profile/internal/mediaclient"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
	"github.com/parleyhq/parley/services/profile/internal/profileevents"
	"github.com/parleyhq/parley/services/profile/internal/profilerpc"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, startup.Service[Config]{
		Name: "profile", Defaults: defaults, Validate: Config.validate, Migrations: profiledb.Migrations, Wire: wire,
	})
}

// wire builds the profile service on the process startup.Run opened.
func wire(ctx context.Context, p *startup.Process[Config]) error {
	cfg := p.Config
	redis, err := p.Redis(cfg.RedisURL)
	if err != nil {
		return err
	}
	auth, err := p.Authenticate(ctx, cfg.AuthJWKSURL, profilerpc.PublicProcedures...)
	if err != nil {
		return err
	}
	store := profiledb.New(p.Pool, p.Outbox)
	store.FuzzyThreshold = cfg.SearchFuzzyThreshold
	cache := profilecache.New(redis, cfg.CacheTTL)
	svc := profile.NewService(store, cache, mediaclient.New(p.PeerClient(), cfg.MediaURL), p.Logger)
	p.Server.Mount(profilev1connect.NewProfileServiceHandler(profilerpc.NewHandler(svc), p.HandlerOptions(nil, auth)...))

	consumer, err := p.Consumer(events.ConsumerConfig{Group: profileevents.Group, Topics: profileevents.Topics})
	if err != nil {
		return err
	}
	profileevents.Register(consumer, store, cache, p.Logger)
	return nil
}
