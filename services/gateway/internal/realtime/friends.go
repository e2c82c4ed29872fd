package realtime

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	friendv1 "github.com/parleyhq/parley/contracts/gen/go/parley/friend/v1"
)

// friendService asks the friend service for a user's friends, with the user's own token: the hub
// loads the friend lists that decide who sees whose presence through it. It needs nothing of the
// hub's registry.
type friendService struct {
	api     FriendAPI
	timeout time.Duration
}

// maxFriendPages bounds ListFriends paging (100 per page).
const maxFriendPages = 50

// list returns the ids of the user's friends, asking with the user's token.
func (s friendService) list(ctx context.Context, token string) ([]string, error) {
	var ids []string
	pageToken := ""
	for range maxFriendPages {
		req := connect.NewRequest(&friendv1.ListFriendsRequest{PageSize: 100, PageToken: pageToken})
		req.Header().Set("Authorization", "Bearer "+token)
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := s.api.ListFriends(cctx, req)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list friends: %w", err)
		}
		for _, f := range res.Msg.GetFriends() {
			if id := f.GetUser().GetUserId(); id != "" {
				ids = append(ids, id)
			}
		}
		pageToken = res.Msg.GetNextPageToken()
		if pageToken == "" {
			break
		}
	}
	return ids, nil
}
