package telemetry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metric names, all of them: docs/telemetry.md lists them, and the dashboard and alert rules
// in deploy/observability may use no other (a test checks). Names are
// parley_<component>_<what>_<unit>; every series also has the service label, and no label ever
// holds a user, chat or message id.
const (
	// Connect calls served, by procedure and code (ok, invalid_argument, …): rate, errors and
	// latency from one histogram. The gateway records the calls it proxies under the same name.
	MetricRPCDuration = "parley_rpc_server_duration_seconds"

	MetricOutboxPending        = "parley_outbox_pending_events"         // rows waiting in the outbox
	MetricOutboxOldestAge      = "parley_outbox_oldest_age_seconds"     // age of the oldest waiting row
	MetricOutboxPublished      = "parley_outbox_published_events_total" // events the relay published
	MetricOutboxPublishFailure = "parley_outbox_publish_failures_total" // relay passes that failed

	MetricConsumerLag          = "parley_consumer_lag_records"          // group, topic: records not yet committed
	MetricConsumerHandled      = "parley_consumer_handled_events_total" // group: events applied
	MetricConsumerRetries      = "parley_consumer_retries_total"        // group, reason (failed, transient, outage)
	MetricConsumerDeadLettered = "parley_consumer_dead_lettered_total"  // group, topic

	MetricDBPoolConnections = "parley_db_pool_connections"           // state (acquired, idle, constructing)
	MetricDBPoolMax         = "parley_db_pool_max_connections"       //
	MetricDBPoolAcquires    = "parley_db_pool_acquires_total"        //
	MetricDBPoolEmpty       = "parley_db_pool_empty_acquires_total"  // acquires that had to wait for a connection
	MetricDBPoolAcquireWait = "parley_db_pool_acquire_seconds_total" // time spent acquiring

	MetricWSConnections = "parley_gateway_websocket_connections"     // open, authenticated sockets
	MetricWSFrames      = "parley_gateway_websocket_frames_total"    // frames written to sockets
	MetricWSDropped     = "parley_gateway_websocket_dropped_total"   // reason: sockets closed for not keeping up
	MetricRateLimited   = "parley_gateway_rate_limited_total"        // limit (auth, user, anon, ready): calls refused
	MetricFanoutFrames  = "parley_gateway_fanout_published_total"    // frames the fan-out published to Redis
	MetricFanoutDropped = "parley_gateway_fanout_dropped_total"      // frames given up after Redis failed
	MetricEmailQueue    = "parley_notification_email_queue"          // state (pending, sending)
	MetricEmailOldest   = "parley_notification_email_oldest_seconds" // age of the oldest pending email
)

// MetricNames lists every name above: the catalogue the alert rules and the dashboard are checked
// against. Prometheus adds _bucket, _sum and _count to a histogram's name.
func MetricNames() []string {
	return []string{
		MetricRPCDuration,
		MetricOutboxPending, MetricOutboxOldestAge, MetricOutboxPublished, MetricOutboxPublishFailure,
		MetricConsumerLag, MetricConsumerHandled, MetricConsumerRetries, MetricConsumerDeadLettered,
		MetricDBPoolConnections, MetricDBPoolMax, MetricDBPoolAcquires, MetricDBPoolEmpty, MetricDBPoolAcquireWait,
		MetricWSConnections, MetricWSFrames, MetricWSDropped, MetricRateLimited, MetricFanoutFrames, MetricFanoutDropped,
		MetricEmailQueue, MetricEmailOldest,
	}
}

// rpcBuckets span a cached read (under a millisecond) to a call that ran into its deadline.
var rpcBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metrics are the process's instruments that hot paths update; created once per Telemetry.
type metrics struct {
	reg prometheus.Registerer

	rpc *prometheus.HistogramVec

	outboxPublished, outboxFailures prometheus.Counter
	consumerHandled                 *prometheus.CounterVec
	consumerRetries                 *prometheus.CounterVec
	consumerDeadLettered            *prometheus.CounterVec

	mu     sync.Mutex
	gauges map[string]*scrapeGauge // scrape-time families, by their names space-separated
	once   map[string]prometheus.Collector
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{reg: r, gauges: map[string]*scrapeGauge{}, once: map[string]prometheus.Collector{}}
	m.rpc = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: MetricRPCDuration, Help: "Connect calls served, by procedure and code, and how long they took.", Buckets: rpcBuckets,
	}, []string{"procedure", "code"})
	m.outboxPublished = prometheus.NewCounter(prometheus.CounterOpts{Name: MetricOutboxPublished, Help: "Events the outbox relay published to Kafka."})
	m.outboxFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: MetricOutboxPublishFailure, Help: "Outbox relay passes that failed (database or Kafka); the events wait and are retried."})
	m.consumerHandled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricConsumerHandled, Help: "Events a consumer group applied (redeliveries its inbox dropped excluded)."}, []string{"group"})
	m.consumerRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricConsumerRetries, Help: "Failed attempts to apply an event, by reason: failed (counts towards dead-lettering), transient, outage (database unreachable)."}, []string{"group", "reason"})
	m.consumerDeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricConsumerDeadLettered, Help: "Events a consumer group moved to its dead-letter topic."}, []string{"group", "topic"})
	r.MustRegister(m.rpc, m.outboxPublished, m.outboxFailures, m.consumerHandled, m.consumerRetries, m.consumerDeadLettered)
	return m
}

// ObserveRPC records one call served: its procedure ("/parley.chat.v1.ChatService/SendMessage"),
// its code ("ok" or a Connect code's name) and how long it took.
func (t *Telemetry) ObserveRPC(procedure, code string, d time.Duration) {
	if t == nil {
		return
	}
	t.m.rpc.WithLabelValues(procedure, code).Observe(d.Seconds())
}

// OutboxPublished counts n events published by the relay.
func (t *Telemetry) OutboxPublished(n int) {
	if t != nil {
		t.m.outboxPublished.Add(float64(n))
	}
}

// OutboxFailed counts a failed relay pass.
func (t *Telemetry) OutboxFailed() {
	if t != nil {
		t.m.outboxFailures.Inc()
	}
}

// ConsumerHandled counts n events group applied.
func (t *Telemetry) ConsumerHandled(group string, n int) {
	if t != nil && n > 0 {
		t.m.consumerHandled.WithLabelValues(group).Add(float64(n))
	}
}

// ConsumerRetried counts a failed attempt of group's, for reason (failed, transient, outage).
func (t *Telemetry) ConsumerRetried(group, reason string) {
	if t != nil {
		t.m.consumerRetries.WithLabelValues(group, reason).Inc()
	}
}

// ConsumerDeadLettered counts an event group moved to the dead-letter topic of topic.
func (t *Telemetry) ConsumerDeadLettered(group, topic string) {
	if t != nil {
		t.m.consumerDeadLettered.WithLabelValues(group, topic).Inc()
	}
}

// Sample is one series of a scrape-time gauge: its value and its label values, in the order the
// family declared them.
type Sample struct {
	Value  float64
	Labels []string
}

// Source answers a scrape-time family: it runs at each scrape, bounded by ctx (2 s), and may fail
// (its series are then left out of that scrape).
type Source func(ctx context.Context) ([]Sample, error)

// Watch adds source to the scrape-time family name (one of the Metric… names), a gauge — or a
// counter when counter is set, for totals kept elsewhere (a pool's acquire count) — with labels.
// Several sources may feed one family (two consumer groups' lag). Values are read when Prometheus
// scrapes, never on the hot path: a backlog counted by a query, a pool's own statistics.
func (t *Telemetry) Watch(name, help string, counter bool, labels []string, source Source) {
	t.WatchTogether([]Family{{Name: name, Help: help, Counter: counter, Labels: labels}},
		func(ctx context.Context) ([][]Sample, error) {
			samples, err := source(ctx)
			return [][]Sample{samples}, err
		})
}

// Family declares a scrape-time family for WatchTogether: its name (one of the Metric… names),
// help, kind (a gauge, or a counter for totals kept elsewhere) and labels.
type Family struct {
	Name, Help string
	Counter    bool
	Labels     []string
}

// WatchTogether is Watch for families that one reading answers (an outbox's size and the age of
// its oldest row, from one statement): source runs once per scrape and returns the samples of
// each family, in the order of families; when it fails, all of them are left out of that scrape.
// Several sources may feed the same families; a family is fed through one such group only (Watch
// is the group of one).
func (t *Telemetry) WatchTogether(families []Family, source func(ctx context.Context) ([][]Sample, error)) {
	if t == nil {
		return
	}
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.Name
	}
	key := strings.Join(names, " ")
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	g := t.m.gauges[key]
	if g == nil {
		g = &scrapeGauge{}
		for _, f := range families {
			typ := prometheus.GaugeValue
			if f.Counter {
				typ = prometheus.CounterValue
			}
			g.descs = append(g.descs, prometheus.NewDesc(f.Name, f.Help, f.Labels, nil))
			g.types = append(g.types, typ)
		}
		t.m.gauges[key] = g
		t.m.reg.MustRegister(g)
	}
	g.mu.Lock()
	g.sources = append(g.sources, source)
	g.mu.Unlock()
}

// RegisterOnce registers c under key unless something was registered under key already (a
// component built twice in one process, as tests do, keeps the first).
func (t *Telemetry) RegisterOnce(key string, c prometheus.Collector) {
	if t == nil {
		return
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.m.once[key] != nil {
		return
	}
	t.m.once[key] = c
	t.m.reg.MustRegister(c)
}

// scrapeGauge is a group of families whose values its sources compute together at scrape time.
type scrapeGauge struct {
	descs   []*prometheus.Desc
	types   []prometheus.ValueType
	mu      sync.Mutex
	sources []func(context.Context) ([][]Sample, error)
}

func (g *scrapeGauge) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

func (g *scrapeGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	sources := slices.Clone(g.sources)
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, src := range sources {
		families, err := src(ctx)
		if err == nil && len(families) != len(g.descs) {
			err = fmt.Errorf("a source answered %d families, want %d", len(families), len(g.descs))
		}
		for i, desc := range g.descs {
			if err != nil {
				ch <- prometheus.NewInvalidMetric(desc, err)
				continue
			}
			for _, s := range families[i] {
				m, err := prometheus.NewConstMetric(desc, g.types[i], s.Value, s.Labels...)
				if err != nil {
					m = prometheus.NewInvalidMetric(desc, err)
				}
				ch <- m
			}
		}
	}
}
