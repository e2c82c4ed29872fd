package telemetrytest_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley/platform/telemetry"
	"github.com/parleyhq/parley/platform/telemetrytest"
)

// Value finds a series by a subset of its labels — a histogram by its count, a counter and a
// gauge by their values — and is 0 for a series or a metric there is not.
func TestValue(t *testing.T) {
	tel := telemetry.New("svc", nil)
	tel.ObserveRPC("/a.v1.A/Get", "ok", time.Millisecond)
	tel.ObserveRPC("/a.v1.A/Get", "ok", time.Second)
	tel.ObserveRPC("/a.v1.A/Get", "not_found", time.Millisecond)
	tel.ConsumerHandled("chat", 3)
	tel.ConsumerHandled("friend", 5)
	tel.Watch("test_gauge", "A gauge for the test.", false, []string{"kind"}, func(context.Context) ([]telemetry.Sample, error) {
		return []telemetry.Sample{{Value: 7, Labels: []string{"x"}}, {Value: 9, Labels: []string{"y"}}}, nil
	})
	for _, tc := range []struct {
		name string
		want map[string]string
		v    float64
	}{
		{telemetry.MetricRPCDuration, map[string]string{"code": "ok"}, 2},
		{telemetry.MetricRPCDuration, map[string]string{"code": "not_found"}, 1},
		{telemetry.MetricRPCDuration, map[string]string{"code": "internal"}, 0},
		{telemetry.MetricConsumerHandled, map[string]string{"group": "friend"}, 5},
		{telemetry.MetricConsumerHandled, map[string]string{"group": "chat"}, 3},
		{"test_gauge", map[string]string{"kind": "y"}, 9},
		{"test_gauge", nil, 7},
		{"no_such_metric", nil, 0},
	} {
		if got := telemetrytest.Value(t, tel, tc.name, tc.want); got != tc.v {
			t.Errorf("Value(%s, %v) = %v, want %v", tc.name, tc.want, got, tc.v)
		}
	}
}
