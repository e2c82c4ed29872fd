package main

import (
	"context"

	"github.com/parleyhq/parley/contracts/gen/go/parley/profile/v1/profilev1connect"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/profile/internal/mediaclient"
	"github.com/parleyhq/parley/services/profile/internal/profile"
	"github.com/parleyhq/parley/services/profile/internal/profilecache"
	"github.com/parleyhq/parley/services/profile/internal/profiledb"
	"github.com/parleyhq/parley/services/profile/internal/profileevents"
	"github.com/parleyhq/parley/services/profile/internal/profilerpc"
)

// wire builds the profile service on the process startup.Run opened.
func wire(_ context.Context, p *startup.Process[Config]) error {
	cfg := p.Config
	redis, err := p.Redis(cfg.RedisURL)
	if err != nil {
		return err
	}
	store := profiledb.New(p.Pool, p.Outbox)
	store.FuzzyThreshold = cfg.SearchFuzzyThreshold
	cache := profilecache.New(redis, cfg.CacheTTL)
	svc := profile.NewService(store, cache, mediaclient.New(p.PeerClient(), cfg.MediaURL), p.Logger)
	p.Server.Mount(profilev1connect.NewProfileServiceHandler(profilerpc.NewHandler(svc), p.HandlerOptions()...))

	consumer, err := p.Consumer(profileevents.Group, profileevents.Topics)
	if err != nil {
		return err
	}
	profileevents.Register(consumer, store, cache, p.Logger)
	return nil
}

// service is how profile starts (platform/startup): main runs it, and so do the tests, on a listener
// of their own.
func service() startup.Service[Config] {
	return startup.Service[Config]{
		Name: "profile", Defaults: defaults, Validate: Config.validate, Migrations: profiledb.Migrations, Wire: wire,
		PublicProcedures: profilerpc.PublicProcedures,
	}
}
