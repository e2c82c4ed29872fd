package main

import (
	"context"
	"log/slog"

	"github.com/parleyhq/parley/contracts/gen/go/parley/chat/v1/chatv1connect"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/chat/internal/chat"
	"github.com/parleyhq/parley/services/chat/internal/chatcache"
	"github.com/parleyhq/parley/services/chat/internal/chatdb"
	"github.com/parleyhq/parley/services/chat/internal/chatevents"
	"github.com/parleyhq/parley/services/chat/internal/chatrpc"
	"github.com/parleyhq/parley/services/chat/internal/friendclient"
	"github.com/parleyhq/parley/services/chat/internal/mediaclient"
)

// wire builds the chat service on the process startup.Run opened.
func wire(_ context.Context, p *startup.Process[Config]) error {
	cfg := p.Config
	redis, err := p.Redis(cfg.RedisURL)
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
	p.Server.Mount(chatv1connect.NewChatServiceHandler(chatrpc.NewHandler(svc), p.HandlerOptions()...))

	consumer, err := p.Consumer(chatevents.Group, chatevents.Topics)
	if err != nil {
		return err
	}
	chatevents.Register(consumer, store, cache, p.Logger)
	return nil
}

// service is how chat starts (platform/startup): main runs it, and so do the tests, on a listener
// of their own.
func service() startup.Service[Config] {
	return startup.Service[Config]{
		Name: "chat", Defaults: defaults, Validate: Config.validate, Migrations: chatdb.Migrations, Wire: wire,
		Prepare: func(cfg *Config, _ *slog.Logger) (err error) {
			cfg.DatabaseURL, err = withMaxConns(cfg.DatabaseURL, cfg.DatabaseMaxConns)
			return err
		},
	}
}
