package chat

import "github.com/parleyhq/parley/platform/domainerr"

// Use cases return a *domainerr.Error of a standard kind (platform/domainerr) with a message a
// person can act on; platform/server turns the kind into a Connect code. In the chat domain:
//
//   - domainerr.ErrInvalidArgument: a request field is malformed; the message names the field
//     and why.
//   - domainerr.ErrNotFound: the chat or message does not exist, or the caller does not take part
//     in its chat (the two are indistinguishable on purpose).
//   - domainerr.ErrPermissionDenied: the caller may see the thing but not do this to it (another
//     person's message), or an internal method was asked about someone else.
//   - domainerr.ErrFailedPrecondition: the state does not allow the change (the two are not
//     friends, the message is deleted).
//   - domainerr.ErrUnavailable: a system the request depends on (the friend or media service)
//     cannot be reached; retrying later may succeed.
//   - domainerr.ErrUnauthenticated: a service asked on the caller's behalf refused their access
//     token (it expired between our check and theirs); the caller signs in again.

// Errors the use cases and the store share, so both say the same thing.
var (
	// ErrChatNotFound: no chat with that id has the caller as a participant.
	ErrChatNotFound = domainerr.Errorf(domainerr.ErrNotFound, "chat_id: no such chat of yours")
	// ErrMessageNotFound: no message with that id in a chat of the caller's.
	ErrMessageNotFound = domainerr.Errorf(domainerr.ErrNotFound, "message_id: no such message in a chat of yours")
	// ErrNotFriends: sending needs a friendship. The message does not tell a stranger from a
	// blocker or an unknown user on purpose.
	ErrNotFriends = domainerr.Errorf(domainerr.ErrFailedPrecondition, "you can send messages only to your friends")
	// ErrNotYourMessage: only a message's author may edit or delete it.
	ErrNotYourMessage = domainerr.Errorf(domainerr.ErrPermissionDenied, "message_id: only its author can change a message")
	// ErrMessageDeleted: a deleted message cannot be edited.
	ErrMessageDeleted = domainerr.Errorf(domainerr.ErrFailedPrecondition, "message_id: the message is deleted")
)
