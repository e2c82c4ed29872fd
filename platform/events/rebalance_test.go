package events_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyhq/parley/platform/events"
	"github.com/parleyhq/parley/platform/kafkatest"
	"github.com/parleyhq/parley/platform/pgtest"
	"github.com/parleyhq/parley/platform/waittest"
)

// TestOrderPerKeyAcrossRebalance: two members of one group share a multi-partition topic while
// records of several keys stream in from one producer; a second member joins mid-stream and the
// first leaves mid-stream. What docs/events.md promises holds throughout: every key's records take effect in
// the order they were produced, with none missing, and each exactly once — a record delivered
// again after a rebalance (its offset not yet committed) is dropped by the inbox, never applied
// twice.
func TestOrderPerKeyAcrossRebalance(t *testing.T) {
	ctx := context.Background()
	pool := newDB(t)
	_, brokers := kafkatest.New(t)
	log, _ := testLogger(t)
	const topic, group = "rebalance.t", "g"
	const keys = 8

	// Each member notes how many records it applied (committed or not), to show both took part.
	var mu sync.Mutex
	handledBy := map[string]int{}
	handled := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return handledBy[name]
	}
	member := func(name string) *events.Consumer {
		c := newConsumer(t, events.ConsumerConfig{Brokers: brokers, Group: group, Topics: []string{topic}, Pool: pool, Logger: log.With("member", name), Partitions: 6})
		events.On(c, func(ctx context.Context, tx pgx.Tx, ev events.Event, msg *wrapperspb.StringValue) error {
			mu.Lock()
			handledBy[name]++
			mu.Unlock()
			return writeEffect(ctx, tx, ev, msg)
		})
		return c
	}
	count := func() int { return pgtest.Count(t, pool, `SELECT count(*) FROM effects`) }
	adm := admin(t, brokers)
	groupMembers := func(n int) func() bool {
		return func() bool {
			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return false
			}
			g := described[group]
			return g.Err == nil && g.State == "Stable" && len(g.Members) == n
		}
	}

	// The stream: one producer, round after round (one record per key), in order, until the test
	// has done its joining and leaving. A round every few milliseconds keeps records in flight.
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	must(t, err)
	defer producer.Close()
	stopStream := make(chan struct{})
	rounds := make(chan int, 1)
	go func() {
		tick := time.NewTicker(3 * time.Millisecond)
		defer tick.Stop()
		r := 0
		defer func() { rounds <- r }()
		for {
			select {
			case <-stopStream:
				return
			case <-tick.C:
			}
			recs := make([]*kgo.Record, 0, keys)
			for k := range keys {
				key := fmt.Sprintf("key-%d", k)
				recs = append(recs, ceRecord(topic, key, wrapperspb.String(key+":"+strconv.Itoa(r))))
			}
			pctx, cancel := context.WithTimeout(ctx, wait)
			err := producer.ProduceSync(pctx, recs...).FirstErr()
			cancel()
			if err != nil {
				t.Errorf("produce round %d: %v", r, err)
				return
			}
			r++
		}
	}()

	stopA := waittest.Go(t, member("a").Run)
	eventually(t, "member a to be under way", func() bool { return handled("a") > 0 })

	waittest.Go(t, member("b").Run) // joins mid-stream
	eventually(t, "both members in the group", groupMembers(2))
	eventually(t, "member b to be under way", func() bool { return handled("b") > 0 })

	stopA() // leaves mid-stream: b takes over a's partitions from their committed offsets
	eventually(t, "member b alone in the group", groupMembers(1))
	afterLeave := handled("b")
	eventually(t, "member b to go on", func() bool { return handled("b") > afterLeave+4*keys })

	close(stopStream)
	total := keys * <-rounds
	eventually(t, "every record to take effect", func() bool { return count() >= total })
	t.Logf("%d records; applied by a: %d, by b: %d", total, handled("a"), handled("b"))

	// Per key, in the order applied (effects ids are assigned at insert, inside the handling
	// transaction, and one key's records are never handled by two members at once).
	got := map[string][]int{}
	for _, v := range effects(t, pool) {
		key, n, _ := strings.Cut(v, ":")
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("effect %q", v)
		}
		got[key] = append(got[key], i)
	}
	want := make([]int, total/keys)
	for i := range want {
		want[i] = i
	}
	for k := range keys {
		key := fmt.Sprintf("key-%d", k)
		if !slices.Equal(got[key], want) {
			t.Errorf("%s took effect as %v, want 0…%d in order, each once", key, got[key], len(want)-1)
		}
	}
	if n := pgtest.Count(t, pool, `SELECT count(*) FROM inbox WHERE consumer_group = $1`, group); n != total {
		t.Errorf("inbox holds %d events, want %d", n, total)
	}
}
