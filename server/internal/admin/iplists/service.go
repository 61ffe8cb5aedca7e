// Package iplists implements the methods of PolicyAdminService that edit
// the IP lists, whose rules package iprules keeps (docs/api.md, section
// PolicyAdminService): AddIPRule, RemoveIPRule, ListIPRules and
// ImportIPList. Service is one of the structs the admin service is
// composed of; it embeds nothing and registers nothing.
//
// Every method checks the caller first: a tenant-admin may touch only its
// tenants' rules, and global rules (empty tenant) need an admin. Every
// change is written to the rule store, appended to the audit log (actor,
// reason, before and after) and applied to the local IP lists at once;
// other replicas learn of it through the store's notifications.
package iplists

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/guard"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/fault"
	rules "github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Audit actions.
const (
	// ActionAdd is the audit action of AddIPRule.
	ActionAdd = "ip_rule.add"
	// ActionRemove is the audit action of RemoveIPRule.
	ActionRemove = "ip_rule.remove"
	// ActionImport is the audit action of ImportIPList.
	ActionImport = "ip_list.import"
)

// Applier applies changes to the local IP lists; *rules.Applier is one.
type Applier interface {
	// Added lists a stored rule.
	Added(rules.Rule)
	// Removed unlists a removed rule.
	Removed(rules.Rule)
	// Imported lists imported rules.
	Imported([]rules.Rule)
}

// Options configure a Service.
type Options struct {
	// Store persists the rules; required.
	Store rules.Store
	// Audit records every change; required.
	Audit audit.Log
	// Applier applies changes locally; nil applies nothing.
	Applier Applier
	// Now is the clock of created_at and of the expiry check; time.Now
	// when nil.
	Now func() time.Time
	// Logger receives failures the caller is not told about; nil discards.
	Logger *slog.Logger
}

// Service implements the IP-rule methods of pdpv1.PolicyAdminServiceServer.
type Service struct {
	store   rules.Store
	audit   audit.Log
	applier Applier
	now     func() time.Time
	logger  *slog.Logger
	batch   int // entries of an import stored or staged at a time
}

// New returns a Service, or an error naming a missing option.
func New(o Options) (*Service, error) {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("iplists admin: Options.Store is required"))
	}
	if o.Audit == nil {
		errs = append(errs, errors.New("iplists admin: Options.Audit is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Service{
		store: o.Store, audit: o.Audit, applier: o.Applier,
		now: guard.Clock(o.Now), logger: guard.Logger(o.Logger), batch: importBatch,
	}, nil
}

// authorize lets an admin (or an anonymous caller of a server without
// keys) touch every scope and a tenant-admin its tenants' rules.
func authorize(ctx context.Context, tenant string) error {
	if tenant == "" {
		c, ok := authn.CallerFrom(ctx)
		if ok && (c.Anonymous || c.Role == authn.RoleAdmin) {
			return nil
		}
		return fault.New(fault.PermissionDenied, "global IP rules need an admin key")
	}
	if !authn.AllowedTenant(ctx, tenant) {
		return fault.New(fault.PermissionDenied, "not allowed to administer tenant %q", tenant)
	}
	return nil
}

// mayAdminister reports whether the caller may administer some scope.
func mayAdminister(ctx context.Context) bool {
	c, ok := authn.CallerFrom(ctx)
	return ok && (c.Anonymous || c.Role == authn.RoleAdmin || c.Role == authn.RoleTenantAdmin)
}

func actor(ctx context.Context) string {
	c, _ := authn.CallerFrom(ctx)
	switch {
	case c.Name != "":
		return c.Name
	case c.CertIdentity != "":
		return c.CertIdentity
	}
	return "anonymous"
}

// AddIPRule stores a rule (adding the same list, tenant and CIDR again
// replaces its reason and expiry) and returns it with its id.
func (s *Service) AddIPRule(ctx context.Context, req *pdpv1.AddIPRuleRequest) (*pdpv1.AddIPRuleResponse, error) {
	var v fault.Violations
	checkScope(&v, req.GetTenant())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := authorize(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	now := s.now()
	list := listName(req.GetList())
	prefix, err := ipset.ParsePrefix(req.GetCidr())
	if err != nil {
		v.Add("cidr", "%v", err)
	}
	if strings.TrimSpace(req.GetReason()) == "" {
		v.Add("reason", "required")
	}
	var expires time.Time
	if req.GetExpiresAt() != nil {
		if err := req.GetExpiresAt().CheckValid(); err != nil {
			v.Add("expires_at", "not a valid time")
		} else if expires = req.GetExpiresAt().AsTime(); !expires.After(now) {
			v.Add("expires_at", "must be in the future")
		}
	}
	// The rule's id is the target; it is short, so the reason is what the
	// log may refuse.
	s.admit(ctx, &v, ActionAdd, req.GetTenant(), "", req.GetReason())
	if err := refuse(req, &v); err != nil {
		return nil, err
	}
	r := rules.Rule{
		Tenant: req.GetTenant(), List: list, Prefix: prefix, Reason: req.GetReason(),
		ExpiresAt: expires, CreatedAt: now.UTC(), CreatedBy: actor(ctx), Source: rules.SourceAdmin,
	}.WithID()
	var stored rules.Rule
	err = s.commit(ctx, ActionAdd, r.Tenant, r.ID, r.Reason, func(ctx context.Context, e *audit.Entry) error {
		if old, err := s.store.Get(ctx, r.ID); err == nil {
			e.Before = auditRule(old)
		} else if !errors.Is(err, fault.ErrNotFound) {
			return err
		}
		var err error
		if stored, err = s.store.Add(ctx, r); err != nil {
			return err
		}
		e.After = auditRule(stored)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.applier != nil {
		s.applier.Added(stored)
	}
	return &pdpv1.AddIPRuleResponse{Rule: toProto(stored)}, nil
}

// RemoveIPRule removes a rule by id and returns it as it was.
func (s *Service) RemoveIPRule(ctx context.Context, req *pdpv1.RemoveIPRuleRequest) (*pdpv1.RemoveIPRuleResponse, error) {
	var v fault.Violations
	if req.GetId() == "" {
		v.Add("id", "required")
	}
	if strings.TrimSpace(req.GetReason()) == "" {
		v.Add("reason", "required")
	}
	s.admit(ctx, &v, ActionRemove, "", req.GetId(), req.GetReason())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if !mayAdminister(ctx) {
		return nil, fault.New(fault.PermissionDenied, "IP rules need an admin or tenant-admin key")
	}
	r, err := s.store.Get(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, r.Tenant); err != nil {
		// A tenant-admin learns nothing of other scopes' ids.
		return nil, rules.NotFound(req.GetId())
	}
	var removed rules.Rule
	err = s.commit(ctx, ActionRemove, r.Tenant, r.ID, req.GetReason(), func(ctx context.Context, e *audit.Entry) error {
		var err error
		if removed, err = s.store.Remove(ctx, r.ID); err != nil {
			return err
		}
		e.Before = auditRule(removed)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.applier != nil {
		s.applier.Removed(removed)
	}
	return &pdpv1.RemoveIPRuleResponse{Rule: toProto(removed)}, nil
}

// ListIPRules returns one page of a scope's rules.
func (s *Service) ListIPRules(ctx context.Context, req *pdpv1.ListIPRulesRequest) (*pdpv1.ListIPRulesResponse, error) {
	var v fault.Violations
	checkScope(&v, req.GetTenant())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := authorize(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	list := listName(req.GetList())
	if req.GetPageSize() < 0 {
		v.Add("page_size", "must not be negative")
	}
	after, err := decodeToken(req.GetPageToken(), req.GetTenant(), list)
	if err != nil {
		v.Add("page_token", "%v", err)
	}
	if err := refuse(req, &v); err != nil {
		return nil, err
	}
	page, next, err := s.store.List(ctx, rules.Query{
		Tenant: req.GetTenant(), List: list, Limit: int(req.GetPageSize()), After: after,
	})
	if err != nil {
		return nil, err
	}
	resp := &pdpv1.ListIPRulesResponse{Rules: make([]*pdpv1.IPRule, 0, len(page))}
	for _, r := range page {
		resp.Rules = append(resp.Rules, toProto(r))
	}
	if next != "" {
		resp.NextPageToken = encodeToken(req.GetTenant(), list, next)
	}
	return resp, nil
}

// checkScope checks the tenant a request names: empty (the global rules)
// or a tenant name.
func checkScope(v *fault.Violations, tenant string) {
	if tenant != "" {
		tenantdata.CheckTenant(v, "tenant", tenant)
	}
}

// ruleFields names the audit record's fields as the requests name them.
var ruleFields = map[string]string{"target": "id"}

// admit adds a violation to v for each field of the record of action the
// audit log would refuse, before anything is changed.
func (s *Service) admit(ctx context.Context, v *fault.Violations, action, tenant, target, reason string) {
	guard.Admit(v, audit.Entry{Actor: actor(ctx), Action: action, Tenant: tenant, Target: target, Reason: reason}, ruleFields)
}

// commit makes a change to the rule store and appends its record
// together (guard.Commit); the local IP lists follow once both are in.
func (s *Service) commit(ctx context.Context, action, tenant, target, reason string, change func(context.Context, *audit.Entry) error) error {
	return guard.Commit(ctx, s.audit, audit.Entry{
		Time: s.now().UTC(), Actor: actor(ctx), Action: action, Tenant: tenant, Target: target, Reason: reason,
	}, change)
}

// record appends the record of an import on a store that does not stage
// imports, whose entries are committed in batches before it; a failure is
// logged as well as returned.
func (s *Service) record(ctx context.Context, action, tenant, target, reason string, before, after map[string]any) error {
	_, err := s.audit.Append(ctx, audit.Entry{
		Time: s.now().UTC(), Actor: actor(ctx), Action: action, Tenant: tenant, Target: target,
		Reason: reason, Before: before, After: after,
	})
	if err != nil {
		s.logger.Error("IP rule changed but not audited", "action", action, "tenant", tenant, "target", target, "error", err.Error())
		return fault.Wrap(err, fault.Unavailable, "the change was made but the audit log could not record it")
	}
	return nil
}

func auditRule(r rules.Rule) map[string]any {
	m := map[string]any{"id": r.ID, "tenant": r.Tenant, "list": r.List, "cidr": r.Prefix.String(), "reason": r.Reason, "source": r.Source}
	if !r.ExpiresAt.IsZero() {
		m["expires_at"] = r.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return m
}

func toProto(r rules.Rule) *pdpv1.IPRule {
	p := &pdpv1.IPRule{
		Id: r.ID, Tenant: r.Tenant, List: listEnum(r.List), Cidr: r.Prefix.String(), Reason: r.Reason,
		CreatedBy: r.CreatedBy, Source: r.Source,
	}
	if !r.ExpiresAt.IsZero() {
		p.ExpiresAt = timestamppb.New(r.ExpiresAt)
	}
	if !r.CreatedAt.IsZero() {
		p.CreatedAt = timestamppb.New(r.CreatedAt)
	}
	return p
}
