package tenants

import (
	"context"
	"maps"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/replay"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Audit actions of shadow evaluation.
const (
	ActionShadowPut    = "shadow_policy.put"
	ActionShadowDelete = "shadow_policy.delete"
)

// Shadow evaluates tenants' candidate policies beside the live set
// (*replay.Shadow).
type Shadow interface {
	PutTenant(ctx context.Context, tenant, pendingID string, build func(ctx context.Context) (*replay.Candidate, error)) (replay.Impact, error)
	DeleteTenant(tenant string) (replay.Impact, bool)
	TenantImpact(tenant string) (replay.Impact, bool)
}

// shadowFields names the audit record's fields as the shadow requests
// name them.
var shadowFields = map[string]string{"tenant": "tenant", "target": "tenant"}

// noShadow is the error of the shadow RPCs on a server without one.
var noShadow = fault.New(fault.FailedPrecondition, "this server runs no shadow evaluation")

// PutShadowPolicy puts a tenant's candidate policy, or a pending change's
// proposed policy, in shadow: a sampled share of the tenant's decisions is
// evaluated with the live set in which the tenant has the candidate, off
// the request path, and what changes is counted (GetShadowImpact) and
// logged. The candidate is checked as PutTenantPolicy checks a policy; the
// call is audited with it.
func (s *Service) PutShadowPolicy(ctx context.Context, req *pdpv1.PutShadowPolicyRequest) (*pdpv1.PutShadowPolicyResponse, error) {
	var v fault.Violations
	var tenant, pendingID string
	switch {
	case req.GetPolicy() != nil:
		tenant = req.GetPolicy().GetTenant()
		tenantdata.CheckTenant(&v, "policy.tenant", tenant)
	case req.GetPendingChangeId() != "":
		pendingID = req.GetPendingChangeId()
	default:
		v.Add("candidate", "required: a policy or a pending_change_id")
	}
	guard.Require(&v, "reason", req.GetReason())
	target, fields := tenant, map[string]string{"target": "policy.tenant"}
	if pendingID != "" {
		target, fields = pendingID, map[string]string{"target": "pending_change_id"}
	}
	guard.Admit(&v, audit.Entry{Actor: guard.Actor(ctx), Action: ActionShadowPut, Target: target, Reason: req.GetReason()}, fields)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if s.opts.Shadow == nil {
		return nil, noShadow
	}
	policy := req.GetPolicy()
	if pendingID != "" {
		c, err := s.opts.Store.GetPending(ctx, pendingID)
		if err != nil {
			return nil, err
		}
		if guard.Tenant(ctx, c.GetTenant()) != nil {
			return nil, tenantstore.NoPending(pendingID)
		}
		tenant, policy = c.GetTenant(), c.GetPolicy()
	}
	if err := guard.Tenant(ctx, tenant); err != nil {
		return nil, err
	}
	candidate := proto.Clone(policy).(*pdpv1.TenantPolicy)
	if err := s.check(ctx, candidate); err != nil {
		return nil, err
	}
	// The candidate is the live set with this tenant's policy replaced; it
	// is built again whenever the live set changes.
	build := func(ctx context.Context) (*replay.Candidate, error) {
		set := s.opts.Current()
		policies := maps.Clone(set.Policies)
		if policies == nil {
			policies = map[string]*pdpv1.TenantPolicy{}
		}
		policies[tenant] = candidate
		return replay.FromBundle(ctx, engine.Bundle{Modules: set.Modules, Tenants: tenantdata.Data(policies)})
	}
	var impact replay.Impact
	err := guard.Commit(ctx, s.opts.Audit, audit.Entry{
		Time: s.opts.Now(), Actor: guard.Actor(ctx), Action: ActionShadowPut, Tenant: tenant, Target: target,
		Reason: req.GetReason(), After: guard.Document(candidate),
	}, func(ctx context.Context, _ *audit.Entry) error {
		var err error
		if impact, err = s.opts.Shadow.PutTenant(ctx, tenant, pendingID, build); err != nil {
			return fault.Wrap(err, fault.FailedPrecondition, "the candidate does not load with the live policy set")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pdpv1.PutShadowPolicyResponse{Impact: impactProto(impact)}, nil
}

// DeleteShadowPolicy stops a tenant's shadow evaluation and returns what
// it observed; audited.
func (s *Service) DeleteShadowPolicy(ctx context.Context, req *pdpv1.DeleteShadowPolicyRequest) (*pdpv1.DeleteShadowPolicyResponse, error) {
	var v fault.Violations
	tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	guard.Require(&v, "reason", req.GetReason())
	guard.Admit(&v, audit.Entry{Actor: guard.Actor(ctx), Action: ActionShadowDelete, Tenant: req.GetTenant(), Target: req.GetTenant(), Reason: req.GetReason()}, shadowFields)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if s.opts.Shadow == nil {
		return nil, noShadow
	}
	if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	var impact replay.Impact
	err := guard.Commit(ctx, s.opts.Audit, audit.Entry{
		Time: s.opts.Now(), Actor: guard.Actor(ctx), Action: ActionShadowDelete, Tenant: req.GetTenant(), Target: req.GetTenant(), Reason: req.GetReason(),
	}, func(context.Context, *audit.Entry) error {
		var ok bool
		if impact, ok = s.opts.Shadow.DeleteTenant(req.GetTenant()); !ok {
			return noTenantShadow(req.GetTenant())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pdpv1.DeleteShadowPolicyResponse{Impact: impactProto(impact)}, nil
}

// GetShadowImpact returns what a tenant's shadow evaluation observed so
// far.
func (s *Service) GetShadowImpact(ctx context.Context, req *pdpv1.GetShadowImpactRequest) (*pdpv1.GetShadowImpactResponse, error) {
	var v fault.Violations
	tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if s.opts.Shadow == nil {
		return nil, noShadow
	}
	if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	impact, ok := s.opts.Shadow.TenantImpact(req.GetTenant())
	if !ok {
		return nil, noTenantShadow(req.GetTenant())
	}
	return &pdpv1.GetShadowImpactResponse{Impact: impactProto(impact)}, nil
}

func noTenantShadow(tenant string) error {
	return fault.New(fault.NotFound, "tenant %q has no policy in shadow", tenant)
}

// pendingImpact is what the shadow of a pending change observed; nil when
// the change is not in shadow.
func (s *Service) pendingImpact(c *pdpv1.PendingChange) *pdpv1.ShadowImpact {
	if s.opts.Shadow == nil {
		return nil
	}
	if i, ok := s.opts.Shadow.TenantImpact(c.GetTenant()); ok && i.PendingChangeID == c.GetId() {
		return impactProto(i)
	}
	return nil
}

// endPendingShadow ends the shadow of a pending change that was approved
// or rejected, and returns what it observed; nil when it was not in
// shadow.
func (s *Service) endPendingShadow(c *pdpv1.PendingChange) *pdpv1.ShadowImpact {
	if s.pendingImpact(c) == nil {
		return nil
	}
	i, ok := s.opts.Shadow.DeleteTenant(c.GetTenant())
	if !ok {
		return nil
	}
	return impactProto(i)
}

// impactProto is an impact in the API's shape.
func impactProto(i replay.Impact) *pdpv1.ShadowImpact {
	out := &pdpv1.ShadowImpact{
		Tenant: i.Tenant, PendingChangeId: i.PendingChangeID, Revision: i.Revision,
		Since: timestamppb.New(i.Since), Evaluated: i.Evaluated, Changed: i.Changed,
	}
	for _, t := range i.SortedTransitions() {
		out.Transitions = append(out.Transitions, &pdpv1.ShadowTransition{From: t.From, To: t.To, Count: i.Transitions[t]})
	}
	return out
}
