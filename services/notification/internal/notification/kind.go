package notification

import "strconv"

// Kind says what a notification is about; the values are parley.notification.v1.NotificationKind's.
type Kind int32

// The kinds. A new kind is a new value here and in the proto, plus its default preferences
// (DefaultKindPreference) and, if it has its own email, a template.
const (
	KindUnspecified    Kind = 0
	KindFriendRequest  Kind = 1
	KindFriendAccepted Kind = 2
	KindMessage        Kind = 3
	KindSystem         Kind = 4
)

// Kinds lists every known kind in enum order.
var Kinds = []Kind{KindFriendRequest, KindFriendAccepted, KindMessage, KindSystem}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool { return k >= KindFriendRequest && k <= KindSystem }

// Name is the kind as events spell it (parley.events.v1.NotificationSent.kind): the enum value's
// name without its prefix, in lower case.
func (k Kind) Name() string {
	switch k {
	case KindFriendRequest:
		return "friend_request"
	case KindFriendAccepted:
		return "friend_accepted"
	case KindMessage:
		return "message"
	case KindSystem:
		return "system"
	}
	return "kind_" + strconv.Itoa(int(k))
}

// String is the enum value's name, for messages a person reads ("NOTIFICATION_KIND_MESSAGE").
func (k Kind) String() string {
	switch k {
	case KindUnspecified:
		return "NOTIFICATION_KIND_UNSPECIFIED"
	case KindFriendRequest:
		return "NOTIFICATION_KIND_FRIEND_REQUEST"
	case KindFriendAccepted:
		return "NOTIFICATION_KIND_FRIEND_ACCEPTED"
	case KindMessage:
		return "NOTIFICATION_KIND_MESSAGE"
	case KindSystem:
		return "NOTIFICATION_KIND_SYSTEM"
	}
	return strconv.Itoa(int(k))
}

// DefaultKindPreference is how k reaches a user who has not changed it: every kind in the app;
// email for friend requests, accepted requests and system notices, not for messages (they come as
// delayed digests only when switched on).
func DefaultKindPreference(k Kind) KindPreference {
	return KindPreference{Kind: k, InApp: true, Email: k != KindMessage}
}
