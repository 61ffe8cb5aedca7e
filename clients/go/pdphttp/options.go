package pdphttp

import (
	"net/http"
	"strings"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Option configures Middleware.
type Option func(*config)

// IdentityFunc fills the subject, authentication, session, device or
// attributes of req from the incoming request, typically from the
// application's authentication context. Leave the subject empty for an
// anonymous request; the policy decides what anonymous users may do. An
// error means the request carried credentials that are not valid: the
// middleware answers 401 without asking the PDP.
type IdentityFunc func(r *http.Request, req *pdpv1.CheckRequest) error

// DecisionHandler writes the response for a deny or a challenge.
type DecisionHandler func(w http.ResponseWriter, r *http.Request, d *pdpclient.Decision)

// ErrorHandler writes the response when no decision could be made, or when
// the IdentityFunc failed.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

type config struct {
	tenant            func(*http.Request) string
	environment       string
	action            func(*http.Request) *pdpv1.Action
	identity          IdentityFunc
	clientIP          func(*http.Request) string
	acr               pdpclient.ACRValues
	skip              func(*http.Request) bool
	onDeny            DecisionHandler
	onChallenge       DecisionHandler
	onError           ErrorHandler
	onUnauthenticated ErrorHandler
}

func newConfig(opts []Option) *config {
	cfg := &config{
		tenant:            func(*http.Request) string { return "" },
		action:            DefaultAction,
		clientIP:          RemoteIP,
		acr:               pdpclient.DefaultACRValues(),
		onDeny:            func(w http.ResponseWriter, _ *http.Request, d *pdpclient.Decision) { WriteDeny(w, d) },
		onError:           func(w http.ResponseWriter, _ *http.Request, err error) { WriteUnavailable(w, err) },
		onUnauthenticated: func(w http.ResponseWriter, _ *http.Request, err error) { WriteUnauthenticated(w, err) },
	}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.onChallenge == nil {
		acr := cfg.acr
		cfg.onChallenge = func(w http.ResponseWriter, _ *http.Request, d *pdpclient.Decision) { WriteChallenge(w, d, acr) }
	}
	return cfg
}

// DefaultAction is the action "http.<lowercase method>" on the URL path,
// as the PDP's forward-auth endpoint does without an action header.
func DefaultAction(r *http.Request) *pdpv1.Action {
	return &pdpv1.Action{Name: "http." + strings.ToLower(r.Method), Resource: r.URL.Path}
}

// WithTenant sets the tenant of every request. The PDP refuses a check
// without a tenant, and the middleware then answers 503.
func WithTenant(tenant string) Option {
	return func(c *config) { c.tenant = func(*http.Request) string { return tenant } }
}

// WithTenantFunc reads the tenant from the request, for a multi-tenant
// application (for example from the host name or the authenticated user).
// Do not trust a tenant header sent by the client.
func WithTenantFunc(tenant func(*http.Request) string) Option {
	return func(c *config) { c.tenant = tenant }
}

// WithEnvironment sets the environment of every request ("production" when
// empty).
func WithEnvironment(env string) Option {
	return func(c *config) { c.environment = env }
}

// WithAction replaces DefaultAction.
func WithAction(action func(*http.Request) *pdpv1.Action) Option {
	return func(c *config) { c.action = action }
}

// WithIdentity sets how the subject and its authentication are read.
func WithIdentity(identity IdentityFunc) Option {
	return func(c *config) { c.identity = identity }
}

// WithClientIP replaces RemoteIP, for example with ForwardedFor behind a
// load balancer.
func WithClientIP(clientIP func(*http.Request) string) Option {
	return func(c *config) { c.clientIP = clientIP }
}

// WithACRValues sets the acr values requested per step-up kind in the
// WWW-Authenticate header of a challenge (default
// pdpclient.DefaultACRValues).
func WithACRValues(acr pdpclient.ACRValues) Option {
	return func(c *config) { c.acr = acr }
}

// WithSkip exempts the requests for which skip returns true, such as health
// checks, from the check.
func WithSkip(skip func(*http.Request) bool) Option {
	return func(c *config) { c.skip = skip }
}

// WithDenyHandler replaces the 403 response of a deny (WriteDeny). The
// handler can also act on the decision's obligations.
func WithDenyHandler(h DecisionHandler) Option {
	return func(c *config) { c.onDeny = h }
}

// WithChallengeHandler replaces the 401 response of a challenge
// (WriteChallenge), for example to redirect a browser to a step-up page.
func WithChallengeHandler(h DecisionHandler) Option {
	return func(c *config) { c.onChallenge = h }
}

// WithErrorHandler replaces the 503 response written when no decision could
// be made (WriteUnavailable). To let requests through instead, configure the
// client with pdpclient.WithFailOpen.
func WithErrorHandler(h ErrorHandler) Option {
	return func(c *config) { c.onError = h }
}

// WithUnauthenticatedHandler replaces the 401 response written when the
// IdentityFunc fails (WriteUnauthenticated).
func WithUnauthenticatedHandler(h ErrorHandler) Option {
	return func(c *config) { c.onUnauthenticated = h }
}
