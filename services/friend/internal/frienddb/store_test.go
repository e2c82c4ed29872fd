package frienddb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/eventstest"
	"github.com/parleyhq/parley/services/friend/internal/friend"
	"github.com/parleyhq/parley/services/friend/internal/frienddb"
	"github.com/parleyhq/parley/services/friend/internal/friendtest"
)

var ctx = context.Background()

type env struct {
	pool *pgxpool.Pool
	svc  *friend.Service
	seen int // outbox rows already returned by newEvents
}

func newEnv(t *testing.T, limits friend.Limits) *env {
	t.Helper()
	pool := eventstest.NewDB(t, "friend", frienddb.Migrations)
	return &env{pool: pool, svc: friend.NewService(frienddb.New(pool, events.NewOutbox("friend")), limits)}
}

// event is one outbox row, decoded.
type event struct {
	key string
	msg proto.Message
}

// newEvents returns the events written to the outbox since the last call, oldest first.
func (e *env) newEvents(t *testing.T) []event {
	t.Helper()
	rows, err := e.pool.Query(ctx, `SELECT topic, key, ce_type, ce_source, payload FROM outbox ORDER BY id OFFSET $1`, e.seen)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var topic, key, ceType, source string
		var payload []byte
		if err := rows.Scan(&topic, &key, &ceType, &source, &payload); err != nil {
			t.Fatal(err)
		}
		if topic != topics.Friend || source != "friend" {
			t.Fatalf("outbox row on topic %q from %q; want %q from friend", topic, source, topics.Friend)
		}
		var msg proto.Message
		switch ceType {
		case "parley.events.v1.FriendRequestSent":
			msg = &eventsv1.FriendRequestSent{}
		case "parley.events.v1.FriendAccepted":
			msg = &eventsv1.FriendAccepted{}
		case "parley.events.v1.FriendDeclined":
			msg = &eventsv1.FriendDeclined{}
		case "parley.events.v1.FriendRemoved":
			msg = &eventsv1.FriendRemoved{}
		default:
			t.Fatalf("unexpected event type %q", ceType)
		}
		if err := proto.Unmarshal(payload, msg); err != nil {
			t.Fatal(err)
		}
		out = append(out, event{key: key, msg: msg})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	e.seen += len(out)
	return out
}

// wantEvent checks that evs is exactly one event, of want's type and content, keyed by key.
func wantEvent(t *testing.T, evs []event, key string, want proto.Message) {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("got %d events %v; want one %T", len(evs), evs, want)
	}
	got := proto.Clone(evs[0].msg)
	// Times are checked elsewhere; compare the rest.
	switch m := got.(type) {
	case *eventsv1.FriendRequestSent:
		m.SentAt = nil
	case *eventsv1.FriendAccepted:
		m.AcceptedAt = nil
	case *eventsv1.FriendDeclined:
		m.DeclinedAt = nil
	case *eventsv1.FriendRemoved:
		m.RemovedAt = nil
	}
	if !proto.Equal(got, want) || evs[0].key != key {
		t.Fatalf("event %v key %q; want %v key %q", evs[0].msg, evs[0].key, want, key)
	}
}

func wantNoEvents(t *testing.T, e *env) {
	t.Helper()
	if evs := e.newEvents(t); len(evs) != 0 {
		t.Fatalf("unexpected events %v", evs)
	}
}

func wantErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if !errors.Is(err, kind) || !strings.Contains(fmt.Sprint(err), msg) {
		t.Fatalf("error %v; want %v containing %q", err, kind, msg)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func pairID(a, b string) string { return friend.NewPair(a, b).ID() }

func requestIDs(rs []friend.RequestView) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func (e *env) pending(t *testing.T, user string, d friend.Direction) []friend.RequestView {
	t.Helper()
	return must[friend.RequestsPage](t)(e.svc.ListRequests(ctx, user, d, 0, "")).Requests
}

func (e *env) friendIDs(t *testing.T, user string) []string {
	t.Helper()
	var ids []string
	for _, f := range must[friend.FriendsPage](t)(e.svc.ListFriends(ctx, user, 0, "")).Friends {
		ids = append(ids, f.User.UserID)
	}
	return ids
}

func TestRequestAcceptRemove(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, e.pool, "alice")
	bob := friendtest.AddUser(t, e.pool, "bob")
	carol := friendtest.AddUser(t, e.pool, "carol")

	sent := must[friend.SendResult](t)(e.svc.Send(ctx, alice, bob))
	r := sent.Request
	if sent.Friend != nil || r == nil || r.From != alice || r.To != bob || r.Status != friend.StatusPending ||
		r.Direction != friend.Outgoing || r.Other.Nickname != "bob" || r.CreatedAt.IsZero() {
		t.Fatalf("Send = %+v", sent)
	}
	wantEvent(t, e.newEvents(t), bob, &eventsv1.FriendRequestSent{RequestId: r.ID, FromUserId: alice, ToUserId: bob, FromNickname: "alice"})

	// Asking again while pending returns the same request and publishes nothing.
	again := must[friend.SendResult](t)(e.svc.Send(ctx, alice, strings.ToUpper(bob)))
	if again.Request == nil || again.Request.ID != r.ID || !again.Request.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("repeated Send = %+v; want request %s", again, r.ID)
	}
	wantNoEvents(t, e)

	in := e.pending(t, bob, friend.Incoming)
	if len(in) != 1 || in[0].ID != r.ID || in[0].Other.UserID != alice || in[0].Other.Nickname != "alice" || in[0].Direction != friend.Incoming {
		t.Fatalf("bob's incoming = %+v", in)
	}
	if out := e.pending(t, alice, friend.Outgoing); len(out) != 1 || out[0].ID != r.ID || out[0].Other.UserID != bob {
		t.Fatalf("alice's outgoing = %+v", out)
	}
	if got := e.pending(t, alice, friend.Incoming); len(got) != 0 {
		t.Fatalf("alice's incoming = %+v; want none", got)
	}

	// Only the recipient answers; a third person learns nothing.
	_, err := e.svc.Accept(ctx, alice, r.ID)
	wantErr(t, err, domainerr.ErrPermissionDenied, "only its recipient can accept")
	wantErr(t, e.svc.Decline(ctx, alice, r.ID), domainerr.ErrPermissionDenied, "CancelFriendRequest")
	wantErr(t, e.svc.Cancel(ctx, bob, r.ID), domainerr.ErrPermissionDenied, "DeclineFriendRequest")
	_, err = e.svc.Accept(ctx, carol, r.ID)
	wantErr(t, err, domainerr.ErrNotFound, "request_id: no pending friend request")
	wantNoEvents(t, e)

	f := must[friend.Friend](t)(e.svc.Accept(ctx, bob, r.ID))
	if f.User.UserID != alice || f.User.Nickname != "alice" || f.Since.IsZero() {
		t.Fatalf("Accept = %+v", f)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendAccepted{RequestId: r.ID, RequesterId: alice, AccepterId: bob, AccepterNickname: "bob"})

	// Accepting again returns the same friendship; asking a friend returns the friendship.
	if f2 := must[friend.Friend](t)(e.svc.Accept(ctx, bob, r.ID)); !f2.Since.Equal(f.Since) || f2.User.UserID != alice {
		t.Fatalf("second Accept = %+v; want %+v", f2, f)
	}
	if s := must[friend.SendResult](t)(e.svc.Send(ctx, alice, bob)); s.Friend == nil || s.Friend.User.UserID != bob || !s.Friend.Since.Equal(f.Since) {
		t.Fatalf("Send to a friend = %+v", s)
	}
	wantNoEvents(t, e)
	if got := e.friendIDs(t, alice); len(got) != 1 || got[0] != bob {
		t.Fatalf("alice's friends %v; want [bob]", got)
	}
	if got := e.friendIDs(t, bob); len(got) != 1 || got[0] != alice {
		t.Fatalf("bob's friends %v; want [alice]", got)
	}
	if in := e.pending(t, bob, friend.Incoming); len(in) != 0 {
		t.Fatalf("bob's incoming after accepting = %+v", in)
	}
	if rel := must[friend.Relationship](t)(e.svc.Check(ctx, bob, alice, bob)); !rel.AreFriends || rel.Blocked {
		t.Fatalf("Check = %+v; want friends", rel)
	}
	_, err = e.svc.Check(ctx, carol, alice, bob)
	wantErr(t, err, domainerr.ErrPermissionDenied, "only one of the two")

	if err := e.svc.Remove(ctx, bob, alice); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendRemoved{UserId: bob, FriendUserId: alice, Reason: "removed"})
	if err := e.svc.Remove(ctx, bob, alice); err != nil {
		t.Fatalf("removing a non-friend: %v", err)
	}
	if err := e.svc.Remove(ctx, bob, carol); err != nil {
		t.Fatalf("removing a stranger: %v", err)
	}
	wantNoEvents(t, e)
	if rel := must[friend.Relationship](t)(e.svc.Check(ctx, alice, alice, bob)); rel.AreFriends {
		t.Fatalf("Check after removal = %+v", rel)
	}
	_, err = e.svc.Accept(ctx, bob, r.ID)
	wantErr(t, err, domainerr.ErrNotFound, "no pending friend request")
	wantErr(t, e.svc.Remove(ctx, bob, bob), domainerr.ErrInvalidArgument, "user_id: that is your own id")
}

func TestValidation(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, e.pool, "alice")

	_, err := e.svc.Send(ctx, alice, alice)
	wantErr(t, err, domainerr.ErrInvalidArgument, "user_id: that is your own id")
	_, err = e.svc.Send(ctx, alice, "bob")
	wantErr(t, err, domainerr.ErrInvalidArgument, `user_id: must be a UUID`)
	_, err = e.svc.Send(ctx, alice, "")
	wantErr(t, err, domainerr.ErrInvalidArgument, "user_id: required")
	_, err = e.svc.Send(ctx, alice, "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01")
	wantErr(t, err, domainerr.ErrNotFound, "user_id: no user 0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01")
	wantErr(t, e.svc.Block(ctx, alice, "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"), domainerr.ErrNotFound, "no user")
	wantErr(t, e.svc.Block(ctx, alice, alice), domainerr.ErrInvalidArgument, "own id")
	_, err = e.svc.Accept(ctx, alice, "x")
	wantErr(t, err, domainerr.ErrInvalidArgument, "request_id: must be a UUID")
	wantErr(t, e.svc.Decline(ctx, alice, "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"), domainerr.ErrNotFound, "request_id")
	_, err = e.svc.ListRequests(ctx, alice, 0, 0, "")
	wantErr(t, err, domainerr.ErrInvalidArgument, "direction: required")
	_, err = e.svc.ListFriends(ctx, alice, 101, "")
	wantErr(t, err, domainerr.ErrInvalidArgument, "page_size: must be 1 to 100")
	_, err = e.svc.ListBlocked(ctx, alice, -1, "")
	wantErr(t, err, domainerr.ErrInvalidArgument, "page_size")
	_, err = e.svc.Check(ctx, alice, alice, alice)
	wantErr(t, err, domainerr.ErrInvalidArgument, "user_b_id: must differ")
	_, err = e.svc.Check(ctx, alice, alice, "nope")
	wantErr(t, err, domainerr.ErrInvalidArgument, "user_b_id: must be a UUID")
	wantNoEvents(t, e)
}

// A caller no event has introduced yet (UserRegistered still on its way) can still send; the
// recipient sees them with an empty nickname until the events arrive.
func TestUnknownCallerCanSend(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	bob := friendtest.AddUser(t, e.pool, "bob")
	newcomer := "0b5e1c1e-8a1f-4c47-9d3e-2f6a1b7c9d01"
	if _, err := e.svc.Send(ctx, newcomer, bob); err != nil {
		t.Fatal(err)
	}
	if in := e.pending(t, bob, friend.Incoming); len(in) != 1 || in[0].Other.UserID != newcomer {
		t.Fatalf("bob's incoming = %+v", in)
	}
}

func TestMutualRequestsMakeFriends(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, e.pool, "alice")
	bob := friendtest.AddUser(t, e.pool, "bob")

	first := must[friend.SendResult](t)(e.svc.Send(ctx, alice, bob)).Request
	e.newEvents(t)
	second := must[friend.SendResult](t)(e.svc.Send(ctx, bob, alice))
	if second.Request != nil || second.Friend == nil || second.Friend.User.UserID != alice {
		t.Fatalf("asking back = %+v; want the friendship with alice", second)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendAccepted{RequestId: first.ID, RequesterId: alice, AccepterId: bob, AccepterNickname: "bob"})
	if got := e.pending(t, bob, friend.Incoming); len(got) != 0 {
		t.Fatalf("pending after mutual requests: %+v", got)
	}
	if got := e.friendIDs(t, alice); len(got) != 1 || got[0] != bob {
		t.Fatalf("alice's friends %v", got)
	}
}

func TestDeclineAndCancel(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, e.pool, "alice")
	bob := friendtest.AddUser(t, e.pool, "bob")

	r1 := must[friend.SendResult](t)(e.svc.Send(ctx, alice, bob)).Request
	e.newEvents(t)
	if err := e.svc.Decline(ctx, bob, r1.ID); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendDeclined{RequestId: r1.ID, RequesterId: alice, RecipientId: bob})
	if err := e.svc.Decline(ctx, bob, r1.ID); err != nil {
		t.Fatalf("declining again: %v", err)
	}
	wantNoEvents(t, e)
	_, err := e.svc.Accept(ctx, bob, r1.ID)
	wantErr(t, err, domainerr.ErrNotFound, "no pending")
	wantErr(t, e.svc.Cancel(ctx, alice, r1.ID), domainerr.ErrNotFound, "no pending")
	if out := e.pending(t, alice, friend.Outgoing); len(out) != 0 {
		t.Fatalf("alice's outgoing after the decline: %+v", out)
	}

	// The sender may ask again: a new request.
	r2 := must[friend.SendResult](t)(e.svc.Send(ctx, alice, bob)).Request
	if r2.ID == r1.ID {
		t.Fatal("asking again after a decline returned the declined request")
	}
	e.newEvents(t)
	if err := e.svc.Cancel(ctx, alice, r2.ID); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendDeclined{RequestId: r2.ID, RequesterId: alice, RecipientId: bob, Cancelled: true})
	if err := e.svc.Cancel(ctx, alice, r2.ID); err != nil {
		t.Fatalf("cancelling again: %v", err)
	}
	wantErr(t, e.svc.Decline(ctx, bob, r2.ID), domainerr.ErrNotFound, "no pending")
	wantNoEvents(t, e)
	if in := e.pending(t, bob, friend.Incoming); len(in) != 0 {
		t.Fatalf("bob's incoming after the cancel: %+v", in)
	}
}

func TestBlock(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, e.pool, "alice")
	bob := friendtest.AddUser(t, e.pool, "bob")
	carol := friendtest.AddUser(t, e.pool, "carol")

	// Friends, then alice blocks bob: the friendship ends as a "blocked" removal.
	r := must[friend.SendResult](t)(e.svc.Send(ctx, bob, alice)).Request
	must[friend.Friend](t)(e.svc.Accept(ctx, alice, r.ID))
	e.newEvents(t)
	if err := e.svc.Block(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendRemoved{UserId: alice, FriendUserId: bob, Reason: "blocked"})
	if err := e.svc.Block(ctx, alice, bob); err != nil {
		t.Fatalf("blocking again: %v", err)
	}
	wantNoEvents(t, e)
	for _, asker := range []string{alice, bob} {
		if rel := must[friend.Relationship](t)(e.svc.Check(ctx, asker, bob, alice)); rel.AreFriends || !rel.Blocked {
			t.Fatalf("Check by %s after the block = %+v; want blocked, not friends", asker, rel)
		}
	}
	if got := e.friendIDs(t, bob); len(got) != 0 {
		t.Fatalf("bob's friends after the block: %v", got)
	}
	bl := must[friend.BlockedPage](t)(e.svc.ListBlocked(ctx, alice, 0, "")).Blocked
	if len(bl) != 1 || bl[0].User.UserID != bob || bl[0].User.Nickname != "bob" || bl[0].BlockedAt.IsZero() {
		t.Fatalf("alice's blocked list = %+v", bl)
	}
	if got := must[friend.BlockedPage](t)(e.svc.ListBlocked(ctx, bob, 0, "")).Blocked; len(got) != 0 {
		t.Fatalf("bob's blocked list = %+v; want empty", got)
	}

	// The blocker cannot ask; the blocked person seems to, but nothing reaches the blocker.
	_, err := e.svc.Send(ctx, alice, bob)
	wantErr(t, err, domainerr.ErrFailedPrecondition, "unblock them first")
	hidden := must[friend.SendResult](t)(e.svc.Send(ctx, bob, alice)).Request
	if hidden == nil || hidden.Status != friend.StatusPending || hidden.To != alice {
		t.Fatalf("blocked user's request = %+v; want it to look pending", hidden)
	}
	if again := must[friend.SendResult](t)(e.svc.Send(ctx, bob, alice)).Request; again == nil || again.ID != hidden.ID {
		t.Fatalf("blocked user's repeated request = %+v; want %s again", again, hidden.ID)
	}
	wantNoEvents(t, e)
	if out := e.pending(t, bob, friend.Outgoing); len(out) != 1 || out[0].ID != hidden.ID {
		t.Fatalf("bob's outgoing = %+v; want the hidden request", out)
	}
	if in := e.pending(t, alice, friend.Incoming); len(in) != 0 {
		t.Fatalf("alice sees %+v; want nothing from the user she blocked", in)
	}
	_, err = e.svc.Accept(ctx, alice, hidden.ID)
	wantErr(t, err, domainerr.ErrNotFound, "no pending")
	wantErr(t, e.svc.Decline(ctx, alice, hidden.ID), domainerr.ErrNotFound, "no pending")
	wantErr(t, e.svc.Cancel(ctx, alice, hidden.ID), domainerr.ErrNotFound, "no pending")

	// Unblocking restores nothing and discards what bob sent meanwhile.
	if err := e.svc.Unblock(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unblock(ctx, alice, bob); err != nil {
		t.Fatalf("unblocking again: %v", err)
	}
	wantNoEvents(t, e)
	if out := e.pending(t, bob, friend.Outgoing); len(out) != 0 {
		t.Fatalf("bob's outgoing after the unblock = %+v; want the hidden request gone", out)
	}
	if got := e.friendIDs(t, alice); len(got) != 0 {
		t.Fatalf("friendship restored by unblock: %v", got)
	}
	if rel := must[friend.Relationship](t)(e.svc.Check(ctx, alice, alice, bob)); rel.Blocked || rel.AreFriends {
		t.Fatalf("Check after unblock = %+v", rel)
	}

	// A visible pending request is dropped by a block, as a decline from the blocker's side...
	r2 := must[friend.SendResult](t)(e.svc.Send(ctx, bob, alice)).Request
	wantEvent(t, e.newEvents(t), alice, &eventsv1.FriendRequestSent{RequestId: r2.ID, FromUserId: bob, ToUserId: alice, FromNickname: "bob"})
	if err := e.svc.Block(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, bob), &eventsv1.FriendDeclined{RequestId: r2.ID, RequesterId: bob, RecipientId: alice})
	if out := e.pending(t, bob, friend.Outgoing); len(out) != 0 {
		t.Fatalf("bob's outgoing after being blocked = %+v", out)
	}
	// ...and as a cancellation when the blocker had asked.
	r3 := must[friend.SendResult](t)(e.svc.Send(ctx, carol, alice)).Request
	e.newEvents(t)
	if err := e.svc.Block(ctx, carol, alice); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.newEvents(t), pairID(alice, carol), &eventsv1.FriendDeclined{RequestId: r3.ID, RequesterId: carol, RecipientId: alice, Cancelled: true})

	// Both may block each other; each block stops the other's requests.
	if err := e.svc.Block(ctx, bob, alice); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Send(ctx, bob, alice)
	wantErr(t, err, domainerr.ErrFailedPrecondition, "unblock")
	if err := e.svc.Unblock(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	if rel := must[friend.Relationship](t)(e.svc.Check(ctx, alice, alice, bob)); !rel.Blocked {
		t.Fatalf("Check with bob's block still standing = %+v", rel)
	}
	if err := e.svc.Unblock(ctx, alice, carol); err != nil {
		t.Fatalf("unblocking someone not blocked: %v", err)
	}
	wantNoEvents(t, e)
}

func TestRequestRateLimit(t *testing.T) {
	e := newEnv(t, friend.Limits{Requests: 2, Window: time.Hour})
	alice := friendtest.AddUser(t, e.pool, "alice")
	var others []string
	for _, n := range []string{"bob", "carol", "dave"} {
		others = append(others, friendtest.AddUser(t, e.pool, n))
	}
	first := must[friend.SendResult](t)(e.svc.Send(ctx, alice, others[0])).Request
	must[friend.SendResult](t)(e.svc.Send(ctx, alice, others[1]))
	_, err := e.svc.Send(ctx, alice, others[2])
	wantErr(t, err, domainerr.ErrResourceExhausted, "at most 2 per 1h0m0s")
	// Repeating a pending request is free; cancelled requests still count.
	if again := must[friend.SendResult](t)(e.svc.Send(ctx, alice, others[0])).Request; again.ID != first.ID {
		t.Fatalf("repeat under the limit = %+v", again)
	}
	if err := e.svc.Cancel(ctx, alice, first.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Send(ctx, alice, others[0])
	wantErr(t, err, domainerr.ErrResourceExhausted, "too many friend requests")
	// The window passes.
	e.svc.Now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	must[friend.SendResult](t)(e.svc.Send(ctx, alice, others[2]))
}

// clock returns a Now that advances by one second on every call, from a fixed start.
func clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func TestListsPaginate(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	e.svc.Now = clock()
	alice := friendtest.AddUser(t, e.pool, "alice")
	ids := map[string]string{}
	// Friends in an order that is neither insertion order nor case-sensitive order.
	for _, n := range []string{"frank", "Carol", "eve", "Bob", "dave"} {
		ids[n] = friendtest.AddUser(t, e.pool, n)
		r := must[friend.SendResult](t)(e.svc.Send(ctx, ids[n], alice)).Request
		must[friend.Friend](t)(e.svc.Accept(ctx, alice, r.ID))
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than friends")
		}
		page := must[friend.FriendsPage](t)(e.svc.ListFriends(ctx, alice, 2, token))
		for _, f := range page.Friends {
			got = append(got, f.User.Nickname)
			if f.User.UserID != ids[f.User.Nickname] || f.Since.IsZero() {
				t.Fatalf("friend %+v", f)
			}
		}
		if token = page.NextPageToken; token == "" {
			if pages != 2 {
				t.Fatalf("%d pages of 2 for 5 friends", pages+1)
			}
			break
		}
	}
	if want := "Bob,Carol,dave,eve,frank"; strings.Join(got, ",") != want {
		t.Fatalf("friends %v; want %s (by nickname ignoring case)", got, want)
	}
	// A page token belongs to its list.
	page := must[friend.FriendsPage](t)(e.svc.ListFriends(ctx, alice, 2, ""))
	_, err := e.svc.ListBlocked(ctx, alice, 2, page.NextPageToken)
	wantErr(t, err, domainerr.ErrInvalidArgument, "page_token: belongs to another list")
	_, err = e.svc.ListFriends(ctx, alice, 2, "garbage!")
	wantErr(t, err, domainerr.ErrInvalidArgument, "page_token: malformed")

	// Incoming requests, newest first, across pages; a token of one direction is refused by the other.
	var sent []string
	for _, n := range []string{"g1", "g2", "g3"} {
		r := must[friend.SendResult](t)(e.svc.Send(ctx, friendtest.AddUser(t, e.pool, n), alice)).Request
		sent = append([]string{r.ID}, sent...)
	}
	p1 := must[friend.RequestsPage](t)(e.svc.ListRequests(ctx, alice, friend.Incoming, 2, ""))
	p2 := must[friend.RequestsPage](t)(e.svc.ListRequests(ctx, alice, friend.Incoming, 2, p1.NextPageToken))
	if all := append(requestIDs(p1.Requests), requestIDs(p2.Requests)...); strings.Join(all, ",") != strings.Join(sent, ",") || p2.NextPageToken != "" {
		t.Fatalf("incoming pages %v + %v (next %q); want %v", requestIDs(p1.Requests), requestIDs(p2.Requests), p2.NextPageToken, sent)
	}
	_, err = e.svc.ListRequests(ctx, alice, friend.Outgoing, 2, p1.NextPageToken)
	wantErr(t, err, domainerr.ErrInvalidArgument, "page_token: belongs to another list (requests:incoming, not requests:outgoing)")

	// Blocked users, most recent first.
	for _, n := range []string{"Bob", "Carol", "dave"} {
		if err := e.svc.Block(ctx, alice, ids[n]); err != nil {
			t.Fatal(err)
		}
	}
	b1 := must[friend.BlockedPage](t)(e.svc.ListBlocked(ctx, alice, 2, ""))
	b2 := must[friend.BlockedPage](t)(e.svc.ListBlocked(ctx, alice, 2, b1.NextPageToken))
	var blocked []string
	for _, b := range append(b1.Blocked, b2.Blocked...) {
		blocked = append(blocked, b.User.Nickname)
	}
	if strings.Join(blocked, ",") != "dave,Carol,Bob" || b2.NextPageToken != "" {
		t.Fatalf("blocked pages %v (next %q); want dave,Carol,Bob", blocked, b2.NextPageToken)
	}
}

// declinedBefore has from ask to and be declined, so that the pair's row exists: a pair's first
// change also serialises on inserting that row, which would hide a missing row lock.
func (e *env) declinedBefore(t *testing.T, from, to string) {
	t.Helper()
	r := must[friend.SendResult](t)(e.svc.Send(ctx, from, to)).Request
	if err := e.svc.Decline(ctx, to, r.ID); err != nil {
		t.Fatal(err)
	}
}

// Two people asking each other at the same moment end as one friendship: never two friendships,
// never a request left pending, never an error.
func TestConcurrentMutualRequests(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	const pairs = 12
	type result struct {
		res friend.SendResult
		err error
	}
	results := make([][2]result, pairs)
	users := make([][2]string, pairs)
	for i := range pairs {
		users[i] = [2]string{friendtest.AddUser(t, e.pool, fmt.Sprintf("a%d", i)), friendtest.AddUser(t, e.pool, fmt.Sprintf("b%d", i))}
		e.declinedBefore(t, users[i][0], users[i][1])
	}
	e.newEvents(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range pairs {
		for side := range 2 {
			wg.Go(func() {
				<-start
				me, other := users[i][side], users[i][1-side]
				res, err := e.svc.Send(ctx, me, other)
				results[i][side] = result{res, err}
			})
		}
	}
	close(start)
	wg.Wait()

	for i, rs := range results {
		friends, requests := 0, 0
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("pair %d: %v", i, r.err)
			}
			if r.res.Friend != nil {
				friends++
			}
			if r.res.Request != nil {
				requests++
			}
		}
		if friends != 1 || requests != 1 {
			t.Errorf("pair %d: %d friendship and %d request answers; want one of each", i, friends, requests)
		}
	}
	var nFriends, nPending, nAccepted int
	if err := e.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pairs WHERE friends_since IS NOT NULL),
		(SELECT count(*) FROM friend_requests WHERE status = 'pending'),
		(SELECT count(*) FROM friend_requests WHERE status = 'accepted')`).Scan(&nFriends, &nPending, &nAccepted); err != nil {
		t.Fatal(err)
	}
	if nFriends != pairs || nPending != 0 || nAccepted != pairs {
		t.Fatalf("%d friendships, %d pending, %d accepted requests; want %d, 0, %d", nFriends, nPending, nAccepted, pairs, pairs)
	}
	counts := map[string]int{}
	for _, ev := range e.newEvents(t) {
		counts[string(ev.msg.ProtoReflect().Descriptor().Name())]++
	}
	if counts["FriendRequestSent"] != pairs || counts["FriendAccepted"] != pairs || len(counts) != 2 {
		t.Fatalf("events %v; want %d FriendRequestSent and %d FriendAccepted", counts, pairs, pairs)
	}
	for _, u := range users {
		if got := e.friendIDs(t, u[0]); len(got) != 1 || got[0] != u[1] {
			t.Fatalf("friends of %s: %v; want [%s]", u[0], got, u[1])
		}
	}
}

// The same request sent several times at once is stored once.
func TestConcurrentRepeatedRequests(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	alice := friendtest.AddUser(t, e.pool, "alice")
	bob := friendtest.AddUser(t, e.pool, "bob")
	e.declinedBefore(t, alice, bob)
	e.newEvents(t)
	const n = 6
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			res, err := e.svc.Send(ctx, alice, bob)
			errs[i] = err
			if err == nil {
				ids[i] = res.Request.ID
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("send %d: id %q err %v; want %q", i, ids[i], errs[i], ids[0])
		}
	}
	if evs := e.newEvents(t); len(evs) != 1 {
		t.Fatalf("%d events; want one FriendRequestSent", len(evs))
	}
}

// Accepting and blocking at the same moment ends either way with the block standing and no
// friendship.
func TestConcurrentAcceptAndBlock(t *testing.T) {
	e := newEnv(t, friend.DefaultLimits)
	const rounds = 8
	for i := range rounds {
		alice := friendtest.AddUser(t, e.pool, fmt.Sprintf("alice%d", i))
		bob := friendtest.AddUser(t, e.pool, fmt.Sprintf("bob%d", i))
		r := must[friend.SendResult](t)(e.svc.Send(ctx, alice, bob)).Request
		start := make(chan struct{})
		var wg sync.WaitGroup
		var acceptErr, blockErr error
		wg.Go(func() { <-start; _, acceptErr = e.svc.Accept(ctx, bob, r.ID) })
		wg.Go(func() { <-start; blockErr = e.svc.Block(ctx, alice, bob) })
		close(start)
		wg.Wait()
		if blockErr != nil || (acceptErr != nil && !errors.Is(acceptErr, domainerr.ErrNotFound)) {
			t.Fatalf("round %d: accept %v, block %v", i, acceptErr, blockErr)
		}
		if rel := must[friend.Relationship](t)(e.svc.Check(ctx, alice, alice, bob)); rel.AreFriends || !rel.Blocked {
			t.Fatalf("round %d: %+v; want blocked, not friends", i, rel)
		}
		var friendsRow bool
		if err := e.pool.QueryRow(ctx, `SELECT friends_since IS NOT NULL FROM pairs WHERE user_lo = $1 AND user_hi = $2`,
			friend.NewPair(alice, bob).Lo, friend.NewPair(alice, bob).Hi).Scan(&friendsRow); err != nil || friendsRow {
			t.Fatalf("round %d: pair row says friends=%v (%v)", i, friendsRow, err)
		}
	}
}
