package chatdb

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/platform/pg"
)

// DeleteUser applies a user's account deletion in tx (the consumer's transaction for
// UserDeleted): it records the tombstone, closes the user's chats (can_send false), turns every
// message they sent into a tombstone — no text, no attachments, deleted at at unless deleted
// before, its client id replaced by its own id — and drops their peer_profiles row. Each chat is
// locked first, as the send path locks it, so a send racing the deletion either committed before
// (its message is tombstoned here) or finds the chat closed. It returns how many messages became
// tombstones; doing it again changes nothing more.
func (s *Store) DeleteUser(ctx context.Context, tx pgx.Tx, userID string, at time.Time) (int64, error) {
	if err := pg.DeletedUsers.Record(ctx, tx, userID, at); err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT chat_id::text FROM chats WHERE user_lo = $1 OR user_hi = $1 ORDER BY chat_id`, userID)
	if err != nil {
		return 0, fmt.Errorf("chats of %s: %w", userID, err)
	}
	chats, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("chats of %s: %w", userID, err)
	}
	// The chats' locks in one statement, keys sorted and distinct, as a send group takes them: one
	// round trip, and the same order as the send path (no deadlock with a group of these chats).
	keys := make([]int32, 0, len(chats))
	for _, id := range chats {
		keys = append(keys, chatLockKey(id))
	}
	slices.Sort(keys)
	if keys = slices.Compact(keys); len(keys) > 0 {
		if _, err := tx.Exec(ctx, lockChatsSQL, chatLockClass, keys); err != nil {
			return 0, fmt.Errorf("lock chats of %s: %w", userID, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE chats SET can_send = false WHERE (user_lo = $1 OR user_hi = $1) AND can_send`, userID); err != nil {
		return 0, fmt.Errorf("close chats of %s: %w", userID, err)
	}
	tag, err := tx.Exec(ctx, `
		UPDATE messages SET text = '', attachment_ids = '{}', attachments = '[]', edited_at = NULL,
			deleted_at = coalesce(deleted_at, $3), client_msg_id = message_id
		WHERE chat_id = ANY($2::uuid[]) AND sender_id = $1
		  AND (text <> '' OR cardinality(attachment_ids) > 0 OR attachments <> '[]' OR edited_at IS NOT NULL
		       OR deleted_at IS NULL OR client_msg_id <> message_id)`, userID, chats, at)
	if err != nil {
		return 0, fmt.Errorf("tombstone messages of %s: %w", userID, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM peer_profiles WHERE user_id = $1`, userID); err != nil {
		return 0, fmt.Errorf("delete profile copy of %s: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}
