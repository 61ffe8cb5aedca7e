package tenants

import (
	"context"
	"strconv"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// ListPendingChanges lists the pending changes of the tenants the caller
// may administer, oldest first.
func (s *Service) ListPendingChanges(ctx context.Context, req *pdpv1.ListPendingChangesRequest) (*pdpv1.ListPendingChangesResponse, error) {
	var v fault.Violations
	size := guard.PageSize(&v, req.GetPageSize())
	skip := 0
	if pos := guard.DecodeToken(&v, req.GetPageToken()); pos != "" {
		n, err := strconv.Atoi(pos)
		if err != nil || n < 0 {
			v.Add("page_token", "not a token this server issued")
		}
		skip = n
	}
	if req.GetTenant() != "" {
		tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if req.GetTenant() != "" {
		if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
			return nil, err
		}
	}
	all, err := s.opts.Store.ListPending(ctx)
	if err != nil {
		return nil, err
	}
	var visible []*pdpv1.PendingChange
	for _, c := range all {
		if (req.GetTenant() == "" || c.GetTenant() == req.GetTenant()) && guard.Tenant(ctx, c.GetTenant()) == nil {
			// A change in shadow shows what its shadow observed.
			if impact := s.pendingImpact(c); impact != nil {
				c = proto.Clone(c).(*pdpv1.PendingChange)
				c.ObservedImpact = impact
			}
			visible = append(visible, c)
		}
	}
	out := &pdpv1.ListPendingChangesResponse{}
	if skip < len(visible) {
		end := min(skip+size, len(visible))
		out.Changes = visible[skip:end]
		if end < len(visible) {
			out.NextPageToken = guard.EncodeToken(strconv.Itoa(end))
		}
	}
	return out, nil
}

// pendingFields names the audit record's fields as ApproveChange and
// RejectChange name them.
var pendingFields = map[string]string{"target": "id"}

// pending reads a change the caller may act on, once the request's
// fields passed and the audit log would take the record of action on it.
// A change of a tenant the caller may not administer is reported as
// missing, so ids of other tenants' changes cannot be probed.
func (s *Service) pending(ctx context.Context, action, id, reason string) (*pdpv1.PendingChange, error) {
	var v fault.Violations
	guard.Require(&v, "id", id, "reason", reason)
	guard.Admit(&v, audit.Entry{Actor: guard.Actor(ctx), Action: action, Target: id, Reason: reason}, pendingFields)
	if err := v.Err(); err != nil {
		return nil, err
	}
	c, err := s.opts.Store.GetPending(ctx, id)
	if err != nil {
		return nil, err
	}
	if guard.Tenant(ctx, c.GetTenant()) != nil {
		return nil, tenantstore.NoPending(id)
	}
	return c, nil
}

// ApproveChange applies a pending change after checking it again. The
// approver must be named and differ from the author; the policy must
// still replace the one the author read, or the call is ABORTED and the
// change stays pending (reject it and propose it again).
func (s *Service) ApproveChange(ctx context.Context, req *pdpv1.ApproveChangeRequest) (*pdpv1.ApproveChangeResponse, error) {
	c, err := s.pending(ctx, ActionApprove, req.GetId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	approver := guard.Actor(ctx)
	switch {
	case approver == guard.Anonymous:
		return nil, fault.New(fault.PermissionDenied, "approving a change needs a named caller (an API key or a client certificate); an anonymous caller cannot be told from the author")
	case approver == c.GetAuthor():
		return nil, fault.New(fault.PermissionDenied, "%s proposed change %s and cannot approve it: a different admin must", approver, c.GetId())
	}
	next := proto.Clone(c.GetPolicy()).(*pdpv1.TenantPolicy)
	if err := s.check(ctx, next); err != nil {
		return nil, err
	}
	cur, _, storedEtag, err := s.current(ctx, c.GetTenant())
	if err != nil {
		return nil, err
	}
	if next.GetEtag() != cur.GetEtag() {
		return nil, fault.New(fault.Aborted, "tenant %q policy changed since change %s was proposed (etag %s, now %s): reject it and propose it again",
			c.GetTenant(), c.GetId(), next.GetEtag(), cur.GetEtag())
	}
	// The policy is stored and the change leaves the pending list in one
	// commit with the record; the change is read again inside it, so one
	// rejected meanwhile is not applied.
	var stored *pdpv1.TenantPolicy
	err = guard.Commit(ctx, s.opts.Audit, audit.Entry{
		Time: s.opts.Now(), Actor: approver, Action: ActionApprove, Tenant: c.GetTenant(), Target: c.GetId(),
		Reason: req.GetReason(), Before: guard.Document(cur),
	}, func(ctx context.Context, e *audit.Entry) error {
		if _, err := s.opts.Store.GetPending(ctx, c.GetId()); err != nil {
			return err
		}
		var err error
		if stored, err = s.opts.Store.Put(ctx, next, storedEtag); err != nil {
			return err
		}
		e.After = guard.Document(stored)
		return s.opts.Store.DeletePending(ctx, c.GetId())
	})
	if err != nil {
		return nil, err
	}
	// Approved, the change serves: its shadow ends, and what it observed
	// is part of the answer.
	impact := s.endPendingShadow(c)
	if err := s.reloadSet(ctx, c.GetTenant()); err != nil {
		return nil, err
	}
	return &pdpv1.ApproveChangeResponse{Policy: stored, ObservedImpact: impact}, nil
}

// RejectChange discards a pending change; any admin of the tenant may,
// its author included (withdrawing it).
func (s *Service) RejectChange(ctx context.Context, req *pdpv1.RejectChangeRequest) (*pdpv1.RejectChangeResponse, error) {
	c, err := s.pending(ctx, ActionReject, req.GetId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	if err := guard.Commit(ctx, s.opts.Audit, audit.Entry{
		Time: s.opts.Now(), Actor: guard.Actor(ctx), Action: ActionReject, Tenant: c.GetTenant(), Target: c.GetId(),
		Reason: req.GetReason(), Before: guard.Document(c),
	}, func(ctx context.Context, _ *audit.Entry) error {
		return s.opts.Store.DeletePending(ctx, c.GetId())
	}); err != nil {
		return nil, err
	}
	s.endPendingShadow(c)
	return &pdpv1.RejectChangeResponse{Change: c}, nil
}
