package authn

import (
	"context"
	"crypto/x509"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/pdp-dev/pdp/server/internal/bearer"
)

// UnaryGuard authenticates and authorizes unary calls by GRPCRule and puts
// the caller in the handler's context. It fits
// grpcserver.Options.UnaryGuards.
func (a *Authenticator) UnaryGuard() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c, err := a.check(grpcCredential(ctx), GRPCRule(info.FullMethod), info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(WithCaller(ctx, c), req)
	}
}

// StreamGuard is UnaryGuard for streaming calls.
func (a *Authenticator) StreamGuard() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		c, err := a.check(grpcCredential(ctx), GRPCRule(info.FullMethod), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &callerStream{ServerStream: ss, ctx: WithCaller(ctx, c)})
	}
}

// callerStream is a stream whose context carries the caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerStream) Context() context.Context { return s.ctx }

// apiKeyMetadata is APIKeyHeader as gRPC metadata keys are written.
var apiKeyMetadata = strings.ToLower(APIKeyHeader)

// grpcCredential reads the key from the x-pdp-api-key or authorization
// metadata and the verified client certificate from the peer.
func grpcCredential(ctx context.Context) credential {
	var cred credential
	// Only the two entries are read: a copy of the whole metadata would
	// be made on every call.
	if v := metadata.ValueFromIncomingContext(ctx, apiKeyMetadata); len(v) > 0 {
		cred.key = strings.TrimSpace(v[0])
		cred.present = cred.key != ""
	} else if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
		cred.key, cred.present = bearer.Token(v[0])
	}
	cred.cert = grpcPeerCert(ctx)
	return cred
}

// grpcPeerCert is the leaf of the client's verified certificate chain.
func grpcPeerCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil
	}
	if chains := info.State.VerifiedChains; len(chains) > 0 && len(chains[0]) > 0 {
		return chains[0][0]
	}
	return nil
}
