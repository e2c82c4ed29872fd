package pagetoken

// Cut makes a page of the rows a listing read: it reads up to limit+1 rows, the one beyond the
// page only showing that there is more. Cut returns the page's rows, at most limit, and, when
// there is more, the token that token builds from the page's last row ("" otherwise).
//
//	rows, err := store.List(ctx, after, limit+1)
//	…
//	page.Items, page.NextPageToken = pagetoken.Cut(rows, limit, func(last Item) string { … })
func Cut[T any](rows []T, limit int, token func(last T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, token(rows[limit-1])
}
