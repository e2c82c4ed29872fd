// Package topics names the Kafka topics Parley's services publish to. Each service writes all of its
// events to one topic, keyed by the entity whose order matters, so a consumer sees an entity's events
// of every type in commit order. The record's ce_type header tells the event types apart.
package topics

const (
	Auth         = "parley.auth.v1"
	Profile      = "parley.profile.v1"
	Friend       = "parley.friend.v1"
	Chat         = "parley.chat.v1"
	Notification = "parley.notification.v1"
	Media        = "parley.media.v1"
)

// All lists every topic, for creating them up front.
var All = []string{Auth, Profile, Friend, Chat, Notification, Media}
