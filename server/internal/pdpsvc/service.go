package pdpsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// Decider decides one validated request. The engine implements it.
type Decider interface {
	// Decide returns the decision for req. An error means the request could
	// not be decided (no policy loaded, deadline passed, a bug); a deny or a
	// challenge is a decision, not an error.
	Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error)
}

// Recorder records one validated event reported by an enforcement point.
type Recorder interface {
	// Record stores ev and runs what it triggers, returning the event's id.
	Record(ctx context.Context, ev *decision.Event) (eventID string, err error)
}

// Observer is told about every decision, batch and report, for metrics.
// *telemetry.Metrics implements it; the methods must be cheap and safe for
// concurrent use.
type Observer interface {
	// RecordDecision counts one decided check of kind "allow", "deny" or
	// "challenge" and how long it took, validation included.
	RecordDecision(kind string, d time.Duration)
	// RecordBatchItems counts the items of one accepted BatchCheck.
	RecordBatchItems(n int)
	// RecordReport counts one recorded event, named as
	// decision.EventKind.String names it.
	RecordReport(event string)
}

// Options configures a Service.
type Options struct {
	// Decider decides checks; required.
	Decider Decider
	// Recorder records reports; required.
	Recorder Recorder
	// Observer receives metrics; nil records none.
	Observer Observer
	// Logger receives the detail of BatchCheck items that failed with an
	// internal error (a whole call's errors are logged by the gRPC
	// server); nil discards.
	Logger *slog.Logger
	// Now is the clock for requests that carry no time; nil means time.Now.
	Now func() time.Time
	// Caller tells who sent the request, from the context the
	// authentication interceptor filled; nil leaves Request.Caller empty.
	Caller func(ctx context.Context) decision.Caller
	// Scope refuses a caller that may not ask or report for a tenant
	// (authn.DecisionTenant: a pep key scoped to other tenants); nil
	// allows every tenant. Check, every BatchCheck item and Report apply
	// it to the validated tenant before deciding or recording anything.
	Scope func(ctx context.Context, tenant string) error
}

// Service implements pdp.v1.DecisionService. It embeds the Unsafe marker
// rather than the Unimplemented one so that an RPC added to the proto
// without an implementation here is a compile error, not a runtime
// UNIMPLEMENTED.
type Service struct {
	pdpv1.UnsafeDecisionServiceServer

	decider  Decider
	recorder Recorder
	observer Observer
	logger   *slog.Logger
	now      func() time.Time
	caller   func(ctx context.Context) decision.Caller
	scope    func(ctx context.Context, tenant string) error
}

var _ pdpv1.DecisionServiceServer = (*Service)(nil)

// New returns a Service, or an error naming each missing dependency.
func New(opts Options) (*Service, error) {
	var errs []error
	if opts.Decider == nil {
		errs = append(errs, errors.New("pdpsvc: Options.Decider is required"))
	}
	if opts.Recorder == nil {
		errs = append(errs, errors.New("pdpsvc: Options.Recorder is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Service{
		decider:  opts.Decider,
		recorder: opts.Recorder,
		observer: opts.Observer,
		logger:   opts.Logger,
		now:      opts.Now,
		caller:   opts.Caller,
		scope:    opts.Scope,
	}
	if s.observer == nil {
		s.observer = nopObserver{}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Check validates and decides one request. A deny or a challenge is a
// successful call; errors are domain faults for the transport to map.
func (s *Service) Check(ctx context.Context, in *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
	start := time.Now()
	req, err := ToRequest(in, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.inScope(ctx, req.Tenant); err != nil {
		return nil, err
	}
	if s.caller != nil {
		req.Caller = s.caller(ctx)
	}
	d, err := s.decider.Decide(ctx, req)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fault.Wrap(errors.New("decider returned neither a decision nor an error"), fault.Internal, rpcstatus.InternalMessage)
	}
	s.observer.RecordDecision(d.Kind.String(), time.Since(start))
	return FromDecision(d), nil
}

// BatchCheck decides up to MaxBatchChecks requests, independently and in
// order. An empty or oversized batch fails as a whole with InvalidArgument
// on field "checks"; otherwise each result holds either the response or the
// status a single Check of that item would have returned, with field names
// relative to the item. A panic while deciding one item fails that item
// alone with INTERNAL. When the call's context ends, the call fails with
// its error.
func (s *Service) BatchCheck(ctx context.Context, in *pdpv1.BatchCheckRequest) (*pdpv1.BatchCheckResponse, error) {
	checks := in.GetChecks()
	switch {
	case len(checks) == 0:
		return nil, fault.Invalid(fault.FieldViolation{Field: "checks", Description: "at least one check is required"})
	case len(checks) > MaxBatchChecks:
		return nil, fault.Invalid(fault.FieldViolation{Field: "checks", Description: fmt.Sprintf("at most %d checks are allowed", MaxBatchChecks)})
	}
	s.observer.RecordBatchItems(len(checks))
	out := &pdpv1.BatchCheckResponse{Results: make([]*pdpv1.BatchCheckResult, len(checks))}
	for i, c := range checks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out.Results[i] = s.batchItem(ctx, i, c)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// batchItem decides one item, turning its error or panic into a status.
func (s *Service) batchItem(ctx context.Context, i int, c *pdpv1.CheckRequest) (res *pdpv1.BatchCheckResult) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.ErrorContext(ctx, "panic in batch check item",
				"item", i, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res = batchError(rpcstatus.ToStatus(fault.New(fault.Internal, rpcstatus.InternalMessage)).Proto())
		}
	}()
	resp, err := s.Check(ctx, c)
	if err != nil {
		if rpcstatus.IsInternal(err) {
			s.logger.ErrorContext(ctx, "batch check item failed", "item", i, "error", err.Error())
		}
		return batchError(rpcstatus.ToStatus(err).Proto())
	}
	return &pdpv1.BatchCheckResult{Result: &pdpv1.BatchCheckResult_Response{Response: resp}}
}

// batchError is the result of an item that could not be decided.
func batchError(st *spb.Status) *pdpv1.BatchCheckResult {
	return &pdpv1.BatchCheckResult{Result: &pdpv1.BatchCheckResult_Error{Error: st}}
}

// Report validates and records one event.
func (s *Service) Report(ctx context.Context, in *pdpv1.ReportRequest) (*pdpv1.ReportResponse, error) {
	ev, err := ToEvent(in, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.inScope(ctx, ev.Tenant); err != nil {
		return nil, err
	}
	id, err := s.recorder.Record(ctx, ev)
	if err != nil {
		return nil, err
	}
	s.observer.RecordReport(ev.Kind.String())
	return &pdpv1.ReportResponse{EventId: id}, nil
}

// inScope applies Options.Scope.
func (s *Service) inScope(ctx context.Context, tenant string) error {
	if s.scope == nil {
		return nil
	}
	return s.scope(ctx, tenant)
}

// nopObserver records nothing.
type nopObserver struct{}

func (nopObserver) RecordDecision(string, time.Duration) {}
func (nopObserver) RecordBatchItems(int)                 {}
func (nopObserver) RecordReport(string)                  {}
