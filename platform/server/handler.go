package server

import (
	"context"

	"connectrpc.com/connect"
)

// ForUser is the body of a handler whose procedure acts as a user: who names the caller
// (authn.RequireUser, or a service's stricter check of it), do runs the use case for them and
// returns the response message. An error from either is the call's, and do's message is then
// dropped, so a use case with nothing to return can be written
//
//	return &v1.DeleteThingResponse{}, h.svc.DeleteThing(ctx, me, req.Msg.GetThingId())
func ForUser[Res any](ctx context.Context, who func(context.Context) (string, error), do func(me string) (*Res, error)) (*connect.Response[Res], error) {
	me, err := who(ctx)
	if err != nil {
		return nil, err
	}
	return Reply(do(me))
}

// Reply is a handler's answer: err when the use case failed, msg as the response otherwise.
func Reply[Res any](msg *Res, err error) (*connect.Response[Res], error) {
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(msg), nil
}

// Protos converts a use case's list for a response's repeated field, each value with conv, the
// handler's conversion of one:
//
//	return &v1.ListThingsResponse{Things: server.Protos(page.Things, thingProto), NextPageToken: page.NextPageToken}, nil
//
// The result has the list's length and order (empty, not nil, for an empty list).
func Protos[T, P any](list []T, conv func(T) P) []P {
	out := make([]P, len(list))
	for i, v := range list {
		out[i] = conv(v)
	}
	return out
}

// KeyOf returns the key that table maps to v, or the zero K when none does: a handler keeps one
// table from domain values to a proto enum's and reads a request's enum back through it.
func KeyOf[K, V comparable](table map[K]V, v V) K {
	for k, tv := range table {
		if tv == v {
			return k
		}
	}
	var zero K
	return zero
}
