package friend

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/parleyhq/parley/platform/domainerr"
	"github.com/parleyhq/parley/platform/validate"
)

// Store keeps users, requests, friendships and blocks (frienddb implements it over Postgres).
type Store interface {
	// UserExists reports whether the service knows userID (from UserRegistered or ProfileUpdated,
	// or as a caller).
	UserExists(ctx context.Context, userID string) (bool, error)
	// EnsureUser records a signed-in caller whom no event has introduced yet, so that the rows
	// made for them have a user to refer to; their nickname arrives with the events.
	EnsureUser(ctx context.Context, userID string) error
	// RequestParties returns a request's sender and recipient; found is false when there is no
	// such request.
	RequestParties(ctx context.Context, requestID string) (from, to string, found bool, err error)
	// InPair runs fn in one transaction holding the lock of pair p, committing when fn returns
	// nil. Every change to a pair goes through it, so changes to one pair never interleave.
	InPair(ctx context.Context, p Pair, fn func(PairTx) error) error
	// Relationship reads whether the pair are friends and whether either blocks the other.
	Relationship(ctx context.Context, p Pair) (Relationship, error)
	// HasBlocked reports whether blocker has blocked blocked.
	HasBlocked(ctx context.Context, blocker, blocked string) (bool, error)
	// ListFriends returns up to limit of userID's friends after the cursor, by nickname ignoring
	// case, and the cursor of the next page (nil on the last page).
	ListFriends(ctx context.Context, userID string, after *FriendsCursor, limit int) ([]Friend, *FriendsCursor, error)
	// ListRequests returns up to limit of userID's pending requests of direction d after the
	// cursor, newest first (hidden requests only to their sender), and the next cursor.
	ListRequests(ctx context.Context, userID string, d Direction, after *TimeCursor, limit int) ([]RequestView, *TimeCursor, error)
	// ListBlocked returns up to limit of the users userID has blocked after the cursor, most
	// recent first, and the next cursor.
	ListBlocked(ctx context.Context, userID string, after *TimeCursor, limit int) ([]Blocked, *TimeCursor, error)
}

// PairTx is one pair's locked transaction (see Store.InPair).
type PairTx interface {
	// State reads the pair's friendship, pending request and blocks.
	State(ctx context.Context) (PairState, error)
	// Request reads one of the pair's requests.
	Request(ctx context.Context, requestID string) (Request, error)
	// User returns a member's summary (empty nickname when the events have not told it yet).
	User(ctx context.Context, userID string) (UserSummary, error)
	// SentSince counts the requests userID has sent since the given time, to any user.
	SentSince(ctx context.Context, userID string, since time.Time) (int, error)
	// CreateRequest stores a new pending request.
	CreateRequest(ctx context.Context, r Request) error
	// ResolveRequest moves a pending request to status.
	ResolveRequest(ctx context.Context, requestID string, status RequestStatus, at time.Time) error
	// MakeFriends makes the pair friends through requestID.
	MakeFriends(ctx context.Context, requestID string, at time.Time) error
	// EndFriendship ends the pair's friendship.
	EndFriendship(ctx context.Context) error
	// Block records that blocker blocks the other member.
	Block(ctx context.Context, blocker string, at time.Time) error
	// Unblock removes blocker's block of the other member.
	Unblock(ctx context.Context, blocker string) error
	// Publish writes ev to the outbox in this transaction.
	Publish(ctx context.Context, ev Event) error
}

// Limits bound what one person can do.
type Limits struct {
	// Requests is how many friend requests one person may send per Window (new requests only;
	// repeating a pending one costs nothing).
	Requests int
	Window   time.Duration
}

// DefaultLimits is 50 new requests per hour.
var DefaultLimits = Limits{Requests: 50, Window: time.Hour}

// Service holds the friend use cases behind the RPCs.
//
// Every change to the relationship of two people runs in Store.InPair, under the lock of their
// pair, and reads the pair's state again there: so two people asking each other at the same
// moment end as one friendship (whichever runs second finds the first's request and accepts it),
// and a block cannot cross an accept.
type Service struct {
	store  Store
	limits Limits
	// Now is the clock (tests replace it). Times are kept to the microsecond, as Postgres does.
	Now func() time.Time
}

// NewService wires the use cases.
func NewService(store Store, limits Limits) *Service {
	return &Service{store: store, limits: limits, Now: time.Now}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func newRequestID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new request id: %w", err)
	}
	return id.String(), nil
}

// otherUser validates the user_id of a request against the caller.
func otherUser(caller, field, raw string) (string, error) {
	id, err := validate.UUID(field, raw)
	if err != nil {
		return "", err
	}
	if id == caller {
		return "", domainerr.Errorf(domainerr.ErrInvalidArgument, "%s: that is your own id; name another user", field)
	}
	return id, nil
}

func (s *Service) mustExist(ctx context.Context, userID string) error {
	ok, err := s.store.UserExists(ctx, userID)
	if err != nil {
		return err
	}
	if !ok {
		return domainerr.Errorf(domainerr.ErrNotFound, "user_id: no user %s", userID)
	}
	return nil
}

// SendResult is either the pending request or, when the two are friends, the friendship.
type SendResult struct {
	Request *RequestView
	Friend  *Friend
}

// Send asks userID to be friends with caller. A pending request of the caller's is returned again;
// a pending request of the other's is accepted (the two are friends at once); friends get their
// friendship back. To someone who has blocked the caller, the request is stored hidden: it looks
// pending to the caller, but the other never sees it and no event is raised.
func (s *Service) Send(ctx context.Context, caller, userID string) (SendResult, error) {
	target, err := otherUser(caller, "user_id", userID)
	if err != nil {
		return SendResult{}, err
	}
	if err := s.mustExist(ctx, target); err != nil {
		return SendResult{}, err
	}
	if err := s.store.EnsureUser(ctx, caller); err != nil {
		return SendResult{}, err
	}
	p := NewPair(caller, target)
	var res SendResult
	err = s.store.InPair(ctx, p, func(tx PairTx) error {
		st, err := tx.State(ctx)
		if err != nil {
			return err
		}
		if st.Blocks(p, caller) {
			return domainerr.Errorf(domainerr.ErrFailedPrecondition, "user_id: you have blocked this user; unblock them first")
		}
		now := s.now()
		var answered bool
		if res, answered, err = answerExisting(ctx, tx, st, caller, target, now); err != nil || answered {
			return err
		}
		res, err = s.newRequest(ctx, tx, caller, target, st.Blocks(p, target), now)
		return err
	})
	if err != nil {
		return SendResult{}, err
	}
	return res, nil
}

// answerExisting is Send's answer when the pair already has one (answered): their friendship, the
// caller's pending request, or the friendship that accepting the other's pending request makes. A
// hidden request of the other's is dropped, and a new request is left to make.
func answerExisting(ctx context.Context, tx PairTx, st PairState, caller, target string, now time.Time) (res SendResult, answered bool, err error) {
	if st.FriendsSince != nil {
		other, err := tx.User(ctx, target)
		if err != nil {
			return SendResult{}, false, err
		}
		return SendResult{Friend: &Friend{User: other, Since: *st.FriendsSince}}, true, nil
	}
	pend := st.Pending
	switch {
	case pend == nil:
		return SendResult{}, false, nil
	case pend.From == caller:
		other, err := tx.User(ctx, target)
		if err != nil {
			return SendResult{}, false, err
		}
		return SendResult{Request: &RequestView{Request: *pend, Other: other, Direction: Outgoing}}, true, nil
	case !pend.Hidden:
		// The other asked first: asking back accepts their request.
		f, err := accept(ctx, tx, *pend, now)
		if err != nil {
			return SendResult{}, false, err
		}
		return SendResult{Friend: &f}, true, nil
	default:
		// A hidden request of theirs outlived the caller's block; it cannot, as unblocking drops
		// it, but if it did it must not leak now.
		return SendResult{}, false, tx.ResolveRequest(ctx, pend.ID, StatusDropped, now)
	}
}

// newRequest stores caller's request to target, within the caller's request limit, and raises
// FriendRequestSent unless it is hidden (target has blocked the caller).
func (s *Service) newRequest(ctx context.Context, tx PairTx, caller, target string, hidden bool, now time.Time) (SendResult, error) {
	if s.limits.Requests > 0 {
		n, err := tx.SentSince(ctx, caller, now.Add(-s.limits.Window))
		if err != nil {
			return SendResult{}, err
		}
		if n >= s.limits.Requests {
			return SendResult{}, domainerr.Errorf(domainerr.ErrResourceExhausted, "too many friend requests: at most %d per %s; try again later", s.limits.Requests, s.limits.Window)
		}
	}
	id, err := newRequestID()
	if err != nil {
		return SendResult{}, err
	}
	r := Request{ID: id, From: caller, To: target, Status: StatusPending, Hidden: hidden, CreatedAt: now}
	if err := tx.CreateRequest(ctx, r); err != nil {
		return SendResult{}, err
	}
	if !r.Hidden {
		me, err := tx.User(ctx, caller)
		if err != nil {
			return SendResult{}, err
		}
		if err := tx.Publish(ctx, RequestSent{RequestID: r.ID, From: caller, To: target, FromNickname: me.Nickname, At: now}); err != nil {
			return SendResult{}, err
		}
	}
	other, err := tx.User(ctx, target)
	if err != nil {
		return SendResult{}, err
	}
	return SendResult{Request: &RequestView{Request: r, Other: other, Direction: Outgoing}}, nil
}

// accept makes the pair of pending request r friends and publishes FriendAccepted; it returns
// the friendship as r's recipient sees it.
func accept(ctx context.Context, tx PairTx, r Request, now time.Time) (Friend, error) {
	if err := tx.ResolveRequest(ctx, r.ID, StatusAccepted, now); err != nil {
		return Friend{}, err
	}
	if err := tx.MakeFriends(ctx, r.ID, now); err != nil {
		return Friend{}, err
	}
	accepter, err := tx.User(ctx, r.To)
	if err != nil {
		return Friend{}, err
	}
	requester, err := tx.User(ctx, r.From)
	if err != nil {
		return Friend{}, err
	}
	ev := Accepted{RequestID: r.ID, Requester: r.From, Accepter: r.To, AccepterNickname: accepter.Nickname, At: now}
	if err := tx.Publish(ctx, ev); err != nil {
		return Friend{}, err
	}
	return Friend{User: requester, Since: now}, nil
}

// requestOp runs fn on request requestID under its pair's lock, after checking that the caller
// is its sender or its visible recipient (anyone else gets the same NotFound as for a request
// that does not exist).
func (s *Service) requestOp(ctx context.Context, caller, requestID string, fn func(tx PairTx, r Request, notFound error) error) error {
	id, err := validate.UUID("request_id", requestID)
	if err != nil {
		return err
	}
	notFound := domainerr.Errorf(domainerr.ErrNotFound, "request_id: no pending friend request %s to or from you", id)
	from, to, found, err := s.store.RequestParties(ctx, id)
	if err != nil {
		return err
	}
	if !found || (caller != from && caller != to) {
		return notFound
	}
	return s.store.InPair(ctx, NewPair(from, to), func(tx PairTx) error {
		r, err := tx.Request(ctx, id)
		if err != nil {
			return err
		}
		if r.Hidden && caller == r.To {
			return notFound
		}
		return fn(tx, r, notFound)
	})
}

// Accept accepts a pending request sent to the caller. Accepting it again returns the friendship
// while it lasts.
func (s *Service) Accept(ctx context.Context, caller, requestID string) (Friend, error) {
	var f Friend
	err := s.requestOp(ctx, caller, requestID, func(tx PairTx, r Request, notFound error) error {
		if caller == r.From {
			return domainerr.Errorf(domainerr.ErrPermissionDenied, "request_id: you sent this request; only its recipient can accept it")
		}
		switch r.Status {
		case StatusPending:
			var err error
			f, err = accept(ctx, tx, r, s.now())
			return err
		case StatusAccepted:
			st, err := tx.State(ctx)
			if err != nil {
				return err
			}
			if st.FriendsSince == nil {
				return notFound
			}
			other, err := tx.User(ctx, r.From)
			if err != nil {
				return err
			}
			f = Friend{User: other, Since: *st.FriendsSince}
			return nil
		}
		return notFound
	})
	if err != nil {
		return Friend{}, err
	}
	return f, nil
}

// Decline declines a pending request sent to the caller; declining it again succeeds.
func (s *Service) Decline(ctx context.Context, caller, requestID string) error {
	return s.endRequest(ctx, caller, requestID, StatusDeclined)
}

// Cancel withdraws a pending request the caller sent; cancelling it again succeeds.
func (s *Service) Cancel(ctx context.Context, caller, requestID string) error {
	return s.endRequest(ctx, caller, requestID, StatusCancelled)
}

// endRequest ends a pending request as status: StatusDeclined by its recipient, StatusCancelled
// by its sender. Ending it again the same way succeeds. Both sides learn of it through Declined
// (Cancelled set for a withdrawal), except of a hidden request, which its recipient never saw
// (and cannot reach: requestOp answers them notFound).
func (s *Service) endRequest(ctx context.Context, caller, requestID string, status RequestStatus) error {
	cancel := status == StatusCancelled
	return s.requestOp(ctx, caller, requestID, func(tx PairTx, r Request, notFound error) error {
		switch {
		case cancel && caller == r.To:
			return domainerr.Errorf(domainerr.ErrPermissionDenied, "request_id: this request was sent to you; answer it with DeclineFriendRequest")
		case !cancel && caller == r.From:
			return domainerr.Errorf(domainerr.ErrPermissionDenied, "request_id: you sent this request; withdraw it with CancelFriendRequest")
		}
		switch r.Status {
		case StatusPending:
			now := s.now()
			if err := tx.ResolveRequest(ctx, r.ID, status, now); err != nil {
				return err
			}
			if r.Hidden {
				return nil
			}
			return tx.Publish(ctx, Declined{RequestID: r.ID, Requester: r.From, Recipient: r.To, Cancelled: cancel, At: now})
		case status:
			return nil
		}
		return notFound
	})
}

// Remove ends the caller's friendship with userID; removing someone who is not a friend succeeds.
func (s *Service) Remove(ctx context.Context, caller, userID string) error {
	other, err := otherUser(caller, "user_id", userID)
	if err != nil {
		return err
	}
	p := NewPair(caller, other)
	rel, err := s.store.Relationship(ctx, p)
	if err != nil {
		return err
	}
	if !rel.AreFriends {
		return nil // nothing to end; checked again under the lock when there is
	}
	return s.store.InPair(ctx, p, func(tx PairTx) error {
		st, err := tx.State(ctx)
		if err != nil || st.FriendsSince == nil {
			return err
		}
		if err := tx.EndFriendship(ctx); err != nil {
			return err
		}
		return tx.Publish(ctx, Removed{By: caller, Friend: other, Reason: ReasonRemoved, At: s.now()})
	})
}

// Block blocks userID for the caller: a friendship ends (FriendRemoved, reason blocked), the
// pair's pending request is dropped, and no request passes between them until the caller
// unblocks. Blocking again succeeds.
func (s *Service) Block(ctx context.Context, caller, userID string) error {
	target, err := otherUser(caller, "user_id", userID)
	if err != nil {
		return err
	}
	if err := s.mustExist(ctx, target); err != nil {
		return err
	}
	if err := s.store.EnsureUser(ctx, caller); err != nil {
		return err
	}
	p := NewPair(caller, target)
	return s.store.InPair(ctx, p, func(tx PairTx) error {
		st, err := tx.State(ctx)
		if err != nil {
			return err
		}
		if st.Blocks(p, caller) {
			return nil
		}
		now := s.now()
		if err := tx.Block(ctx, caller, now); err != nil {
			return err
		}
		if st.FriendsSince != nil {
			if err := tx.EndFriendship(ctx); err != nil {
				return err
			}
			if err := tx.Publish(ctx, Removed{By: caller, Friend: target, Reason: ReasonBlocked, At: now}); err != nil {
				return err
			}
		}
		if pend := st.Pending; pend != nil {
			if err := tx.ResolveRequest(ctx, pend.ID, StatusDropped, now); err != nil {
				return err
			}
			if !pend.Hidden {
				ev := Declined{RequestID: pend.ID, Requester: pend.From, Recipient: pend.To, Cancelled: pend.From == caller, At: now}
				if err := tx.Publish(ctx, ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Unblock lifts the caller's block of userID. Nothing is restored, and the requests the blocked
// user sent during the block (hidden) are dropped. Unblocking someone not blocked succeeds.
func (s *Service) Unblock(ctx context.Context, caller, userID string) error {
	target, err := validate.UUID("user_id", userID)
	if err != nil {
		return err
	}
	if target == caller {
		return nil // nobody blocks themselves
	}
	blocked, err := s.store.HasBlocked(ctx, caller, target)
	if err != nil || !blocked {
		return err
	}
	p := NewPair(caller, target)
	return s.store.InPair(ctx, p, func(tx PairTx) error {
		st, err := tx.State(ctx)
		if err != nil || !st.Blocks(p, caller) {
			return err
		}
		if err := tx.Unblock(ctx, caller); err != nil {
			return err
		}
		if pend := st.Pending; pend != nil && pend.Hidden && pend.From == target {
			return tx.ResolveRequest(ctx, pend.ID, StatusDropped, s.now())
		}
		return nil
	})
}

// ListFriends returns one page of the caller's friends, by nickname ignoring case.
func (s *Service) ListFriends(ctx context.Context, caller string, pageSize int32, pageToken string) (FriendsPage, error) {
	fs, next, err := listPage(pageSize, pageToken, DecodeFriendsToken, EncodeFriendsToken,
		func(after *FriendsCursor, limit int) ([]Friend, *FriendsCursor, error) {
			return s.store.ListFriends(ctx, caller, after, limit)
		})
	return FriendsPage{Friends: fs, NextPageToken: next}, err
}

// ListRequests returns one page of the caller's pending requests of direction d, newest first.
func (s *Service) ListRequests(ctx context.Context, caller string, d Direction, pageSize int32, pageToken string) (RequestsPage, error) {
	if d != Incoming && d != Outgoing {
		return RequestsPage{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "direction: required; FRIEND_REQUEST_DIRECTION_INCOMING or FRIEND_REQUEST_DIRECTION_OUTGOING")
	}
	decode := func(token string) (*TimeCursor, error) { return DecodeRequestsToken(d, token) }
	encode := func(c TimeCursor) string { return EncodeRequestsToken(d, c) }
	rs, next, err := listPage(pageSize, pageToken, decode, encode, func(after *TimeCursor, limit int) ([]RequestView, *TimeCursor, error) {
		return s.store.ListRequests(ctx, caller, d, after, limit)
	})
	return RequestsPage{Requests: rs, NextPageToken: next}, err
}

// ListBlocked returns one page of the users the caller has blocked, most recent first.
func (s *Service) ListBlocked(ctx context.Context, caller string, pageSize int32, pageToken string) (BlockedPage, error) {
	bs, next, err := listPage(pageSize, pageToken, DecodeBlockedToken, EncodeBlockedToken,
		func(after *TimeCursor, limit int) ([]Blocked, *TimeCursor, error) {
			return s.store.ListBlocked(ctx, caller, after, limit)
		})
	return BlockedPage{Blocked: bs, NextPageToken: next}, err
}

// listPage reads one page of a listing: the page size checked, the page token decoded, up to that
// many entries listed after its position, and the token continuing after the last of them ("" at
// the end). On an error it returns nothing else.
func listPage[T, C any](pageSize int32, pageToken string, decode func(string) (*C, error), encode func(C) string,
	list func(after *C, limit int) ([]T, *C, error)) ([]T, string, error) {
	limit, err := validate.PageSize(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	after, err := decode(pageToken)
	if err != nil {
		return nil, "", err
	}
	items, next, err := list(after, limit)
	switch {
	case err != nil:
		return nil, "", err
	case next == nil:
		return items, "", nil
	}
	return items, encode(*next), nil
}

// Check tells whether two users are friends and whether either blocks the other. Only one of the
// two may ask: other services call it forwarding their user's access token.
func (s *Service) Check(ctx context.Context, caller, userA, userB string) (Relationship, error) {
	a, err := validate.UUID("user_a_id", userA)
	if err != nil {
		return Relationship{}, err
	}
	b, err := validate.UUID("user_b_id", userB)
	if err != nil {
		return Relationship{}, err
	}
	if a == b {
		return Relationship{}, domainerr.Errorf(domainerr.ErrInvalidArgument, "user_b_id: must differ from user_a_id")
	}
	if caller != a && caller != b {
		return Relationship{}, domainerr.Errorf(domainerr.ErrPermissionDenied, "only one of the two users may ask about their relationship; forward that user's access token")
	}
	rel, err := s.store.Relationship(ctx, NewPair(a, b))
	if err != nil {
		return Relationship{}, err
	}
	if rel.Blocked {
		rel.AreFriends = false
	}
	return rel, nil
}
