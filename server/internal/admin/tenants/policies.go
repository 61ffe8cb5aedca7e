// Package tenants implements the tenant-policy part of
// pdp.v1.PolicyAdminService: GetTenantPolicy, PutTenantPolicy (with
// change approval for tenants that declare SOX), ListTenants,
// ListPendingChanges, ApproveChange, RejectChange, ComplianceReport,
// SetSSOStatus and ListAuditEvents.
//
// A policy is accepted when tenantdata.Normalize and compliance.Check
// pass: INVALID_ARGUMENT names each bad field, FAILED_PRECONDITION each
// setting beyond the plan and each broken compliance control. Writes are a
// compare-and-set on the etag the caller read (a stale etag is ABORTED),
// need a reason, are appended to the audit log with the policy before and
// after, and reload the policy set so the engine serves them before the
// call returns.
//
// Change approval: when the tenant's current or proposed policy declares
// SOX in any environment, PutTenantPolicy stores a pending change instead
// and returns it. A different admin of the tenant applies it with
// ApproveChange (re-checked and compare-and-set against the etag the
// author read); the author may not approve their own change, and callers
// without a name (a server without API keys) cannot approve at all.
// RejectChange discards it; the author may withdraw their own.
package tenants

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Audit actions this service records.
const (
	ActionPut     = "tenant_policy.put"
	ActionPropose = "tenant_policy.propose"
	ActionApprove = "tenant_policy.approve"
	ActionReject  = "tenant_policy.reject"
	ActionSSO     = "sso_status.set"
)

// Compliance computes findings on the loaded policy set
// (*compliance.Reporter).
type Compliance interface {
	Findings(ctx context.Context, tenant, environment, framework string) ([]compliance.Finding, error)
}

// SSOState records and reads a tenant's SSO status (store.Store).
type SSOState interface {
	SetSSOStatus(ctx context.Context, tenant string, s store.SSOStatus) error
	Read(ctx context.Context, q store.Query, dst *store.View) error
}

// Options are what a Service needs.
type Options struct {
	// Store keeps the policies set through the API; required.
	Store tenantstore.Store
	// Audit records every change; required.
	Audit audit.Log
	// State keeps SSO status; required.
	State SSOState
	// Compliance answers ComplianceReport; required.
	Compliance Compliance
	// Reload loads the policy set again after the tenant's stored policy
	// changed (reload.Loader.LoadStoredTenants) so that it is served;
	// required.
	Reload func(ctx context.Context, tenant string) error
	// Current returns the policy set now served, with the tenant files;
	// required.
	Current func() reload.Set
	// Chain is the audit log VerifyAuditLog walks: the store's own, which
	// keeps the head (audit.Header); Audit when nil.
	Chain audit.Log
	// LatestCheckpoint returns the latest signed checkpoint of the chain,
	// checked against it, or nil when checkpoints are off or none was
	// written; nil reports none.
	LatestCheckpoint func(ctx context.Context) (*pdpv1.AuditCheckpoint, error)
	// Shadow evaluates tenants' candidate policies; nil answers the
	// shadow RPCs FAILED_PRECONDITION.
	Shadow Shadow
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives what clients are not told; discarded when nil.
	Logger *slog.Logger
}

// Service implements the tenant-policy RPCs. Its methods have the
// signatures of pdpv1.PolicyAdminServiceServer.
type Service struct {
	opts Options
}

// New returns a Service; it fails when a required option is missing.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Audit == nil || opts.State == nil || opts.Compliance == nil ||
		opts.Reload == nil || opts.Current == nil {
		return nil, fault.New(fault.Internal, "admin policies: Store, Audit, State, Compliance, Reload and Current are required")
	}
	opts.Now, opts.Logger = guard.Clock(opts.Now), guard.Logger(opts.Logger)
	if opts.Chain == nil {
		opts.Chain = opts.Audit
	}
	return &Service{opts: opts}, nil
}

// newID returns a random change id.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// current is the policy a tenant has now: the stored one when the API set
// it, else its file's. storedEtag is the etag a compare-and-set on the
// store must name ("" when nothing is stored).
func (s *Service) current(ctx context.Context, tenant string) (p *pdpv1.TenantPolicy, source, storedEtag string, err error) {
	stored, err := s.opts.Store.Get(ctx, tenant)
	switch {
	case err == nil:
		return stored, reload.SourceAPI, stored.GetEtag(), nil
	case !errors.Is(err, fault.ErrNotFound):
		return nil, "", "", err
	}
	set := s.opts.Current()
	if set.Sources[tenant] == reload.SourceFile {
		return set.Policies[tenant], reload.SourceFile, "", nil
	}
	return nil, "", "", nil
}

// declaresSOX reports whether any environment of p declares SOX.
func declaresSOX(p *pdpv1.TenantPolicy) bool {
	for _, sp := range p.GetEnvironments() {
		if slices.Contains(sp.GetCompliance(), "SOX") {
			return true
		}
	}
	return false
}

// reloadSet loads the policy set again after the tenant's stored policy
// changed.
func (s *Service) reloadSet(ctx context.Context, tenant string) error {
	if err := s.opts.Reload(ctx, tenant); err != nil {
		s.opts.Logger.Error("a stored tenant policy is not served: the policy set failed to reload", "error", err.Error())
		return fault.Wrap(err, fault.Unavailable, "the policy was stored but the policy set failed to reload; the previous set keeps serving")
	}
	return nil
}
