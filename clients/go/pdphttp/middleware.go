package pdphttp

import (
	"context"
	"errors"
	"net/http"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// DecisionHeader is the response header that carries the decision id.
const DecisionHeader = "X-PDP-Decision-Id"

// Checker asks the PDP for a decision. *pdpclient.Client implements it.
type Checker interface {
	Check(ctx context.Context, req *pdpv1.CheckRequest) (*pdpclient.Decision, error)
}

// errNoDecision stands for a Checker that returned neither a decision nor
// an error.
var errNoDecision = errors.New("pdphttp: the checker returned no decision")

// Middleware returns middleware that checks every request with c and
// enforces the decision (see the package documentation). Requests that
// WithSkip exempts go straight to the next handler.
func Middleware(c Checker, opts ...Option) func(http.Handler) http.Handler {
	cfg := newConfig(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cfg.skip != nil && cfg.skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			req, err := cfg.buildRequest(r)
			if err != nil {
				cfg.onUnauthenticated(w, r, err)
				return
			}
			d, err := c.Check(r.Context(), req)
			if err == nil && d == nil {
				err = errNoDecision
			}
			if d != nil && d.ID() != "" {
				w.Header().Set(DecisionHeader, d.ID())
			}
			switch {
			case err != nil:
				cfg.onError(w, r, err)
			case d.Allowed():
				next.ServeHTTP(w, r.WithContext(pdpclient.NewContext(r.Context(), d)))
			case d.Challenged():
				cfg.onChallenge(w, r, d)
			default:
				cfg.onDeny(w, r, d)
			}
		})
	}
}

// buildRequest maps r to a CheckRequest.
func (c *config) buildRequest(r *http.Request) (*pdpv1.CheckRequest, error) {
	req := &pdpv1.CheckRequest{
		Tenant:      c.tenant(r),
		Environment: c.environment,
		Action:      c.action(r),
	}
	if ip := c.clientIP(r); ip != "" {
		req.Network = &pdpv1.Network{Ip: ip}
	}
	if c.identity != nil {
		if err := c.identity(r, req); err != nil {
			return nil, err
		}
	}
	return req, nil
}
