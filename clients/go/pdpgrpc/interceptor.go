package pdpgrpc

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Metadata keys the interceptors send.
const (
	// DecisionMetadataKey is the header metadata carrying the decision id.
	DecisionMetadataKey = "x-pdp-decision-id"
	// AuthenticateMetadataKey is the header and trailer metadata carrying
	// the RFC 9470 challenge.
	AuthenticateMetadataKey = "www-authenticate"
)

// Checker asks the PDP for a decision. *pdpclient.Client implements it.
type Checker interface {
	Check(ctx context.Context, req *pdpv1.CheckRequest) (*pdpclient.Decision, error)
}

var errNoDecision = errors.New("pdpgrpc: the checker returned no decision")

// UnaryServerInterceptor checks every unary call with c and enforces the
// decision (see the package documentation).
func UnaryServerInterceptor(c Checker, opts ...Option) grpc.UnaryServerInterceptor {
	cfg := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if cfg.skip(ctx, info.FullMethod) {
			return handler(ctx, req)
		}
		decided, err := cfg.authorize(ctx, c, info.FullMethod,
			func(md metadata.MD) { _ = grpc.SetHeader(ctx, md) },
			func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) })
		if err != nil {
			return nil, err
		}
		return handler(decided, req)
	}
}

// StreamServerInterceptor checks every streaming call with c, before the
// handler runs, and enforces the decision (see the package documentation).
func StreamServerInterceptor(c Checker, opts ...Option) grpc.StreamServerInterceptor {
	cfg := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if cfg.skip(ss.Context(), info.FullMethod) {
			return handler(srv, ss)
		}
		decided, err := cfg.authorize(ss.Context(), c, info.FullMethod,
			func(md metadata.MD) { _ = ss.SetHeader(md) },
			ss.SetTrailer)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: decided})
	}
}

// contextStream is a ServerStream whose context carries the decision.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the context with the decision.
func (s *contextStream) Context() context.Context { return s.ctx }

// authorize asks for the decision on a call and returns the context for the
// handler, or the status error that ends the call.
func (c *config) authorize(ctx context.Context, checker Checker, fullMethod string,
	setHeader, setTrailer func(metadata.MD)) (context.Context, error) {
	req := &pdpv1.CheckRequest{
		Tenant:      c.tenant(ctx, fullMethod),
		Environment: c.environment,
		Action:      c.action(ctx, fullMethod),
	}
	if ip := c.clientIP(ctx); ip != "" {
		req.Network = &pdpv1.Network{Ip: ip}
	}
	if c.identity != nil {
		if err := c.identity(ctx, fullMethod, req); err != nil {
			return nil, status.Error(codes.Unauthenticated, "valid credentials are required")
		}
	}
	d, err := checker.Check(ctx, req)
	if err == nil && d == nil {
		err = errNoDecision
	}
	header := metadata.MD{}
	if d != nil && d.ID() != "" {
		header.Set(DecisionMetadataKey, d.ID())
	}
	switch {
	case err != nil:
		return nil, status.Error(codes.Unavailable, "the authorization service could not decide")
	case d.Allowed():
		if len(header) > 0 {
			setHeader(header)
		}
		return pdpclient.NewContext(ctx, d), nil
	case d.Challenged():
		st, challenge := challengeStatus(d, c.acr)
		header.Set(AuthenticateMetadataKey, challenge)
		setHeader(header)
		setTrailer(metadata.Pairs(AuthenticateMetadataKey, challenge))
		return nil, st.Err()
	default:
		if len(header) > 0 {
			setHeader(header)
		}
		return nil, denyStatus(d).Err()
	}
}
