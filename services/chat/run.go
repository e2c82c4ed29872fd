package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
	"github.com/parleyhq/parley/services/chat/internal/chatevents"
	"github.com/parleyhq/parley/services/chat/internal/chatrpc"
	"github.com/parleyhq/parley/services/chat/internal/friendclient"
	"github.com/parleyhq/parley/services/chat/internal/mediaclient"
)

// run serves until ctx ends; with args ["migrate"] it applies the migrations and returns.
func run(ctx context.Context, logger *slog.Logger, args []string) error {
	return runOn(ctx, logger, args, nil)
}

// runOn is run with an optional listener already open (tests listen on port 0).
func runOn(ctx context.Context, logger *slog.Logger, args []string, ln net.Listener) error {
	return startup.Run(ctx, logger, args, ln, startup.Service[Config]{
		Name: "chat", Defaults: defaults, Validate: Config.validate, Migrations: chatdb.Migrations,
		Prepare: func(cfg *Config) (err error) {
			cfg.DatabaseURL, err = withMaxConns(cfg.DatabaseURL, cfg.DatabaseMaxConns)
			return err
		},
		Wire: wire,
	})
}

// wire builds the chat service on the process startup.Run opened.
func wire(ctx context.Context, p *startup.Process[Config]) error {
	cfg := p.Config
	redis, err := p.Redis(cfg.RedisURL)
	if err != nil {
		return err
	}
	auth, err := p.Authenticate(ctx, cfg.AuthJWKSURL)
	if err != nil {
		return err
	}

	// Sends commit in groups rather than one at a time behind NOTIFY's commit lock: the store wakes
	// this process's relay after each commit instead (events.Outbox.Wake, docs/chat.md).
	p.Outbox.WakeRelay = false
	p.Relay.Wakeups = p.Outbox.Wakeups()
	p.Relay.PollInterval, p.Relay.Linger = cfg.OutboxPollInterval, cfg.OutboxLinger
	peers := p.PeerClient()
	store := chatdb.New(p.Pool, p.Outbox)
	cache := chatcache.New(redis, cfg.FriendshipCacheTTL)
	files := mediaclient.New(peers, cfg.MediaURL, cfg.InternalAPIToken, cfg.MediaTimeout)
	svc := chat.NewService(store, friendclient.New(peers, cfg.FriendURL, cfg.FriendTimeout), cache, files, p.Logger)
	p.Server.Mount(chatv1connect.NewChatServiceHandler(chatrpc.NewHandler(svc), p.HandlerOptions(nil, auth)...))

	consumer, err := p.Consumer(events.ConsumerConfig{Group: chatevents.Group, Topics: chatevents.Topics})
	if err != nil {
		return err
	}
	chatevents.Register(consumer, store, cache, p.Logger)
	return nil
}
