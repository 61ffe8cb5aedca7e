// Package decide is the PDP's one decision use case. Every door (gRPC and
// HTTP Check, BatchCheck items, Envoy ext_authz, forward-auth) hands a
// validated decision.Request to Service.Check, and every Report hands a
// validated decision.Event to Service.Report; both read top to bottom:
//
//	Check:  deadline -> caller (scope, identity) -> signal enrichment ->
//	        evaluation -> incident observation -> decision log ->
//	        shadow evaluation (queued, off the request path) -> metrics
//	Report: caller (scope) -> apply to the stored state -> incident
//	        observation -> metrics
//
// The steps are interfaces declared here and implemented below this
// package: signals enriches and applies, the engine evaluates, decisionlog
// writes, incident responds, telemetry counts. The doors convert their
// wire shapes to and from package decision and map errors with rpcstatus;
// this package knows neither protos nor HTTP.
package decide

import (
	"context"
	"errors"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// DefaultTimeout bounds enrichment and evaluation of one check when
// Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Enricher adds what the server knows (stored profile, IP lists, GeoIP,
// counters) to a request as its Signals; *signals.Enricher implements it.
type Enricher interface {
	// Enrich fills req.Signals, or says why it could not.
	Enrich(ctx context.Context, req *decision.Request) error
}

// Evaluator evaluates the policy for an enriched request;
// *engine.Engine implements it.
type Evaluator interface {
	// Decide returns the decision for req. An error means the request
	// could not be decided (no policy loaded, deadline passed, a bug); a
	// deny or a challenge is a decision, not an error.
	Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error)
}

// DecisionLog writes every decision; *decisionlog.Logger implements it.
type DecisionLog interface {
	// LogDecision writes the entry of d, decided for req in took. An
	// error means the decision must not be returned (the log's block
	// mode).
	LogDecision(ctx context.Context, req *decision.Request, d *decision.Decision, took time.Duration) error
}

// Applier applies a reported event to the stored state;
// *signals.Recorder implements it.
type Applier interface {
	// Apply records ev and returns what it left behind.
	Apply(ctx context.Context, ev *decision.Event) (signals.Recorded, error)
}

// Responder carries out incident response; *incident.Responder implements
// it. Both methods queue or run actions and never fail the call.
type Responder interface {
	// ObserveDecision acts on the suspend_user, block_ip and
	// notify_security obligations of d. It does not wait for them.
	ObserveDecision(req *decision.Request, d *decision.Decision)
	// ObserveReport checks an applied event's counters against the
	// tenant's thresholds; an IP block is in force when it returns.
	ObserveReport(rec *signals.Recorded)
}

// Shadow evaluates candidate policy sets beside the live one;
// *replay.Shadow implements it.
type Shadow interface {
	// Observe hands a decided request to shadow evaluation. It must not
	// wait, nor change req or d: the answer is the live decision.
	Observe(req *decision.Request, d *decision.Decision)
}

// Metrics counts decisions and reports; *telemetry.Metrics implements it.
// The methods must be cheap and safe for concurrent use.
type Metrics interface {
	// RecordDecision counts one decided check of kind "allow", "deny" or
	// "challenge" and how long the service took for it.
	RecordDecision(kind string, d time.Duration)
	// RecordReasons counts the reasons of one decided check by code, under
	// its kind as RecordDecision names it.
	RecordReasons(kind string, reasons []decision.Reason)
	// RecordReport counts one recorded event, named as
	// decision.EventKind.String names it.
	RecordReport(event string)
}

// Options configures a Service.
type Options struct {
	// Timeout bounds enrichment and evaluation of one check; 0 means
	// DefaultTimeout. The door's own deadline, when shorter, still applies.
	Timeout time.Duration
	// Scope refuses a caller that may not ask or report for a tenant
	// (authn.DecisionTenant: a pep key scoped to other tenants); nil
	// allows every tenant.
	Scope func(ctx context.Context, tenant string) error
	// Caller tells who sent the request, from the context the
	// authentication guard filled; nil leaves Request.Caller as it is.
	Caller func(ctx context.Context) decision.Caller
	// Enricher fills the signals; nil evaluates without any.
	Enricher Enricher
	// Evaluator evaluates; required.
	Evaluator Evaluator
	// DecisionLog writes decisions; nil writes none.
	DecisionLog DecisionLog
	// Applier applies reports; required.
	Applier Applier
	// Responder carries out incident response; nil carries out none.
	Responder Responder
	// Shadow evaluates candidate policy sets; nil evaluates none.
	Shadow Shadow
	// Metrics counts; nil counts nothing.
	Metrics Metrics
}

// Service is the decision use case. It is safe for concurrent use.
type Service struct {
	timeout   time.Duration
	scope     func(ctx context.Context, tenant string) error
	caller    func(ctx context.Context) decision.Caller
	enricher  Enricher
	evaluator Evaluator
	log       DecisionLog
	applier   Applier
	responder Responder
	shadow    Shadow
	metrics   Metrics
}

// New returns a Service, or an error naming each missing dependency.
func New(opts Options) (*Service, error) {
	var errs []error
	if opts.Evaluator == nil {
		errs = append(errs, errors.New("decide: Options.Evaluator is required"))
	}
	if opts.Applier == nil {
		errs = append(errs, errors.New("decide: Options.Applier is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Service{
		timeout:   opts.Timeout,
		scope:     opts.Scope,
		caller:    opts.Caller,
		enricher:  opts.Enricher,
		evaluator: opts.Evaluator,
		log:       opts.DecisionLog,
		applier:   opts.Applier,
		responder: opts.Responder,
		shadow:    opts.Shadow,
		metrics:   opts.Metrics,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.scope == nil {
		s.scope = func(context.Context, string) error { return nil }
	}
	if s.enricher == nil {
		s.enricher = noEnricher{}
	}
	if s.log == nil {
		s.log = noLog{}
	}
	if s.responder == nil {
		s.responder = noResponder{}
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	return s, nil
}

// Check decides one validated request. A deny or a challenge is a
// decision; an error is a domain fault (or a context error) for the door
// to map with rpcstatus.ToStatus.
func (s *Service) Check(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	start := time.Now()

	// Deadline: enrichment and evaluation together get at most the check
	// timeout. The log below keeps the door's context, so a slow disk in
	// the log's block mode is bounded by the door's deadline alone.
	evalCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// Caller: a key scoped to other tenants is refused before anything is
	// read or evaluated; the identity reaches Rego as input.caller.
	if err := s.scope(ctx, req.Tenant); err != nil {
		return nil, err
	}
	if s.caller != nil {
		req.Caller = s.caller(ctx)
	}

	// Signal enrichment: the stored profile, IP lists, GeoIP and counters.
	if err := s.enricher.Enrich(evalCtx, req); err != nil {
		return nil, err
	}

	// Evaluation.
	d, err := s.evaluator.Decide(evalCtx, req)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fault.Wrap(errors.New("evaluator returned neither a decision nor an error"), fault.Internal, rpcstatus.InternalMessage)
	}
	cancel()

	// Incident observation: queue what the obligations ask for. It comes
	// before the log so that every decision made is acted on, even one
	// the log's block mode then withholds.
	if len(d.Obligations) > 0 {
		s.responder.ObserveDecision(req, d)
	}

	// Decision log: in block mode a decision whose line could not be
	// written is not returned (Unavailable).
	if err := s.log.LogDecision(ctx, req, d, time.Since(start)); err != nil {
		return nil, err
	}

	// Shadow evaluation: a sampled decision is queued for the candidate
	// sets and evaluated on the shadow's goroutines; d is the answer.
	if s.shadow != nil {
		s.shadow.Observe(req, d)
	}

	// Metrics.
	s.metrics.RecordDecision(d.Kind.String(), time.Since(start))
	s.metrics.RecordReasons(d.Kind.String(), d.Reasons)
	return d, nil
}

// Report records one validated event reported by an enforcement point and
// returns its id.
func (s *Service) Report(ctx context.Context, ev *decision.Event) (eventID string, err error) {
	// Caller: a key scoped to other tenants records nothing.
	if err := s.scope(ctx, ev.Tenant); err != nil {
		return "", err
	}

	// Apply the event to the stored state (profile, counters, devices).
	rec, err := s.applier.Apply(ctx, ev)
	if err != nil {
		return "", err
	}

	// Incident observation: thresholds of failed logins (brute force, a
	// suspicious IP). An IP block is in force before the call returns, so
	// the enforcement point's next Check already sees it.
	s.responder.ObserveReport(&rec)

	// Metrics.
	s.metrics.RecordReport(ev.Kind.String())
	return rec.EventID, nil
}

type noEnricher struct{}

func (noEnricher) Enrich(context.Context, *decision.Request) error { return nil }

type noLog struct{}

func (noLog) LogDecision(context.Context, *decision.Request, *decision.Decision, time.Duration) error {
	return nil
}

type noResponder struct{}

func (noResponder) ObserveDecision(*decision.Request, *decision.Decision) {}
func (noResponder) ObserveReport(*signals.Recorded)                       {}

type noMetrics struct{}

func (noMetrics) RecordDecision(string, time.Duration)    {}
func (noMetrics) RecordReasons(string, []decision.Reason) {}
func (noMetrics) RecordReport(string)                     {}
