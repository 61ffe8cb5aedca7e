package authn

import (
	"slices"
	"strings"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Rule is who may make one call.
type Rule struct {
	// Public calls need no key at all (health).
	Public bool
	// Roles may make the call; empty with Public false means any valid
	// key, whatever its role.
	Roles []Role
}

// Allows reports whether a key of role r may make the call.
func (r Rule) Allows(role Role) bool {
	return r.Public || len(r.Roles) == 0 || slices.Contains(r.Roles, role)
}

var (
	public    = Rule{Public: true}
	anyKey    = Rule{}
	adminOnly = Rule{Roles: []Role{RoleAdmin}}
	deciders  = Rule{Roles: []Role{RoleAdmin, RolePEP}}
	admins    = Rule{Roles: []Role{RoleAdmin, RoleTenantAdmin}}
	pushers   = Rule{Roles: []Role{RoleAdmin, RoleTransmitter}}
)

// authzenMetadata is the well-known path of the AuthZEN metadata.
const authzenMetadata = "/.well-known/authzen-configuration"

// SSFPathPrefix begins the Shared Signals push paths,
// /ssf/streams/{name}/events. Refusals there are answered as RFC 8935
// says (400 with {"err", "description"}), and the handler checks the
// stream with AllowedStream.
const SSFPathPrefix = "/ssf/streams/"

// ExtAuthzService is Envoy's external authorization service.
const ExtAuthzService = "envoy.service.auth.v3.Authorization"

// grpcRules maps a service to its rule; methods of other services are for
// admins only.
var grpcRules = map[string]Rule{
	"grpc.health.v1.Health":                          public,
	"grpc.reflection.v1.ServerReflection":            anyKey,
	"grpc.reflection.v1alpha.ServerReflection":       anyKey,
	pdpv1.DecisionService_ServiceDesc.ServiceName:    deciders,
	ExtAuthzService:                                  deciders,
	pdpv1.PolicyAdminService_ServiceDesc.ServiceName: admins,
}

// GRPCRule is the rule of a gRPC method, named as grpc.UnaryServerInfo
// names it ("/pdp.v1.DecisionService/Check"):
//
//   - grpc.health.v1.Health: public;
//   - server reflection (v1 and v1alpha): any valid key;
//   - pdp.v1.DecisionService and envoy.service.auth.v3.Authorization:
//     admin and pep;
//   - pdp.v1.PolicyAdminService: admin and tenant-admin (whose tenants the
//     handlers check with AllowedTenant);
//   - anything else: admin.
func GRPCRule(fullMethod string) Rule {
	service, _, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return adminOnly
	}
	if r, ok := grpcRules[service]; ok {
		return r
	}
	return adminOnly
}

// HTTPRule is the rule of an HTTP path:
//
//   - /healthz and /readyz: public;
//   - /metrics: public when metricsPublic, else any valid key;
//   - /v1/check, /v1/report and /v1/forward-auth (and below it): admin
//     and pep;
//   - the AuthZEN API, /access/v1/... and /tenants/{tenant}/access/v1/...:
//     admin and pep (the handler refuses a pep key scoped to other
//     tenants);
//   - the AuthZEN metadata, /.well-known/authzen-configuration and below
//     it: public, as discovery documents are;
//   - below /ssf/streams/: admin and transmitter;
//   - anything else: admin.
func HTTPRule(path string, metricsPublic bool) Rule {
	switch path {
	case "/healthz", "/readyz":
		return public
	case "/metrics":
		if metricsPublic {
			return public
		}
		return anyKey
	case "/v1/check", "/v1/report", "/v1/forward-auth":
		return deciders
	}
	if strings.HasPrefix(path, "/v1/forward-auth/") || strings.HasPrefix(path, "/access/v1/") {
		return deciders
	}
	if path == authzenMetadata || strings.HasPrefix(path, authzenMetadata+"/") {
		return public
	}
	if rest, ok := strings.CutPrefix(path, "/tenants/"); ok {
		if _, sub, ok := strings.Cut(rest, "/"); ok && strings.HasPrefix(sub, "access/v1/") {
			return deciders
		}
	}
	if strings.HasPrefix(path, SSFPathPrefix) {
		return pushers
	}
	return adminOnly
}
