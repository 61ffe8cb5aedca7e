package tenants

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// ComplianceReport returns the findings of the compliance library for one
// environment of a tenant ("" means production) and one framework ("" for
// every framework), as the loaded policy set computes them.
func (s *Service) ComplianceReport(ctx context.Context, req *pdpv1.ComplianceReportRequest) (*pdpv1.ComplianceReportResponse, error) {
	var v fault.Violations
	tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	env := req.GetEnvironment()
	if env == "" {
		env = decision.DefaultEnvironment
	}
	framework := req.GetFramework()
	if framework != "" {
		framework = compliance.CanonicalFramework(framework)
	}
	found, err := s.opts.Compliance.Findings(ctx, req.GetTenant(), env, framework)
	if err != nil {
		return nil, err
	}
	out := &pdpv1.ComplianceReportResponse{Tenant: req.GetTenant(), Environment: env, Framework: framework, Compliant: true}
	for _, f := range found {
		out.Findings = append(out.Findings, &pdpv1.ComplianceFinding{
			Control: f.Control, Severity: f.Severity, Status: f.Status, Finding: f.Finding, Remediation: f.Remediation,
		})
		if !f.Passed() {
			out.Compliant = false
		}
	}
	return out, nil
}

// SetSSOStatus records whether a tenant's SSO is available. While it is
// not, the tenant's break-glass users may sign in with the emergency
// providers its policy names (authn.emergency_access, audited and
// notified by the decision's obligations).
func (s *Service) SetSSOStatus(ctx context.Context, req *pdpv1.SetSSOStatusRequest) (*pdpv1.SetSSOStatusResponse, error) {
	var v fault.Violations
	tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	guard.Require(&v, "reason", req.GetReason())
	now := s.opts.Now().UTC()
	rec := audit.Entry{
		Time: now, Actor: guard.Actor(ctx), Action: ActionSSO, Tenant: req.GetTenant(), Target: "sso", Reason: req.GetReason(),
	}
	guard.Admit(&v, rec, nil)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	next := store.SSOStatus{Available: req.GetAvailable(), Reason: req.GetReason(), UpdatedAt: now}
	rec.After = ssoDocument(next)
	err := guard.Commit(ctx, s.opts.Audit, rec, func(ctx context.Context, e *audit.Entry) error {
		var before store.View
		if err := s.opts.State.Read(ctx, store.Query{Tenant: req.GetTenant(), At: now}, &before); err != nil {
			return err
		}
		if before.HasSSO {
			e.Before = ssoDocument(before.SSO)
		}
		return s.opts.State.SetSSOStatus(ctx, req.GetTenant(), next)
	})
	if err != nil {
		return nil, err
	}
	return &pdpv1.SetSSOStatusResponse{Available: next.Available, ChangedAt: timestamppb.New(now)}, nil
}

func ssoDocument(s store.SSOStatus) map[string]any {
	return map[string]any{"available": s.Available, "updated_at": s.UpdatedAt.UTC().Format(time.RFC3339Nano)}
}

// ListAuditEvents pages through the audit log, oldest first: one tenant's
// events, or, without a tenant, those of every tenant the caller may
// administer (global events only for admins).
func (s *Service) ListAuditEvents(ctx context.Context, req *pdpv1.ListAuditEventsRequest) (*pdpv1.ListAuditEventsResponse, error) {
	var v fault.Violations
	size := guard.PageSize(&v, req.GetPageSize())
	after := guard.DecodeSeqToken(&v, req.GetPageToken())
	if req.GetTenant() != "" {
		tenantdata.CheckTenant(&v, "tenant", req.GetTenant())
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	q := audit.Query{Tenant: req.GetTenant(), After: after, Limit: size}
	if req.GetSince() != nil {
		q.Since = req.GetSince().AsTime()
	}
	if req.GetTenant() != "" {
		if err := guard.Tenant(ctx, req.GetTenant()); err != nil {
			return nil, err
		}
	} else if mine := guard.Tenants(ctx); mine != nil {
		if len(mine) == 0 {
			return &pdpv1.ListAuditEventsResponse{}, nil
		}
		q.Tenants = mine
	}
	events, next, err := s.opts.Audit.List(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &pdpv1.ListAuditEventsResponse{NextPageToken: guard.SeqToken(next)}
	for _, e := range events {
		out.Events = append(out.Events, guard.AuditEvent(e))
	}
	return out, nil
}

// VerifyAuditLog walks the whole chain as `pdp audit verify` does and
// adds the latest signed checkpoint. Only admins may: the chain spans
// every tenant, and its count and head say how much others changed.
func (s *Service) VerifyAuditLog(ctx context.Context, _ *pdpv1.VerifyAuditLogRequest) (*pdpv1.VerifyAuditLogResponse, error) {
	if guard.Tenants(ctx) != nil {
		return nil, fault.New(fault.PermissionDenied, "verifying the audit log needs an admin key: the chain spans every tenant")
	}
	r, err := audit.Verify(ctx, s.opts.Chain)
	if err != nil {
		return nil, err
	}
	out := &pdpv1.VerifyAuditLogResponse{Events: r.Events, Head: r.Head, Intact: r.OK()}
	if r.Broken != nil {
		out.Broken = r.Broken.String()
	}
	if s.opts.LatestCheckpoint != nil {
		if out.LatestCheckpoint, err = s.opts.LatestCheckpoint(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}
