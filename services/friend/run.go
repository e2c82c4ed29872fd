package main

import (
	"context"

	"github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1/friendv1connect"
	"github.com/parleyhq/parley/platform/startup"
	"github.com/parleyhq/parley/services/friend/internal/friend"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
	"github.com/parleyhq/parley/services/friend/internal/friendevents"
	"github.com/parleyhq/parley/services/friend/internal/friendrpc"
)

// wire builds the friend service on the process startup.Run opened.
func wire(_ context.Context, p *startup.Process[Config]) error {
	store := frienddb.New(p.Pool, p.Outbox)
	svc := friend.NewService(store, friend.Limits{Requests: p.Config.RequestLimit, Window: p.Config.RequestWindow})
	p.Server.Mount(friendv1connect.NewFriendServiceHandler(friendrpc.NewHandler(svc), p.HandlerOptions()...))

	consumer, err := p.Consumer(friendevents.Group, friendevents.Topics)
	if err != nil {
		return err
	}
	friendevents.Register(consumer, store, p.Logger)
	return nil
}

// service is how friend starts (platform/startup): main runs it, and so do the tests, on a listener
// of their own.
func service() startup.Service[Config] {
	// No PublicProcedures: every procedure needs an access token, CheckFriendship too (the
	// calling service forwards its user's, and it answers only about that user).
	return startup.Service[Config]{
		Name: "friend", Defaults: defaults, Validate: Config.validate, Migrations: frienddb.Migrations, Wire: wire,
	}
}
