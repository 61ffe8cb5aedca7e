package replay

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// Defaults of ShadowOptions.
const (
	// DefaultShadowQueue is the number of decisions waiting for shadow
	// evaluation; more are dropped and counted.
	DefaultShadowQueue = 1024
	// DefaultShadowWorkers is how many shadow evaluations run at a time.
	DefaultShadowWorkers = 1
)

// Metric names: pdp_shadow_decisions_total{tenant,from,to} counts every
// decision evaluated in shadow by its live and its candidate outcome;
// pdp_shadow_dropped_total the sampled decisions that found the queue
// full.
const (
	shadowDecisionsName = "pdp.shadow.decisions"
	shadowDroppedName   = "pdp.shadow.dropped"
)

// ShadowLog writes the lines of shadow evaluation; *decisionlog.Logger
// implements it.
type ShadowLog interface {
	// Log queues a line without waiting.
	Log(e *decisionlog.Entry)
}

// ShadowOptions configure a Shadow.
type ShadowOptions struct {
	// Sample is the share of decisions evaluated in shadow, 0 to 1.
	Sample float64
	// Queue is the number of decisions waiting; 0 means
	// DefaultShadowQueue.
	Queue int
	// Workers is how many evaluations run at a time; 0 means
	// DefaultShadowWorkers.
	Workers int
	// Log receives a line for every decision the candidate decides
	// otherwise; nil writes none.
	Log ShadowLog
	// Meter provides the counters; nil counts nothing.
	Meter metric.MeterProvider
	// Logger hears about evaluation errors; nil discards.
	Logger *slog.Logger
	// Now is the clock of the impacts; time.Now when nil.
	Now func() time.Time
	// Signals is the live signal enrichment. A candidate whose signal
	// settings (failed-login window, device compliance) differ from the
	// live ones for a request's tenant environment gets the request
	// enriched again with its own; nil takes the live signals as they
	// are.
	Signals ShadowSignals
}

// ShadowSignals enriches a live request again with a candidate's signal
// settings; *signals.Enricher implements it.
type ShadowSignals interface {
	// Settings are the live settings of a tenant environment.
	Settings(tenant, env string) signals.Settings
	// EnrichWith enriches req with set.
	EnrichWith(ctx context.Context, req *decision.Request, set signals.Settings) error
}

// Transition is a change of outcome.
type Transition struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Impact is what a shadow observed.
type Impact struct {
	// Tenant is the tenant of a tenant's shadow; empty for the global one.
	Tenant string
	// PendingChangeID is the pending change in shadow, if it is one.
	PendingChangeID string
	// Revision is the candidate's revision.
	Revision string
	// Since is when the shadow started.
	Since time.Time
	// Evaluated counts the decisions evaluated in shadow, Changed those
	// whose outcome, reasons or step-ups differ.
	Evaluated, Changed int64
	// Transitions count the changed decisions by outcome.
	Transitions map[Transition]int64
}

// SortedTransitions are the transitions, most frequent first.
func (i Impact) SortedTransitions() []Transition {
	out := slices.Collect(maps.Keys(i.Transitions))
	slices.SortFunc(out, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(i.Transitions[b], i.Transitions[a]), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

// shadowSet is one candidate in shadow and what it observed.
type shadowSet struct {
	candidate atomic.Pointer[Candidate]
	name      string // Shadow.Candidate of its log lines
	// build builds the candidate again when the live set changes; nil
	// for the global candidate, which is built from files once.
	build func(ctx context.Context) (*Candidate, error)

	mu     sync.Mutex
	impact Impact
}

func (ss *shadowSet) count(d *Diff) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.impact.Evaluated++
	if d.Changed() {
		ss.impact.Changed++
		ss.impact.Transitions[Transition{From: d.From.String(), To: d.To.String()}]++
	}
}

func (ss *shadowSet) snapshot() Impact {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	i := ss.impact
	i.Revision = ss.candidate.Load().Revision()
	i.Transitions = maps.Clone(i.Transitions)
	return i
}

// job is one live decision to evaluate in shadow.
type job struct {
	req decision.Request
	d   *decision.Decision
	set *shadowSet
	at  time.Time
}

// Shadow evaluates a sampled share of live decisions with candidate
// policy sets, on its own goroutines: Observe only samples and queues, so
// the live answer neither waits for nor depends on a candidate. A
// tenant's candidate (PutTenant) takes its requests; a global candidate
// (SetGlobal) takes every other tenant's. Each decision the candidate
// decides otherwise is counted and logged with both results. It is safe
// for concurrent use.
type Shadow struct {
	opts    ShadowOptions
	queue   chan job
	wg      sync.WaitGroup
	pending sync.WaitGroup // jobs queued or in evaluation
	closed  atomic.Bool
	mu      sync.RWMutex // guards closing the queue against Observe
	global  atomic.Pointer[shadowSet]
	tenants sync.Map // tenant -> *shadowSet
	active  atomic.Int64

	decisions metric.Int64Counter
	dropped   metric.Int64Counter
	droppedN  atomic.Int64
}

// NewShadow starts a Shadow without candidates.
func NewShadow(opts ShadowOptions) (*Shadow, error) {
	if opts.Queue <= 0 {
		opts.Queue = DefaultShadowQueue
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultShadowWorkers
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Shadow{opts: opts, queue: make(chan job, opts.Queue)}
	if opts.Meter != nil {
		meter := opts.Meter.Meter("github.com/pdp-dev/pdp/server/internal/replay")
		var err error
		if s.decisions, err = meter.Int64Counter(shadowDecisionsName,
			metric.WithDescription("Decisions evaluated in shadow with a candidate policy set, by tenant, live outcome (from) and candidate outcome (to).")); err != nil {
			return nil, err
		}
		if s.dropped, err = meter.Int64Counter(shadowDroppedName,
			metric.WithDescription("Decisions sampled for shadow evaluation that found its queue full.")); err != nil {
			return nil, err
		}
		s.dropped.Add(context.Background(), 0)
	}
	for range opts.Workers {
		s.wg.Go(s.work)
	}
	return s, nil
}

// SetGlobal puts c in shadow for every tenant without a candidate of its
// own, or takes the global candidate out when c is nil. name names it in
// the log lines.
func (s *Shadow) SetGlobal(c *Candidate, name string) {
	if c == nil {
		if s.global.Swap(nil) != nil {
			s.active.Add(-1)
		}
		return
	}
	ss := &shadowSet{name: name, impact: Impact{Since: s.opts.Now(), Transitions: map[Transition]int64{}}}
	ss.candidate.Store(c)
	if s.global.Swap(ss) == nil {
		s.active.Add(1)
	}
}

// GlobalImpact is what the global candidate observed; ok is false without
// one.
func (s *Shadow) GlobalImpact() (Impact, bool) {
	ss := s.global.Load()
	if ss == nil {
		return Impact{}, false
	}
	return ss.snapshot(), true
}

// PutTenant builds a tenant's candidate with build and puts it in shadow
// for the tenant's requests, replacing the one before (whose counts
// restart). pendingID names the pending change it is, if any. build runs
// again at every Reloaded, so that the candidate follows the live set it
// differs from.
func (s *Shadow) PutTenant(ctx context.Context, tenant, pendingID string, build func(ctx context.Context) (*Candidate, error)) (Impact, error) {
	c, err := build(ctx)
	if err != nil {
		return Impact{}, err
	}
	name := "tenant policy"
	if pendingID != "" {
		name = "pending change " + pendingID
	}
	ss := &shadowSet{name: name, build: build,
		impact: Impact{Tenant: tenant, PendingChangeID: pendingID, Since: s.opts.Now(), Transitions: map[Transition]int64{}}}
	ss.candidate.Store(c)
	if _, had := s.tenants.Swap(tenant, ss); !had {
		s.active.Add(1)
	}
	return ss.snapshot(), nil
}

// DeleteTenant takes a tenant's candidate out of shadow and returns what
// it observed; ok is false when it had none.
func (s *Shadow) DeleteTenant(tenant string) (Impact, bool) {
	v, ok := s.tenants.LoadAndDelete(tenant)
	if !ok {
		return Impact{}, false
	}
	s.active.Add(-1)
	return v.(*shadowSet).snapshot(), true
}

// TenantImpact is what a tenant's candidate observed so far; ok is false
// when it has none.
func (s *Shadow) TenantImpact(tenant string) (Impact, bool) {
	v, ok := s.tenants.Load(tenant)
	if !ok {
		return Impact{}, false
	}
	return v.(*shadowSet).snapshot(), true
}

// Reloaded builds every tenant's candidate again, after the live set
// changed; a candidate that no longer builds keeps its last set, and the
// failure is logged.
func (s *Shadow) Reloaded(ctx context.Context) {
	s.tenants.Range(func(k, v any) bool {
		ss := v.(*shadowSet)
		c, err := ss.build(ctx)
		if err != nil {
			s.opts.Logger.Warn("a tenant's shadow candidate no longer builds on the new policy set; its previous one stays",
				"tenant", k, "error", err.Error())
			return true
		}
		ss.candidate.Store(c)
		return true
	})
}

// Observe hands a live decision to shadow evaluation when its tenant has
// a candidate and the sample takes it. It never waits and never changes
// req or d: the request is copied, and a full queue drops the decision
// (pdp_shadow_dropped_total).
func (s *Shadow) Observe(req *decision.Request, d *decision.Decision) {
	if s.active.Load() == 0 {
		return
	}
	var ss *shadowSet
	if v, ok := s.tenants.Load(req.Tenant); ok {
		ss = v.(*shadowSet)
	} else if ss = s.global.Load(); ss == nil {
		return
	}
	if s.opts.Sample < 1 && rand.Float64() >= s.opts.Sample {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return
	}
	s.pending.Add(1)
	select {
	case s.queue <- job{req: *req, d: d, set: ss, at: s.opts.Now()}:
	default:
		s.pending.Done()
		s.droppedN.Add(1)
		if s.dropped != nil {
			s.dropped.Add(context.Background(), 1)
		}
	}
}

// Dropped is the number of sampled decisions dropped on a full queue.
func (s *Shadow) Dropped() int64 { return s.droppedN.Load() }

// Wait returns once every decision queued so far is evaluated, or ctx
// ends.
func (s *Shadow) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking decisions, evaluates those queued and stops.
func (s *Shadow) Close() {
	s.mu.Lock()
	if !s.closed.Swap(true) {
		close(s.queue)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// work evaluates queued decisions until Close.
func (s *Shadow) work() {
	for j := range s.queue {
		s.evaluate(j)
		s.pending.Done()
	}
}

// shadowTimeout bounds one shadow evaluation.
const shadowTimeout = 10 * time.Second

// evaluate decides one live request with its candidate exactly as a
// replay of its log line would, and counts and logs the difference.
func (s *Shadow) evaluate(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), shadowTimeout)
	defer cancel()
	c := j.set.candidate.Load()
	req, err := s.candidateSignals(ctx, &j.req, c)
	if err != nil {
		s.opts.Logger.Warn("shadow evaluation could not read the candidate's signals", "tenant", j.req.Tenant, "decision_id", j.d.ID,
			"candidate", j.set.name, "error", err.Error())
		return
	}
	input, err := engine.InputJSON(req, nil)
	if err != nil {
		return // the live engine refused it too: there is no decision
	}
	got, _, err := c.Decide(ctx, input, nil)
	if err != nil {
		s.opts.Logger.Warn("shadow evaluation failed", "tenant", j.req.Tenant, "decision_id", j.d.ID,
			"candidate", j.set.name, "error", err.Error())
		return
	}
	diff := Compare(OutcomeOf(j.d), codes(j.d), kinds(j.d), got)
	j.set.count(&diff)
	if s.decisions != nil {
		s.decisions.Add(ctx, 1, metric.WithAttributes(
			attribute.String("tenant", j.req.Tenant),
			attribute.String("from", diff.From.String()),
			attribute.String("to", diff.To.String())))
	}
	if diff.Changed() && s.opts.Log != nil {
		e := decisionlog.NewEntry(ctx, &j.req, j.d, j.at, 0)
		e.DecisionID, e.ShadowOf = "", j.d.ID
		e.Shadow = &decisionlog.Shadow{
			Candidate: j.set.name, Decision: diff.To.Decision, WouldDecide: diff.To.WouldDecide,
			Reasons: codes(got), StepUps: kinds(got), PolicyRevision: c.Revision(),
		}
		s.opts.Log.Log(e)
	}
}

// candidateSignals is the live request with the signals the candidate's
// settings give: the live request itself when they are the live ones, a
// copy enriched again with them otherwise (a failed-login window of its
// own is counted in the store; a longer one than the live window sees
// only the failures the store kept).
func (s *Shadow) candidateSignals(ctx context.Context, live *decision.Request, c *Candidate) (*decision.Request, error) {
	if s.opts.Signals == nil {
		return live, nil
	}
	set := c.Settings(live.Tenant, live.Environment)
	if set == s.opts.Signals.Settings(live.Tenant, live.Environment) {
		return live, nil
	}
	req := *live
	// The copy's signals share their slices with the live request's.
	req.Signals = decision.Signals{SSF: decision.SSFSignals{DeviceMarked: live.Signals.SSF.DeviceMarked}}
	if err := s.opts.Signals.EnrichWith(ctx, &req, set); err != nil {
		return nil, err
	}
	return &req, nil
}

// codes are a decision's reason codes.
func codes(d *decision.Decision) []string {
	out := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		out[i] = r.Code
	}
	return out
}

// kinds are a decision's step-up kinds.
func kinds(d *decision.Decision) []string {
	out := make([]string, len(d.StepUps))
	for i, s := range d.StepUps {
		out[i] = string(s.Kind)
	}
	return out
}
