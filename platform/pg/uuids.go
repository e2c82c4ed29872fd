package pg

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// UUIDs passes ids to a uuid[] parameter in binary. Given a []string, pgx tries the binary
// encoding first and fails, building an error each time, before it falls back to text: on a hot
// path (a consumer's inbox insert, notification's message batch) that was several per cent of
// the service's CPU. Anything but a canonical UUID is passed as it was, for the database to
// refuse as before.
func UUIDs(ids []string) any {
	out := make([]pgtype.UUID, len(ids))
	for i, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 {
			return ids
		}
		out[i] = pgtype.UUID{Bytes: u, Valid: true}
	}
	return out
}
