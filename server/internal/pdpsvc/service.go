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
	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// Observer counts the items of every accepted BatchCheck, for metrics;
// *telemetry.Metrics implements it. Decisions and reports are counted by
// the decision service.
type Observer interface {
	// RecordBatchItems counts the items of one accepted BatchCheck.
	RecordBatchItems(n int)
}

// Options configures a Service.
type Options struct {
	// Decisions runs the decision use case for every Check, BatchCheck
	// item and Report; required.
	Decisions *decide.Service
	// Observer receives metrics; nil records none.
	Observer Observer
	// Logger receives the detail of BatchCheck items that failed with an
	// internal error (a whole call's errors are logged by the gRPC
	// server); nil discards.
	Logger *slog.Logger
	// Now is the clock for requests that carry no time; nil means time.Now.
	Now func() time.Time
}

// Service implements pdp.v1.DecisionService. It embeds the Unsafe marker
// rather than the Unimplemented one so that an RPC added to the proto
// without an implementation here is a compile error, not a runtime
// UNIMPLEMENTED.
type Service struct {
	pdpv1.UnsafeDecisionServiceServer

	decisions *decide.Service
	observer  Observer
	logger    *slog.Logger
	now       func() time.Time
}

var _ pdpv1.DecisionServiceServer = (*Service)(nil)

// New returns a Service, or an error naming each missing dependency.
func New(opts Options) (*Service, error) {
	if opts.Decisions == nil {
		return nil, errors.New("pdpsvc: Options.Decisions is required")
	}
	s := &Service{
		decisions: opts.Decisions,
		observer:  opts.Observer,
		logger:    opts.Logger,
		now:       opts.Now,
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

// Check validates one request and has the decision service decide it. A
// deny or a challenge is a successful call; errors are domain faults for
// the transport to map.
func (s *Service) Check(ctx context.Context, in *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
	req, err := ToRequest(in, s.now())
	if err != nil {
		return nil, err
	}
	d, err := s.decisions.Check(ctx, req)
	if err != nil {
		return nil, err
	}
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

// Report validates one event and has the decision service record it.
func (s *Service) Report(ctx context.Context, in *pdpv1.ReportRequest) (*pdpv1.ReportResponse, error) {
	ev, err := ToEvent(in, s.now())
	if err != nil {
		return nil, err
	}
	id, err := s.decisions.Report(ctx, ev)
	if err != nil {
		return nil, err
	}
	return &pdpv1.ReportResponse{EventId: id}, nil
}

// nopObserver records nothing.
type nopObserver struct{}

func (nopObserver) RecordBatchItems(int) {}
