package friend

import "time"

// Event is a change the rest of Parley hears about. The store publishes each one through the
// transactional outbox, in the transaction of the change (frienddb turns them into
// parley.events.v1 messages).
type Event interface{ isEvent() }

// RequestSent: From asked To to be friends. Not raised for hidden requests.
type RequestSent struct {
	RequestID    string
	From, To     string
	FromNickname string
	At           time.Time
}

// Accepted: the request was accepted (or both asked each other) and the two are friends.
type Accepted struct {
	RequestID           string
	Requester, Accepter string
	AccepterNickname    string
	At                  time.Time
}

// Declined: the request was declined by its recipient, or (Cancelled) withdrawn by its sender.
// Also raised for a visible pending request that a block drops, as the side that blocked: a
// decline when the blocker was asked, a cancellation when the blocker asked.
type Declined struct {
	RequestID            string
	Requester, Recipient string
	Cancelled            bool
	At                   time.Time
}

// RemovalReason says why a friendship ended.
type RemovalReason string

// Removal reasons, as FriendRemoved carries them.
const (
	ReasonRemoved RemovalReason = "removed"
	// ReasonBlocked must never be shown to the blocked person.
	ReasonBlocked RemovalReason = "blocked"
)

// Removed: By ended the friendship with Friend.
type Removed struct {
	By, Friend string
	Reason     RemovalReason
	At         time.Time
}

func (RequestSent) isEvent() {}
func (Accepted) isEvent()    {}
func (Declined) isEvent()    {}
func (Removed) isEvent()     {}
