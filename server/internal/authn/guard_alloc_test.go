package authn_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

// The guard reads the two metadata entries it needs, not a copy of the
// whole metadata, on every call.
func TestGRPCGuardStaysWithinItsAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	guard := authn.New(authn.Options{Keys: authn.NewStaticKeys(mustKeys(t))}).UnaryGuard()
	info := &grpc.UnaryServerInfo{FullMethod: "/pdp.v1.DecisionService/Check"}
	handler := func(ctx context.Context, _ any) (any, error) {
		if c, ok := authn.CallerFrom(ctx); !ok || c.Name != "edge-gateway" {
			t.Fatalf("caller %+v, want edge-gateway", c)
		}
		return nil, nil
	}
	for name, md := range map[string]metadata.MD{
		"x-pdp-api-key": {strings.ToLower(authn.APIKeyHeader): {pepKey}},
		"authorization": {"authorization": {"Bearer " + pepKey}},
	} {
		// What the transport puts in the context besides the key.
		md := metadata.Join(md, metadata.Pairs(":authority", "127.0.0.1:9000", "content-type", "application/grpc",
			"user-agent", "grpc-go/1.80.0", "grpc-accept-encoding", "gzip", "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
		ctx := metadata.NewIncomingContext(t.Context(), md)
		const budget = 4 // the key's value and its bytes to hash, the caller and its context
		if n := testing.AllocsPerRun(100, func() { _, _ = guard(ctx, nil, info, handler) }); n > budget {
			t.Errorf("with %s: the guard allocates %v times per call, want at most %d", name, n, budget)
		}
	}
}
