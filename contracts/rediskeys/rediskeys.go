// Package rediskeys names the Redis keys that more than one Parley service reads or writes. Each
// is a contract between services: its name and value format change only with every side at once.
// Keys one service keeps to itself stay in that service.
package rediskeys

// PresencePrefix + user id holds when the user was last online: Unix milliseconds as a decimal
// string. The gateway writes it while the user has an open WebSocket (docs/realtime.md); the
// notification service reads it to decide whether the user is away (docs/notification.md).
const PresencePrefix = "parley:presence:"

// Presence is userID's presence key.
func Presence(userID string) string { return PresencePrefix + userID }
