package tenants

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// RefusedMessage is the client-safe message of a policy refused for its
// plan or its compliance profiles.
const RefusedMessage = "tenant policy refused"

// GetTenantPolicy returns the tenant's policy with its etag: the one set
// through the API, else its file's.
func (s *Service) GetTenantPolicy(ctx context.Context, req *pdpv1.GetTenantPolicyRequest) (*pdpv1.GetTenantPolicyResponse, error) {
	var v fault.Violations
	tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	p, _, _, err := s.current(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fault.New(fault.NotFound, "no policy for tenant %q", req.GetTenant())
	}
	return &pdpv1.GetTenantPolicyResponse{Policy: proto.Clone(p).(*pdpv1.TenantPolicy)}, nil
}

// putFields names the audit record's fields as PutTenantPolicy names them.
var putFields = map[string]string{"tenant": "policy.tenant", "target": "policy.tenant"}

// PutTenantPolicy checks and stores a tenant's policy, or, when the
// tenant declares SOX, stores it as a pending change.
func (s *Service) PutTenantPolicy(ctx context.Context, req *pdpv1.PutTenantPolicyRequest) (*pdpv1.PutTenantPolicyResponse, error) {
	var v fault.Violations
	if req.GetPolicy() == nil {
		v.Add("policy", "required")
	} else {
		tenantdata.CheckTenant(&v, "policy.tenant", req.GetPolicy().GetTenant())
	}
	guard.Require(&v, "reason", req.GetReason())
	tenant := req.GetPolicy().GetTenant()
	// Whether it is applied or proposed, the change's record names the
	// same actor, tenant and reason; the target is the tenant or the
	// change id, which is short.
	guard.Admit(&v, audit.Entry{Actor: guard.Actor(ctx), Action: ActionPut, Tenant: tenant, Target: tenant, Reason: req.GetReason()}, putFields)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := guard.Tenant(ctx, tenant); err != nil {
		return nil, err
	}
	next := proto.Clone(req.GetPolicy()).(*pdpv1.TenantPolicy)
	if err := s.check(ctx, next); err != nil {
		return nil, err
	}
	cur, _, storedEtag, err := s.current(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if next.GetEtag() != cur.GetEtag() {
		return nil, tenantstore.Stale(tenant, next.GetEtag(), cur.GetEtag())
	}
	if declaresSOX(cur) || declaresSOX(next) {
		change, err := s.propose(ctx, next, req.GetReason())
		if err != nil {
			return nil, err
		}
		return &pdpv1.PutTenantPolicyResponse{Policy: cur, PendingChange: change}, nil
	}
	stored, err := s.apply(ctx, cur, next, storedEtag, req.GetReason())
	if err != nil {
		return nil, err
	}
	return &pdpv1.PutTenantPolicyResponse{Policy: stored}, nil
}

// check normalizes p in place and runs every acceptance check, merging
// the refusals into one fault: INVALID_ARGUMENT with every bad field while
// any value is invalid, else FAILED_PRECONDITION with every setting beyond
// the plan and every broken control.
func (s *Service) check(ctx context.Context, p *pdpv1.TenantPolicy) error {
	tenantdata.Normalize(p)
	err := compliance.Check(ctx, p)
	if err == nil {
		return nil
	}
	var invalid, refused []fault.FieldViolation
	var other []error
	for _, e := range leaves(err) {
		var fe *fault.Error
		switch {
		case !errors.As(e, &fe):
			other = append(other, e)
		case fe.Code == fault.InvalidArgument:
			invalid = append(invalid, prefixed(fe.Fields)...)
		case fe.Code == fault.FailedPrecondition:
			refused = append(refused, prefixed(fe.Fields)...)
		default:
			other = append(other, e)
		}
	}
	switch {
	case len(invalid) > 0:
		return &fault.Error{Code: fault.InvalidArgument, Message: "invalid tenant policy", Fields: invalid}
	case len(other) > 0:
		return errors.Join(other...)
	}
	return &fault.Error{Code: fault.FailedPrecondition, Message: RefusedMessage, Fields: refused}
}

// leaves flattens errors.Join trees.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// prefixed names fields from the request's root: "policy.environments...".
func prefixed(fields []fault.FieldViolation) []fault.FieldViolation {
	out := make([]fault.FieldViolation, len(fields))
	for i, f := range fields {
		out[i] = fault.FieldViolation{Field: "policy." + f.Field, Description: f.Description}
		if f.Field == "" {
			out[i].Field = "policy"
		}
	}
	return out
}

// apply stores next over before with a compare-and-set on storedEtag,
// committed with its audit record, and reloads the policy set.
func (s *Service) apply(ctx context.Context, before, next *pdpv1.TenantPolicy, storedEtag, reason string) (*pdpv1.TenantPolicy, error) {
	var stored *pdpv1.TenantPolicy
	err := guard.Commit(ctx, s.opts.Audit, audit.Entry{
		Time: s.opts.Now(), Actor: guard.Actor(ctx), Action: ActionPut, Tenant: next.GetTenant(),
		Target: next.GetTenant(), Reason: reason, Before: guard.Document(before),
	}, func(ctx context.Context, e *audit.Entry) error {
		var err error
		if stored, err = s.opts.Store.Put(ctx, next, storedEtag); err != nil {
			return err
		}
		e.After = guard.Document(stored)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The policy and its record are committed: it is served, and a failed
	// reload is the call's error.
	if err := s.reloadSet(ctx, next.GetTenant()); err != nil {
		return nil, err
	}
	return stored, nil
}

// propose stores next as a pending change, committed with its record.
func (s *Service) propose(ctx context.Context, next *pdpv1.TenantPolicy, reason string) (*pdpv1.PendingChange, error) {
	change := &pdpv1.PendingChange{
		Id: newID(), Tenant: next.GetTenant(), Policy: next, Author: guard.Actor(ctx), Reason: reason,
		CreatedAt: timestamppb.New(s.opts.Now()),
	}
	err := guard.Commit(ctx, s.opts.Audit, audit.Entry{
		Time: s.opts.Now(), Actor: change.GetAuthor(), Action: ActionPropose, Tenant: change.GetTenant(),
		Target: change.GetId(), Reason: reason, After: guard.Document(change),
	}, func(ctx context.Context, _ *audit.Entry) error {
		return s.opts.Store.PutPending(ctx, change)
	})
	if err != nil {
		return nil, err
	}
	return change, nil
}

// ListTenants lists the tenants the caller may administer, sorted by
// name, with where each policy came from.
func (s *Service) ListTenants(ctx context.Context, req *pdpv1.ListTenantsRequest) (*pdpv1.ListTenantsResponse, error) {
	var v fault.Violations
	size := guard.PageSize(&v, req.GetPageSize())
	after := guard.DecodeToken(&v, req.GetPageToken())
	if err := v.Err(); err != nil {
		return nil, err
	}
	set := s.opts.Current()
	all := maps.Clone(set.Policies)
	if all == nil {
		all = map[string]*pdpv1.TenantPolicy{}
	}
	sources := maps.Clone(set.Sources)
	if sources == nil {
		sources = map[string]string{}
	}
	// The store is newer than the served set while a reload is under way
	// (or on another replica).
	stored, err := s.opts.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range stored {
		all[p.GetTenant()], sources[p.GetTenant()] = p, reload.SourceAPI
	}
	out := &pdpv1.ListTenantsResponse{}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		if strings.Compare(name, after) <= 0 || guard.Tenant(ctx, name) != nil {
			continue
		}
		if len(out.Tenants) == size {
			out.NextPageToken = guard.EncodeToken(out.Tenants[size-1].GetTenant())
			break
		}
		p := all[name]
		out.Tenants = append(out.Tenants, &pdpv1.TenantSummary{
			Tenant: name, Plan: p.GetPlan(), Environments: slices.Sorted(maps.Keys(p.GetEnvironments())),
			Etag: p.GetEtag(), Source: sources[name],
		})
	}
	return out, nil
}
