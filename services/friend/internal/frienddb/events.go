package frienddb

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/parleyhq/parley/contracts/gen/go/parley/events/v1"
	"github.com/parleyhq/parley/contracts/topics"
	"github.com/parleyhq/parley/services/friend/internal/friend"
)

const topicFriend = topics.Friend

// eventMessage turns a domain event of pair p into its parley.events.v1 message and Kafka key:
// FriendRequestSent is keyed by its recipient (notifications are per person), everything else by
// the pair id, so one pair's accept, decline and removal arrive in the order they happened.
func eventMessage(p friend.Pair, ev friend.Event) (key string, msg proto.Message, err error) {
	switch e := ev.(type) {
	case friend.RequestSent:
		return e.To, &eventsv1.FriendRequestSent{
			RequestId: e.RequestID, FromUserId: e.From, ToUserId: e.To,
			SentAt: timestamppb.New(e.At), FromNickname: e.FromNickname,
		}, nil
	case friend.Accepted:
		return p.ID(), &eventsv1.FriendAccepted{
			RequestId: e.RequestID, RequesterId: e.Requester, AccepterId: e.Accepter,
			AcceptedAt: timestamppb.New(e.At), AccepterNickname: e.AccepterNickname,
		}, nil
	case friend.Declined:
		return p.ID(), &eventsv1.FriendDeclined{
			RequestId: e.RequestID, RequesterId: e.Requester, RecipientId: e.Recipient,
			Cancelled: e.Cancelled, DeclinedAt: timestamppb.New(e.At),
		}, nil
	case friend.Removed:
		return p.ID(), &eventsv1.FriendRemoved{
			UserId: e.By, FriendUserId: e.Friend, Reason: string(e.Reason), RemovedAt: timestamppb.New(e.At),
		}, nil
	}
	return "", nil, fmt.Errorf("publish: unknown event type %T", ev)
}
