package authn

import (
	"context"
	"slices"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Caller is who sent a request, as the guards established it.
type Caller struct {
	// Name is the key's name; without keys, the client certificate's
	// identity (empty when there is none).
	Name string
	// Role is the key's role; empty for an anonymous caller.
	Role Role
	// Tenants are a tenant-admin's tenants, or the tenants a scoped pep
	// key serves (empty: every tenant).
	Tenants []string
	// Streams are a transmitter's Shared Signals streams.
	Streams []string
	// CertIdentity is the verified client certificate's identity (SPIFFE
	// ID, else DNS SAN, else common name); empty without mutual TLS.
	CertIdentity string
	// SPIFFEID is the client certificate's SPIFFE ID, when it has one.
	SPIFFEID string
	// Anonymous is true when the server runs without API keys: nothing is
	// checked and every call is allowed.
	Anonymous bool
}

type callerKey struct{}

// WithCaller returns a context carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the guards put in ctx; ok is false when
// no guard ran.
func CallerFrom(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// AllowedTenant reports whether the caller in ctx may administer tenant:
// an admin may administer every tenant, a tenant-admin its own, a pep
// none. An anonymous caller (the server runs without keys) may; a context
// without a caller may not, so a handler reached without the guards fails
// closed.
func AllowedTenant(ctx context.Context, tenant string) bool {
	c, ok := CallerFrom(ctx)
	if !ok {
		return false
	}
	switch {
	case c.Anonymous, c.Role == RoleAdmin:
		return true
	case c.Role == RoleTenantAdmin:
		return tenant != "" && slices.Contains(c.Tenants, tenant)
	}
	return false
}

// AllowedStream reports whether the caller in ctx may push events to the
// Shared Signals stream: an admin and an anonymous caller (the server runs
// without keys; the SET's signature alone decides) may push to every
// stream, a transmitter to its own; a context without a caller may not.
func AllowedStream(ctx context.Context, stream string) bool {
	c, ok := CallerFrom(ctx)
	switch {
	case !ok:
		return false
	case c.Anonymous, c.Role == RoleAdmin:
		return true
	}
	return c.Role == RoleTransmitter && slices.Contains(c.Streams, stream)
}

// DecisionTenant refuses, with PERMISSION_DENIED, a caller that may not
// ask decisions or report events for tenant: a pep key scoped to other
// tenants, or a context without a caller (a handler reached without the
// guards fails closed). An admin, an unscoped pep key and an anonymous
// caller (the server runs without keys) serve every tenant. Every door
// (Check, BatchCheck, Report, their HTTP forms, ext_authz and
// forward-auth) reaches it through the DecisionService; it fits
// decide.Options.Scope.
func DecisionTenant(ctx context.Context, tenant string) error {
	c, ok := CallerFrom(ctx)
	switch {
	case !ok:
		return fault.New(fault.PermissionDenied, "no authenticated caller")
	case c.Anonymous, c.Role == RoleAdmin:
		return nil
	case c.Role == RolePEP && (len(c.Tenants) == 0 || slices.Contains(c.Tenants, tenant)):
		return nil
	}
	return fault.New(fault.PermissionDenied, "this API key may not ask or report for tenant %q", tenant)
}

// DecisionCaller is the caller in ctx as the decision request (and Rego's
// input.caller) carries it; it fits decide.Options.Caller.
func DecisionCaller(ctx context.Context) decision.Caller {
	c, _ := CallerFrom(ctx)
	return decision.Caller{Name: c.Name, Role: string(c.Role), SPIFFEID: c.SPIFFEID}
}
