package authn

import (
	"crypto/x509"
	"log/slog"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tlsutil"
)

// The client-facing messages. They say what to do, never which keys
// exist or which one was sent.
const (
	msgMissing = "authentication required: send an API key as authorization: Bearer <key>"
	msgInvalid = "invalid API key"
)

// APIKeyHeader carries the key where the Authorization header belongs to
// the end user (forward-auth behind a gateway that passes the user's
// bearer token). It wins over Authorization when both are sent.
const APIKeyHeader = "X-PDP-Api-Key"

// Options configures an Authenticator.
type Options struct {
	// Keys are the API keys; nil runs the server open: every caller is
	// anonymous and allowed.
	Keys *Keys
	// MetricsPublic serves /metrics without a key.
	MetricsPublic bool
	// Logger hears about refused HTTP calls (never their credentials);
	// refused gRPC calls are logged by the server's call log. nil
	// discards.
	Logger *slog.Logger
	// LoopbackHostsOnly refuses HTTP calls whose Host is not a loopback
	// address or localhost, but health, readiness and forward-auth (see
	// rebindable). Set it for a server without keys that listens on
	// loopback only: a page whose name an attacker resolves to 127.0.0.1
	// (DNS rebinding) is same-origin to the browser but names its host.
	LoopbackHostsOnly bool
}

// Authenticator authenticates and authorizes calls to both ports.
type Authenticator struct {
	keys          *Keys
	metricsPublic bool
	logger        *slog.Logger
	loopbackOnly  bool
}

// New returns an Authenticator.
func New(opts Options) *Authenticator {
	a := &Authenticator{keys: opts.Keys, metricsPublic: opts.MetricsPublic, logger: opts.Logger, loopbackOnly: opts.LoopbackHostsOnly}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	return a
}

// Enabled reports whether API keys are required.
func (a *Authenticator) Enabled() bool { return a.keys != nil }

// credential is what one call presented.
type credential struct {
	key     string
	present bool
	cert    *x509.Certificate // verified client certificate, or nil
}

// check authenticates cred and authorizes it for rule, returning the
// caller to put in the context or a fault for the client.
func (a *Authenticator) check(cred credential, rule Rule, what string) (Caller, error) {
	certName, spiffe := tlsutil.Identity(cred.cert)
	if a.keys == nil {
		return Caller{Name: certName, CertIdentity: certName, SPIFFEID: spiffe, Anonymous: true}, nil
	}
	if rule.Public {
		// Not anonymous: AllowedTenant refuses a caller without a key.
		return Caller{CertIdentity: certName, SPIFFEID: spiffe}, nil
	}
	if !cred.present {
		return Caller{}, fault.New(fault.Unauthenticated, msgMissing)
	}
	e, ok := a.keys.Lookup(cred.key)
	if !ok {
		return Caller{}, fault.New(fault.Unauthenticated, msgInvalid)
	}
	c := Caller{Name: e.Name, Role: e.Role, Tenants: e.Tenants, Streams: e.Streams, CertIdentity: certName, SPIFFEID: spiffe}
	if !rule.Allows(e.Role) {
		return c, fault.New(fault.PermissionDenied, "role %s may not call %s", e.Role, what)
	}
	return c, nil
}
