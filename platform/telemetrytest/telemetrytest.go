// Package telemetrytest reads in tests what a platform/telemetry Telemetry measured.
package telemetrytest

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/parleyhq/parley/platform/telemetry"
)

// Value gathers tel's metrics as a scrape does, failing the test if that fails, and returns the
// value of name's first series whose labels include want (Lookup); 0 when there is none.
func Value(t testing.TB, tel *telemetry.Telemetry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := tel.Gatherer().Gather()
	if err != nil {
		t.Fatalf("telemetrytest: gather: %v", err)
	}
	v, _ := Lookup(families, name, want)
	return v
}

// Lookup returns the value of name's first series among families whose labels include want, and
// whether there is one. A histogram's value is its count of observations; a counter's, gauge's or
// untyped metric's is its value.
func Lookup(families []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			default:
				return m.GetUntyped().GetValue(), true
			}
		}
	}
	return 0, false
}
