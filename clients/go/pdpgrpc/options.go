package pdpgrpc

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/peer"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Option configures the interceptors.
type Option func(*config)

// IdentityFunc fills the subject, authentication, session, device or
// attributes of req for a call to fullMethod, typically from the incoming
// metadata (metadata.FromIncomingContext), the peer's TLS certificate
// (peer.FromContext) or what an authentication interceptor put in ctx.
// Leave the subject empty for an anonymous call. An error means the call
// carried credentials that are not valid: it fails with
// codes.Unauthenticated without asking the PDP.
type IdentityFunc func(ctx context.Context, fullMethod string, req *pdpv1.CheckRequest) error

type config struct {
	tenant      func(ctx context.Context, fullMethod string) string
	environment string
	action      func(ctx context.Context, fullMethod string) *pdpv1.Action
	identity    IdentityFunc
	clientIP    func(ctx context.Context) string
	acr         pdpclient.ACRValues
	skip        func(ctx context.Context, fullMethod string) bool
}

func newConfig(opts []Option) *config {
	cfg := &config{
		tenant:   func(context.Context, string) string { return "" },
		action:   DefaultAction,
		clientIP: PeerIP,
		acr:      pdpclient.DefaultACRValues(),
		skip:     SkipHealth,
	}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// DefaultAction names the action after the full method,
// "/pkg.Service/Method".
func DefaultAction(_ context.Context, fullMethod string) *pdpv1.Action {
	return &pdpv1.Action{Name: fullMethod}
}

// SkipHealth exempts the standard health service (grpc.health.v1.Health),
// which load balancers call without an identity. It is the default of
// WithSkip.
func SkipHealth(_ context.Context, fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/")
}

// PeerIP is the IP address of the call's peer, or "" when the peer is not
// on an IP network. It is the default of WithClientIP.
func PeerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return ""
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return a.Unmap().WithZone("").String()
}

// WithTenant sets the tenant of every call. The PDP refuses a check without
// a tenant, and the call then fails with codes.Unavailable.
func WithTenant(tenant string) Option {
	return func(c *config) { c.tenant = func(context.Context, string) string { return tenant } }
}

// WithTenantFunc reads the tenant of a call, for a multi-tenant service.
// Do not trust tenant metadata sent by the caller without authenticating
// it.
func WithTenantFunc(tenant func(ctx context.Context, fullMethod string) string) Option {
	return func(c *config) { c.tenant = tenant }
}

// WithEnvironment sets the environment of every call ("production" when
// empty).
func WithEnvironment(env string) Option {
	return func(c *config) { c.environment = env }
}

// WithAction replaces DefaultAction, for example to map methods to actions
// such as "api.read" that tenant roles grant.
func WithAction(action func(ctx context.Context, fullMethod string) *pdpv1.Action) Option {
	return func(c *config) { c.action = action }
}

// WithIdentity sets how the subject and its authentication are read.
func WithIdentity(identity IdentityFunc) Option {
	return func(c *config) { c.identity = identity }
}

// WithClientIP replaces PeerIP, for example behind a proxy that passes the
// client address in metadata.
func WithClientIP(clientIP func(ctx context.Context) string) Option {
	return func(c *config) { c.clientIP = clientIP }
}

// WithACRValues sets the acr values requested per step-up kind in the
// www-authenticate metadata of a challenge (default
// pdpclient.DefaultACRValues).
func WithACRValues(acr pdpclient.ACRValues) Option {
	return func(c *config) { c.acr = acr }
}

// WithSkip replaces SkipHealth: calls for which skip returns true are not
// checked. Pass a function returning false to check every call.
func WithSkip(skip func(ctx context.Context, fullMethod string) bool) Option {
	return func(c *config) { c.skip = skip }
}
