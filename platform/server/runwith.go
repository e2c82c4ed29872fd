package server

import (
	"context"
	"errors"
	"net"

	"golang.org/x/sync/errgroup"
)

// RunWith serves until ctx ends, together with the service's background work (outbox relay,
// event consumer, janitor…): on ln, or with a nil ln on the address given to New. The first of
// them to fail stops all the others, and RunWith returns that error once every one has returned;
// a worker that returns nil simply ends. Ending because ctx ended is not an error. It is the last
// call of every service's runOn.
func (s *Server) RunWith(ctx context.Context, ln net.Listener, workers ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if ln != nil {
			return s.Serve(ctx, ln)
		}
		return s.Run(ctx)
	})
	for _, w := range workers {
		g.Go(func() error { return w(ctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
