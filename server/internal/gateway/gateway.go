package gateway

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// Checker decides one validated request: the decision service
// (*decide.Service) implements it, as it does for every door. A deny or a
// challenge is a decision; an error means the request could not be
// decided.
type Checker interface {
	// Check decides req.
	Check(ctx context.Context, req *decision.Request) (*decision.Decision, error)
}

// Options are what a Gateway needs beyond its configuration.
type Options struct {
	// Logger receives JWKS load failures; nil discards.
	Logger *slog.Logger
	// Now is the clock of token validation and the time of a request
	// that carries none; nil means time.Now.
	Now func() time.Time
	// HTTPClient fetches --jwks-url; nil means a client with a 10s timeout.
	HTTPClient *http.Client
}

// Gateway maps gateway requests to checks and decisions to answers. It is
// safe for concurrent use.
type Gateway struct {
	headers         map[string]string // identity name -> lowercase header name
	claims          map[string]string // claim name -> claim path
	identityHeaders bool
	acr             pdpclient.ACRValues
	payloadKey      string
	verifier        *Verifier
	now             func() time.Time
}

// New builds a Gateway from its configuration, loading the JWKS when one
// is configured. A JWKS file that cannot be read or parsed is an error; a
// JWKS URL that cannot be fetched is logged and retried, and bearer tokens
// meanwhile get an UNAVAILABLE error.
func New(ctx context.Context, cfg config.Gateway, opts Options) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	g := &Gateway{
		headers:         map[string]string{},
		claims:          map[string]string{},
		identityHeaders: cfg.IdentityHeaders,
		acr:             pdpclient.DefaultACRValues(),
		payloadKey:      cfg.JWTPayloadMetadataKey,
		now:             now,
	}
	for _, name := range config.IdentityHeaderNames {
		h := cfg.IdentityHeaderPrefix + name
		if o, ok := cfg.IdentityHeader[name]; ok {
			h = o
		}
		g.headers[name] = strings.ToLower(h)
	}
	for _, name := range config.JWTClaimNames {
		c := name
		if o, ok := cfg.JWTClaim[name]; ok {
			c = o
		}
		g.claims[name] = c
	}
	for word, acr := range cfg.StepUpACR {
		g.acr[stepUpKind(word)] = acr
	}
	if cfg.JWKSFile != "" || cfg.JWKSURL != "" {
		v, err := NewVerifier(ctx, VerifierOptions{
			File:       cfg.JWKSFile,
			URL:        cfg.JWKSURL,
			HTTPClient: opts.HTTPClient,
			Issuer:     cfg.JWTIssuer,
			Audience:   cfg.JWTAudience,
			Algorithms: cfg.JWTAlgorithms,
			Leeway:     cfg.JWTLeeway,
			Refresh:    cfg.JWKSRefresh,
			MinRefresh: cfg.JWKSMinRefresh,
			Now:        now,
			Logger:     opts.Logger,
		})
		if err != nil {
			return nil, err
		}
		g.verifier = v
	}
	return g, nil
}

// HeaderNames are the lowercase names Input.Header may be asked for: the
// routing and identity headers of the configuration.
func (g *Gateway) HeaderNames() []string { return slices.Collect(maps.Values(g.headers)) }

// PayloadMetadataKey is the jwt_authn payload_in_metadata name.
func (g *Gateway) PayloadMetadataKey() string { return g.payloadKey }

// Verifier is the bearer-token verifier; nil when no JWKS is configured.
func (g *Gateway) Verifier() *Verifier { return g.verifier }

// Decide maps in, validates it, has c decide it and shapes the answer. Malformed input
// is a 400 Answer, a failed bearer token a 401 invalid_token Answer; an
// error means the request could not be decided (the caller maps it with
// rpcstatus.ToStatus).
func (g *Gateway) Decide(ctx context.Context, c Checker, in Input) (Answer, error) {
	if in.Claims == nil && in.ClaimsPayload == nil && in.BearerToken != "" && g.verifier != nil {
		claims, err := g.verifier.Verify(ctx, in.BearerToken)
		if err != nil {
			var te *TokenError
			if errors.As(err, &te) {
				return invalidToken(te), nil
			}
			return Answer{}, err
		}
		in.Claims, in.ClaimsSource = claims, "bearer token"
	}
	req, b := g.build(in)
	// The request is validated as a direct Check is: the wire bounds,
	// then the domain (pdpsvc.Validate).
	err := pdpsvc.Validate(req, b.problems)
	if len(b.violations) > 0 {
		// Report the rest too.
		return b.invalid(fieldsOf(err)), nil
	}
	if err == nil {
		var d *decision.Decision
		if d, err = c.Check(ctx, req); err == nil {
			return g.answer(d), nil
		}
	}
	if fe := fault.As(err); fe.Code == fault.InvalidArgument {
		return b.invalid(fe.Fields), nil
	}
	return Answer{}, err
}

// fieldsOf returns the field violations of an InvalidArgument fault.
func fieldsOf(err error) []fault.FieldViolation {
	if err == nil {
		return nil
	}
	if fe := fault.As(err); fe.Code == fault.InvalidArgument {
		return fe.Fields
	}
	return nil
}
