// Package admin is pdp.v1.PolicyAdminService (docs/api.md, section PolicyAdminService), composed
// of the services that implement its parts:
//
//	tenants   GetTenantPolicy, PutTenantPolicy, ListTenants,
//	          PutShadowPolicy, DeleteShadowPolicy, GetShadowImpact,
//	          ListPendingChanges, ApproveChange, RejectChange,
//	          ComplianceReport, SetSSOStatus, ListAuditEvents,
//	          VerifyAuditLog
//	iplists   AddIPRule, RemoveIPRule, ListIPRules, ImportIPList
//	users     GetUserProfile, ResetUserMFA, UnsuspendUser,
//	          ExportUserData, EraseUserData
//	decisions GetDecision (SetDecisions; without it FAILED_PRECONDITION)
//
// Every method is answered by one of them; none is left unimplemented.
// Authentication happens before (package authn: admin and tenant-admin
// keys reach these methods, pep keys do not); each method checks that the
// caller may administer the tenant it names, requires a reason for every
// change and appends the change to the audit log.
package admin

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/decisions"
	"github.com/pdp-dev/pdp/server/internal/admin/iplists"
	"github.com/pdp-dev/pdp/server/internal/admin/tenants"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Server is PolicyAdminService.
type Server struct {
	pdpv1.UnsafePolicyAdminServiceServer
	tenants *tenants.Service
	rules   *iplists.Service
	users   *users.Service
	// decisions answers GetDecision; nil until SetDecisions.
	decisions *decisions.Service
}

var _ pdpv1.PolicyAdminServiceServer = (*Server)(nil)

// New composes the service; every part is required.
func New(p *tenants.Service, r *iplists.Service, u *users.Service) (*Server, error) {
	if p == nil || r == nil || u == nil {
		return nil, errors.New("admin: the policies, IP-rules and users services are all required")
	}
	return &Server{tenants: p, rules: r, users: u}, nil
}

// SetDecisions adds the service of GetDecision, before s is registered;
// without it GetDecision fails with FAILED_PRECONDITION.
func (s *Server) SetDecisions(d *decisions.Service) { s.decisions = d }

// Register registers s on a gRPC server.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	pdpv1.RegisterPolicyAdminServiceServer(g, s)
}

// GetTenantPolicy implements pdpv1.PolicyAdminServiceServer.
func (s *Server) GetTenantPolicy(ctx context.Context, req *pdpv1.GetTenantPolicyRequest) (*pdpv1.GetTenantPolicyResponse, error) {
	return s.tenants.GetTenantPolicy(ctx, req)
}

// PutTenantPolicy implements pdpv1.PolicyAdminServiceServer.
func (s *Server) PutTenantPolicy(ctx context.Context, req *pdpv1.PutTenantPolicyRequest) (*pdpv1.PutTenantPolicyResponse, error) {
	return s.tenants.PutTenantPolicy(ctx, req)
}

// ListTenants implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ListTenants(ctx context.Context, req *pdpv1.ListTenantsRequest) (*pdpv1.ListTenantsResponse, error) {
	return s.tenants.ListTenants(ctx, req)
}

// ListPendingChanges implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ListPendingChanges(ctx context.Context, req *pdpv1.ListPendingChangesRequest) (*pdpv1.ListPendingChangesResponse, error) {
	return s.tenants.ListPendingChanges(ctx, req)
}

// ApproveChange implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ApproveChange(ctx context.Context, req *pdpv1.ApproveChangeRequest) (*pdpv1.ApproveChangeResponse, error) {
	return s.tenants.ApproveChange(ctx, req)
}

// RejectChange implements pdpv1.PolicyAdminServiceServer.
func (s *Server) RejectChange(ctx context.Context, req *pdpv1.RejectChangeRequest) (*pdpv1.RejectChangeResponse, error) {
	return s.tenants.RejectChange(ctx, req)
}

// ComplianceReport implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ComplianceReport(ctx context.Context, req *pdpv1.ComplianceReportRequest) (*pdpv1.ComplianceReportResponse, error) {
	return s.tenants.ComplianceReport(ctx, req)
}

// SetSSOStatus implements pdpv1.PolicyAdminServiceServer.
func (s *Server) SetSSOStatus(ctx context.Context, req *pdpv1.SetSSOStatusRequest) (*pdpv1.SetSSOStatusResponse, error) {
	return s.tenants.SetSSOStatus(ctx, req)
}

// ListAuditEvents implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ListAuditEvents(ctx context.Context, req *pdpv1.ListAuditEventsRequest) (*pdpv1.ListAuditEventsResponse, error) {
	return s.tenants.ListAuditEvents(ctx, req)
}

// VerifyAuditLog implements pdpv1.PolicyAdminServiceServer.
func (s *Server) VerifyAuditLog(ctx context.Context, req *pdpv1.VerifyAuditLogRequest) (*pdpv1.VerifyAuditLogResponse, error) {
	return s.tenants.VerifyAuditLog(ctx, req)
}

// AddIPRule implements pdpv1.PolicyAdminServiceServer.
func (s *Server) AddIPRule(ctx context.Context, req *pdpv1.AddIPRuleRequest) (*pdpv1.AddIPRuleResponse, error) {
	return s.rules.AddIPRule(ctx, req)
}

// RemoveIPRule implements pdpv1.PolicyAdminServiceServer.
func (s *Server) RemoveIPRule(ctx context.Context, req *pdpv1.RemoveIPRuleRequest) (*pdpv1.RemoveIPRuleResponse, error) {
	return s.rules.RemoveIPRule(ctx, req)
}

// ListIPRules implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ListIPRules(ctx context.Context, req *pdpv1.ListIPRulesRequest) (*pdpv1.ListIPRulesResponse, error) {
	return s.rules.ListIPRules(ctx, req)
}

// ImportIPList implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ImportIPList(stream grpc.ClientStreamingServer[pdpv1.ImportIPListRequest, pdpv1.ImportIPListResponse]) error {
	return s.rules.ImportIPList(stream)
}

// GetUserProfile implements pdpv1.PolicyAdminServiceServer.
func (s *Server) GetUserProfile(ctx context.Context, req *pdpv1.GetUserProfileRequest) (*pdpv1.GetUserProfileResponse, error) {
	return s.users.GetUserProfile(ctx, req)
}

// ResetUserMFA implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ResetUserMFA(ctx context.Context, req *pdpv1.ResetUserMFARequest) (*pdpv1.ResetUserMFAResponse, error) {
	return s.users.ResetUserMFA(ctx, req)
}

// UnsuspendUser implements pdpv1.PolicyAdminServiceServer.
func (s *Server) UnsuspendUser(ctx context.Context, req *pdpv1.UnsuspendUserRequest) (*pdpv1.UnsuspendUserResponse, error) {
	return s.users.UnsuspendUser(ctx, req)
}

// ExportUserData implements pdpv1.PolicyAdminServiceServer.
func (s *Server) ExportUserData(ctx context.Context, req *pdpv1.ExportUserDataRequest) (*pdpv1.ExportUserDataResponse, error) {
	return s.users.ExportUserData(ctx, req)
}

// EraseUserData implements pdpv1.PolicyAdminServiceServer.
func (s *Server) EraseUserData(ctx context.Context, req *pdpv1.EraseUserDataRequest) (*pdpv1.EraseUserDataResponse, error) {
	return s.users.EraseUserData(ctx, req)
}

// GetDecision implements pdpv1.PolicyAdminServiceServer.
func (s *Server) GetDecision(ctx context.Context, req *pdpv1.GetDecisionRequest) (*pdpv1.GetDecisionResponse, error) {
	if s.decisions == nil {
		return nil, fault.New(fault.FailedPrecondition, "this server finds no decisions by id")
	}
	return s.decisions.GetDecision(ctx, req)
}

// PutShadowPolicy implements pdpv1.PolicyAdminServiceServer.
func (s *Server) PutShadowPolicy(ctx context.Context, req *pdpv1.PutShadowPolicyRequest) (*pdpv1.PutShadowPolicyResponse, error) {
	return s.tenants.PutShadowPolicy(ctx, req)
}

// DeleteShadowPolicy implements pdpv1.PolicyAdminServiceServer.
func (s *Server) DeleteShadowPolicy(ctx context.Context, req *pdpv1.DeleteShadowPolicyRequest) (*pdpv1.DeleteShadowPolicyResponse, error) {
	return s.tenants.DeleteShadowPolicy(ctx, req)
}

// GetShadowImpact implements pdpv1.PolicyAdminServiceServer.
func (s *Server) GetShadowImpact(ctx context.Context, req *pdpv1.GetShadowImpactRequest) (*pdpv1.GetShadowImpactResponse, error) {
	return s.tenants.GetShadowImpact(ctx, req)
}
