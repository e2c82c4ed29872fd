package chat

import (
	"errors"
	"fmt"
)

// Sentinel errors of the chat domain. Use cases wrap them with a message a person can act on;
// only the rpc layer (chatrpc/errors.go) turns them into Connect codes.
var (
	// ErrInvalidArgument: a request field is malformed; the message names the field and why.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the chat or message does not exist, or the caller does not take part in its
	// chat (the two are indistinguishable on purpose).
	ErrNotFound = errors.New("not found")
	// ErrPermissionDenied: the caller may see the thing but not do this to it (another person's
	// message), or an internal method was asked about someone else.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrFailedPrecondition: the state does not allow the change (the two are not friends, the
	// message is deleted).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable: a system the request depends on (the friend or media service) cannot be
	// reached; retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthenticated: a service asked on the caller's behalf refused their access token (it
	// expired between our check and theirs); the caller signs in again.
	ErrUnauthenticated = errors.New("unauthenticated")
)

// Error is a domain error: Error() is the message for a person ("text: at most 4000 characters"),
// errors.Is matches its sentinel kind.
type Error struct {
	kind  error
	msg   string
	cause error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel and, when there is one, the underlying cause.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// Errorf returns an error of kind (one of the sentinels above) with a formatted message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// WrapError is Errorf that also keeps cause for errors.Is/As and logs (the message shown to a
// person is only the formatted one).
func WrapError(kind, cause error, format string, args ...any) error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// Errors the use cases and the store share, so both say the same thing.
var (
	// ErrChatNotFound: no chat with that id has the caller as a participant.
	ErrChatNotFound = Errorf(ErrNotFound, "chat_id: no such chat of yours")
	// ErrMessageNotFound: no message with that id in a chat of the caller's.
	ErrMessageNotFound = Errorf(ErrNotFound, "message_id: no such message in a chat of yours")
	// ErrNotFriends: sending needs a friendship. The message does not tell a stranger from a
	// blocker or an unknown user on purpose.
	ErrNotFriends = Errorf(ErrFailedPrecondition, "you can send messages only to your friends")
	// ErrNotYourMessage: only a message's author may edit or delete it.
	ErrNotYourMessage = Errorf(ErrPermissionDenied, "message_id: only its author can change a message")
	// ErrMessageDeleted: a deleted message cannot be edited.
	ErrMessageDeleted = Errorf(ErrFailedPrecondition, "message_id: the message is deleted")
)
