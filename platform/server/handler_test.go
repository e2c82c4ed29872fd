package server

import (
	"context"
	"errors"
	"testing"
)

type reply struct{ Who string }

func TestForUserAnswersForTheCaller(t *testing.T) {
	who := func(context.Context) (string, error) { return "alice", nil }
	res, err := ForUser(context.Background(), who, func(me string) (*reply, error) { return &reply{Who: me}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Who != "alice" {
		t.Fatalf("response for %q, want alice", res.Msg.Who)
	}
}

func TestForUserRunsNothingForAnUnknownCaller(t *testing.T) {
	refused := errors.New("no token")
	ran := false
	res, err := ForUser(context.Background(), func(context.Context) (string, error) { return "", refused },
		func(string) (*reply, error) { ran = true; return &reply{}, nil })
	if !errors.Is(err, refused) || res != nil || ran {
		t.Fatalf("got %v, %v, use case ran %v; want the caller's error, no response, nothing run", res, err, ran)
	}
}

func TestReplyDropsTheMessageOfAFailedUseCase(t *testing.T) {
	failed := errors.New("failed")
	if res, err := Reply(&reply{}, failed); !errors.Is(err, failed) || res != nil {
		t.Fatalf("got %v, %v; want no response and the use case's error", res, err)
	}
	res, err := Reply(&reply{Who: "bob"}, nil)
	if err != nil || res.Msg.Who != "bob" {
		t.Fatalf("got %v, %v; want the message as the response", res, err)
	}
}

func TestProtosConvertsEachValueInOrder(t *testing.T) {
	got := Protos([]string{"ann", "bob"}, func(name string) *reply { return &reply{Who: name} })
	if len(got) != 2 || got[0].Who != "ann" || got[1].Who != "bob" {
		t.Fatalf("Protos = %+v, want ann then bob", got)
	}
	if got := Protos(nil, func(string) *reply { return &reply{} }); got == nil || len(got) != 0 {
		t.Fatalf("Protos(nil) = %#v, want an empty list", got)
	}
}

func TestKeyOfReadsATableBackwards(t *testing.T) {
	table := map[string]int{"avatar": 1, "attachment": 2}
	if got := KeyOf(table, 2); got != "attachment" {
		t.Fatalf("KeyOf(2) = %q, want attachment", got)
	}
	if got := KeyOf(table, 0); got != "" {
		t.Fatalf("KeyOf(0) = %q, want the zero key", got)
	}
}
