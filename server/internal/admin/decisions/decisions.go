// Package decisions implements GetDecision of pdp.v1.PolicyAdminService:
// a decision of the decision log, found by its id and evaluated again from
// its recorded input (--decision-log-inputs) with its explanation, by the
// revision that decided it when the engine still holds it, else by the
// set serving now, and says which (docs/policy-change.md).
//
// The answer holds the request as the policy saw it, so the call needs a
// reason and is an audited read; a tenant-admin sees the decisions of its
// tenants only, others being reported as missing.
package decisions

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/replay"
)

// ActionRead is the audit action of GetDecision.
const ActionRead = "decision.read"

// Options are what a Service needs.
type Options struct {
	// Log is the decision log's destination (--decision-log); a file is
	// searched with its rotated backups. Empty or stdout: no decision can
	// be found.
	Log string
	// Engine evaluates the recorded inputs; required.
	Engine *engine.Engine
	// Tenants returns the data.tenants document of the set serving now
	// (reload.Set.Tenants), whose IP lists apply when the recorded
	// revision is no longer held; nil takes the recorded verdicts.
	Tenants func() map[string]any
	// Audit records every read; required.
	Audit audit.Log
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives what clients are not told; discarded when nil.
	Logger *slog.Logger
}

// Service implements GetDecision.
type Service struct {
	opts Options
}

// New returns a Service; it fails when a required option is missing.
func New(opts Options) (*Service, error) {
	if opts.Engine == nil || opts.Audit == nil {
		return nil, fault.New(fault.Internal, "admin decisions: Engine and Audit are required")
	}
	opts.Now, opts.Logger = guard.Clock(opts.Now), guard.Logger(opts.Logger)
	return &Service{opts: opts}, nil
}

// decisionFields names the audit record's fields as the request names
// them.
var decisionFields = map[string]string{"target": "decision_id"}

// GetDecision returns a recorded decision and its explanation.
func (s *Service) GetDecision(ctx context.Context, req *pdpv1.GetDecisionRequest) (*pdpv1.GetDecisionResponse, error) {
	var v fault.Violations
	guard.Require(&v, "decision_id", req.GetDecisionId(), "reason", req.GetReason())
	e := audit.Entry{Actor: guard.Actor(ctx), Action: ActionRead, Target: req.GetDecisionId(), Reason: req.GetReason()}
	guard.Admit(&v, e, decisionFields)
	if err := v.Err(); err != nil {
		return nil, err
	}
	files, err := decisionlog.Files(s.opts.Log)
	if err != nil {
		s.opts.Logger.Error("the decision log cannot be listed", "error", err.Error())
		return nil, fault.Wrap(err, fault.Unavailable, "the decision log cannot be read")
	}
	if len(files) == 0 {
		return nil, fault.New(fault.FailedPrecondition, "the server writes no decision log file (--decision-log FILE), so no decision can be found by its id")
	}
	rec, err := replay.FindDecision(files, req.GetDecisionId())
	if err != nil {
		s.opts.Logger.Error("the decision log cannot be read", "error", err.Error())
		return nil, fault.Wrap(err, fault.Unavailable, "the decision log cannot be read")
	}
	// A decision of a tenant the caller may not administer is reported as
	// missing, so that ids of other tenants' decisions cannot be probed.
	if rec == nil || guard.Tenant(ctx, rec.Tenant) != nil {
		return nil, fault.New(fault.NotFound, "no decision %s in the decision log", req.GetDecisionId())
	}
	ex, err := replay.Explain(ctx, s.opts.Engine, rec, s.opts.Tenants)
	if err != nil {
		return nil, err
	}
	input, err := structpb.NewStruct(rec.Input)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "the recorded input cannot be returned")
	}
	e.Time, e.Tenant = s.opts.Now(), rec.Tenant
	if err := guard.Audited(ctx, s.opts.Audit, e); err != nil {
		return nil, err
	}
	// The decision explained is the recorded one: it keeps its id.
	ex.Decision.ID = rec.DecisionID
	return &pdpv1.GetDecisionResponse{
		Recorded:         recorded(rec),
		Explained:        pdpsvc.FromDecision(ex.Decision),
		RecordedRevision: ex.RecordedRevision,
		Approximate:      ex.Approximate,
		Input:            input,
	}, nil
}

// recorded is the log line's decision in the API's shape.
func recorded(r *replay.Record) *pdpv1.RecordedDecision {
	return &pdpv1.RecordedDecision{
		DecisionId:     r.DecisionID,
		Time:           timestamppb.New(r.Time),
		Tenant:         r.Tenant,
		Environment:    r.Environment,
		Action:         r.Action.Name,
		Decision:       decisionKind[r.Decision],
		Enforced:       r.Enforced,
		WouldDecide:    decisionKind[r.WouldDecide],
		Reasons:        r.Reasons,
		StepUps:        r.StepUps,
		PolicyRevision: r.PolicyRevision,
	}
}

// decisionKind maps the log's words to the API's; anything else is
// DECISION_UNSPECIFIED.
var decisionKind = map[string]pdpv1.Decision{
	"allow":     pdpv1.Decision_DECISION_ALLOW,
	"deny":      pdpv1.Decision_DECISION_DENY,
	"challenge": pdpv1.Decision_DECISION_CHALLENGE,
}
