package telemetry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// The instruments, as OpenTelemetry names them. The Prometheus exporter
// turns "." into "_" and adds "_total" to counters and "_seconds" to the
// histogram, so /metrics shows pdp_decisions_total,
// pdp_decision_reasons_total, pdp_check_duration_seconds,
// pdp_policy_reloads_total,
// pdp_batch_check_items_total, pdp_report_events_total,
// pdp_decision_log_dropped_total and pdp_decision_log_failed_total.
const (
	decisionsName     = "pdp.decisions"
	reasonsName       = "pdp.decision.reasons"
	checkDurationName = "pdp.check.duration"
	reloadsName       = "pdp.policy.reloads"
	batchItemsName    = "pdp.batch_check.items"
	reportEventsName  = "pdp.report.events"
	logDroppedName    = "pdp.decision_log.dropped"
	logFailedName     = "pdp.decision_log.failed"
)

// checkDurationBuckets suit decisions from 10µs to 1s, in seconds.
var checkDurationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

// MaxReasonCodes bounds the distinct reason codes pdp_decision_reasons_total
// names: the built-in library's codes fit well within it, and policy authors
// may add codes, so the codes seen after the first MaxReasonCodes are counted
// under code="other" and the series stay bounded whatever a policy returns.
const MaxReasonCodes = 128

// otherLabel is the label value of a decision kind or reason code beyond
// the known ones.
const otherLabel = "other"

// MetricsOptions configures NewMetrics.
type MetricsOptions struct {
	// WithoutRuntimeMetrics leaves out the Go runtime and process
	// collectors (go_*, process_*) that are registered by default.
	WithoutRuntimeMetrics bool
}

// Metrics owns the meter provider, its Prometheus registry and the PDP's
// instruments. Its methods are safe for concurrent use. It implements
// pdpsvc.Observer.
type Metrics struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	handler  http.Handler

	decisions     metric.Int64Counter
	reasons       metric.Int64Counter
	checkDuration metric.Float64Histogram
	reloads       metric.Int64Counter
	batchItems    metric.Int64Counter
	reportEvents  metric.Int64Counter
	logDropped    metric.Int64Counter
	logFailed     metric.Int64Counter

	byDecision map[string]metric.AddOption
	byReason   reasonLabels
	reloadOK   metric.AddOption
	reloadErr  metric.AddOption
}

// NewMetrics creates a meter provider exporting to a new Prometheus
// registry, without otel_scope labels or a target_info series.
func NewMetrics(opts MetricsOptions) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	if !opts.WithoutRuntimeMetrics {
		if err := errors.Join(
			reg.Register(collectors.NewGoCollector()),
			reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		); err != nil {
			return nil, fmt.Errorf("telemetry: registering runtime collectors: %w", err)
		}
	}
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	m := &Metrics{
		registry: reg,
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	}
	if err := m.instruments(); err != nil {
		return nil, errors.Join(err, m.provider.Shutdown(context.Background()))
	}
	return m, nil
}

func (m *Metrics) instruments() error {
	meter := m.provider.Meter("github.com/pdp-dev/pdp/server")
	var errs [8]error
	m.decisions, errs[0] = meter.Int64Counter(decisionsName,
		metric.WithDescription("Checks decided, by decision: allow, deny or challenge."))
	m.reasons, errs[7] = meter.Int64Counter(reasonsName,
		metric.WithDescription("Reasons of decided checks, by reason code and decision; codes beyond the first 128 distinct ones are counted as other."))
	m.checkDuration, errs[1] = meter.Float64Histogram(checkDurationName,
		metric.WithDescription("Time to validate and decide one check."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(checkDurationBuckets...))
	m.reloads, errs[2] = meter.Int64Counter(reloadsName,
		metric.WithDescription("Policy set reloads, by result: ok or error."))
	m.batchItems, errs[3] = meter.Int64Counter(batchItemsName,
		metric.WithDescription("Checks received in BatchCheck calls."))
	m.reportEvents, errs[4] = meter.Int64Counter(reportEventsName,
		metric.WithDescription("Events recorded through Report, by event."))
	m.logDropped, errs[5] = meter.Int64Counter(logDroppedName,
		metric.WithDescription("Decision log lines lost without failing a call (drop mode): the queue was full or the write failed."))
	m.logFailed, errs[6] = meter.Int64Counter(logFailedName,
		metric.WithDescription("Decisions withheld, their call failed with UNAVAILABLE, because the decision log could not write their line (block mode)."))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("telemetry: creating instruments: %w", err)
	}
	// A loss counter is shown at 0 from the start, so that an alert on it
	// works before the first loss and a missing series means no exporter.
	m.logDropped.Add(context.Background(), 0)
	m.logFailed.Add(context.Background(), 0)
	m.byDecision = map[string]metric.AddOption{}
	for _, kind := range []string{"allow", "deny", "challenge", otherLabel} {
		m.byDecision[kind] = metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", kind)))
	}
	m.byReason.init()
	m.reloadOK = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "ok")))
	m.reloadErr = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "error")))
	return nil
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// MeterProvider is the provider for other instrumentation, such as the
// gRPC stats handler's RPC metrics.
func (m *Metrics) MeterProvider() metric.MeterProvider { return m.provider }

// Shutdown stops the meter provider; later recordings are dropped.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// RecordDecision counts one decided check and observes its duration. kind
// is "allow", "deny" or "challenge"; anything else is counted as "other".
func (m *Metrics) RecordDecision(kind string, d time.Duration) {
	ctx := context.Background()
	opt, ok := m.byDecision[kind]
	if !ok {
		opt = m.byDecision[otherLabel]
	}
	m.decisions.Add(ctx, 1, opt)
	m.checkDuration.Record(ctx, d.Seconds())
}

// RecordReasons counts each reason of one decided check by its code and
// the decision's kind, named as RecordDecision names it.
func (m *Metrics) RecordReasons(kind string, reasons []decision.Reason) {
	if _, ok := m.byDecision[kind]; !ok {
		kind = otherLabel
	}
	for i := range reasons {
		m.reasons.Add(context.Background(), 1, m.byReason.options(reasons[i].Code, kind)...)
	}
}

// reasonKey is one series of pdp_decision_reasons_total.
type reasonKey struct{ code, kind string }

// reasonLabels holds the options of the reason series, built once per
// series as the slice Add takes, so that counting a known code allocates
// nothing. Reads are lock-free; the map is replaced, never changed, under mu.
type reasonLabels struct {
	sets  atomic.Pointer[map[reasonKey][]metric.AddOption]
	mu    sync.Mutex
	codes map[string]bool // the codes with their own label, at most MaxReasonCodes; under mu
	other map[string][]metric.AddOption
}

func (r *reasonLabels) init() {
	r.sets.Store(&map[reasonKey][]metric.AddOption{})
	r.codes = map[string]bool{}
	r.other = map[string][]metric.AddOption{}
	for _, kind := range []string{"allow", "deny", "challenge", otherLabel} {
		r.other[kind] = reasonOption(otherLabel, kind)
	}
}

// options are the options of code under kind, a known kind. A code
// first seen once MaxReasonCodes codes have their own label is counted
// under "other" and is not remembered.
func (r *reasonLabels) options(code, kind string) []metric.AddOption {
	if opt, ok := (*r.sets.Load())[reasonKey{code, kind}]; ok {
		return opt
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.sets.Load()
	if opt, ok := old[reasonKey{code, kind}]; ok {
		return opt
	}
	if !r.codes[code] {
		if len(r.codes) >= MaxReasonCodes || code == otherLabel {
			return r.other[kind]
		}
		r.codes[code] = true
	}
	sets := maps.Clone(old)
	opt := reasonOption(code, kind)
	sets[reasonKey{code, kind}] = opt
	r.sets.Store(&sets)
	return opt
}

func reasonOption(code, kind string) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("code", code), attribute.String("decision", kind)))}
}

// RecordReload counts one policy reload attempt.
func (m *Metrics) RecordReload(ok bool) {
	opt := m.reloadErr
	if ok {
		opt = m.reloadOK
	}
	m.reloads.Add(context.Background(), 1, opt)
}

// RecordBatchItems counts the checks of one BatchCheck call.
func (m *Metrics) RecordBatchItems(n int) {
	m.batchItems.Add(context.Background(), int64(n))
}

// RecordReport counts one recorded event, such as "login_failed".
func (m *Metrics) RecordReport(event string) {
	m.reportEvents.Add(context.Background(), 1, metric.WithAttributes(attribute.String("event", event)))
}

// RecordDecisionLogDropped counts one decision log line lost without
// failing a call: the log's queue was full or its write failed.
func (m *Metrics) RecordDecisionLogDropped() {
	m.logDropped.Add(context.Background(), 1)
}

// RecordDecisionLogFailed counts one decision withheld because the
// decision log could not write its line.
func (m *Metrics) RecordDecisionLogFailed() {
	m.logFailed.Add(context.Background(), 1)
}
