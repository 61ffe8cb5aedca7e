package pdpclient

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/status"
)

// The instruments, as OpenTelemetry names them. A Prometheus exporter shows
// them as pdp_client_decisions_total, pdp_client_cache_hits_total,
// pdp_client_cache_misses_total, pdp_client_fail_open_total,
// pdp_client_reports_total and pdp_client_check_duration_seconds.
const (
	meterName         = "github.com/pdp-dev/pdp/clients/go/pdpclient"
	decisionsName     = "pdp.client.decisions"
	cacheHitsName     = "pdp.client.cache.hits"
	cacheMissesName   = "pdp.client.cache.misses"
	failOpenName      = "pdp.client.fail_open"
	reportsName       = "pdp.client.reports"
	checkDurationName = "pdp.client.check.duration"
)

// Attributes. outcome is one of allow, deny, challenge (decisions of the
// server, possibly from the cache), fail_closed (the synthetic deny of an
// error) and fail_open (the synthetic allow of WithFailOpen); cached tells
// whether the decision came from the cache; code is the gRPC status code
// of the error behind a fail-open event or a failed report.
const (
	attrOutcome = "outcome"
	attrCached  = "cached"
	attrCode    = "code"
)

// Outcome values.
const (
	outcomeAllow      = "allow"
	outcomeDeny       = "deny"
	outcomeChallenge  = "challenge"
	outcomeFailClosed = "fail_closed"
	outcomeFailOpen   = "fail_open"
)

// checkDurationBuckets suit a cache hit (microseconds) to a timed-out call
// (DefaultTimeout and beyond), in seconds.
var checkDurationBuckets = []float64{
	0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

// metrics holds the client's instruments. Its methods are safe for
// concurrent use.
type metrics struct {
	decisions metric.Int64Counter
	hits      metric.Int64Counter
	misses    metric.Int64Counter
	failOpen  metric.Int64Counter
	reports   metric.Int64Counter
	duration  metric.Float64Histogram

	// byOutcome[outcome][cached] are the precomputed attribute sets.
	byOutcome map[string][2]attribute.Set
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(meterName)
	var err error
	var out metrics
	if out.decisions, err = m.Int64Counter(decisionsName, metric.WithUnit("{decision}"),
		metric.WithDescription("Decisions returned by Check and BatchCheck, by outcome and whether they came from the cache.")); err != nil {
		return nil, err
	}
	if out.hits, err = m.Int64Counter(cacheHitsName, metric.WithUnit("{lookup}"),
		metric.WithDescription("Checks answered from the decision cache.")); err != nil {
		return nil, err
	}
	if out.misses, err = m.Int64Counter(cacheMissesName, metric.WithUnit("{lookup}"),
		metric.WithDescription("Checks the decision cache could not answer.")); err != nil {
		return nil, err
	}
	if out.failOpen, err = m.Int64Counter(failOpenName, metric.WithUnit("{event}"),
		metric.WithDescription("Checks allowed without a decision because of WithFailOpen, by gRPC code.")); err != nil {
		return nil, err
	}
	if out.reports, err = m.Int64Counter(reportsName, metric.WithUnit("{report}"),
		metric.WithDescription("Report calls, by gRPC code.")); err != nil {
		return nil, err
	}
	if out.duration, err = m.Float64Histogram(checkDurationName, metric.WithUnit("s"),
		metric.WithDescription("Time Check took, cache hits and retries included."),
		metric.WithExplicitBucketBoundaries(checkDurationBuckets...)); err != nil {
		return nil, err
	}
	out.byOutcome = make(map[string][2]attribute.Set)
	for _, o := range []string{outcomeAllow, outcomeDeny, outcomeChallenge, outcomeFailClosed, outcomeFailOpen} {
		out.byOutcome[o] = [2]attribute.Set{
			attribute.NewSet(attribute.String(attrOutcome, o), attribute.Bool(attrCached, false)),
			attribute.NewSet(attribute.String(attrOutcome, o), attribute.Bool(attrCached, true)),
		}
	}
	return &out, nil
}

// outcomeOf names the outcome of d for the metrics.
func outcomeOf(d *Decision) string {
	switch {
	case d.FailedOpen():
		return outcomeFailOpen
	case d.Synthetic():
		return outcomeFailClosed
	case d.Allowed():
		return outcomeAllow
	case d.Challenged():
		return outcomeChallenge
	default:
		return outcomeDeny
	}
}

// check records one Check call: its decision and how long it took.
func (m *metrics) check(ctx context.Context, d *Decision, took time.Duration) {
	m.duration.Record(ctx, took.Seconds(), m.decision(ctx, d))
}

// decision counts one decision, of Check or BatchCheck, and returns its
// attributes.
func (m *metrics) decision(ctx context.Context, d *Decision) metric.MeasurementOption {
	cached := 0
	if d.Cached() {
		cached = 1
	}
	set := metric.WithAttributeSet(m.byOutcome[outcomeOf(d)][cached])
	m.decisions.Add(ctx, 1, set)
	if d.FailedOpen() {
		m.failOpen.Add(ctx, 1, metric.WithAttributes(attribute.String(attrCode, status.Code(d.Err()).String())))
	}
	return set
}

// cacheLookup records a hit or a miss.
func (m *metrics) cacheLookup(ctx context.Context, hit bool) {
	if hit {
		m.hits.Add(ctx, 1)
	} else {
		m.misses.Add(ctx, 1)
	}
}

// report records one Report call.
func (m *metrics) report(ctx context.Context, err error) {
	m.reports.Add(ctx, 1, metric.WithAttributes(attribute.String(attrCode, status.Code(err).String())))
}
