package extauthz_test

import (
	"context"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/extauthz"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

// BenchmarkCheckMapping measures the ext_authz door alone on the recorded
// fixtures: Envoy CheckRequest to pdp's CheckRequest (headers, jwt_authn
// metadata, context extensions), validation as the DecisionService does,
// and the Envoy answer; the decision is a canned allow.
func BenchmarkCheckMapping(b *testing.B) {
	gw, err := gateway.New(context.Background(), config.DefaultGateway(), gateway.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := extauthz.New(gw, validating{})
	ctx := context.Background()
	for name, fx := range loadFixtures(b) {
		req := parseCheckRequest(b, fx.CheckRequest)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
