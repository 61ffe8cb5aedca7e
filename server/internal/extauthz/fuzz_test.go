package extauthz_test

import (
	"context"
	"encoding/json"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/extauthz"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

// validating is a Checker that allows whatever the gateway validated.
type validating struct{}

func (validating) Check(context.Context, *decision.Request) (*decision.Decision, error) {
	return &decision.Decision{Kind: decision.KindAllow, ID: "d", Risk: decision.Risk{Score: 0.1}}, nil
}

// FuzzCheckMapping feeds Envoy CheckRequests (seeded with the recorded
// fixtures) through the mapping: it must never fail the RPC for input it
// can map, must answer OK only with the decision headers, and every 400
// must be JSON whose violations each name their source.
func FuzzCheckMapping(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add([]byte(fx.CheckRequest))
	}
	f.Add([]byte(`{"attributes":{"request":{"http":{"method":"GET","path":"/%zz"}}}}`))
	f.Add([]byte(`{"attributes":{"contextExtensions":{"tenant":"t","action":"a b"},"request":{"time":"0001-01-01T00:00:00Z","http":{"method":"\u0000","path":"//x/../.."}}}}`))
	gw, err := gateway.New(context.Background(), config.DefaultGateway(), gateway.Options{})
	if err != nil {
		f.Fatal(err)
	}
	srv := extauthz.New(gw, validating{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := &authv3.CheckRequest{}
		if protojson.Unmarshal(raw, req) != nil {
			return
		}
		resp, err := srv.Check(context.Background(), req)
		if err != nil {
			t.Fatalf("Check failed: %v", err)
		}
		if ok := resp.GetOkResponse(); ok != nil {
			if resp.GetStatus().GetCode() != int32(code.Code_OK) || len(ok.GetHeaders()) != 2 {
				t.Fatalf("OK answer %v", resp)
			}
			return
		}
		d := resp.GetDeniedResponse()
		if d == nil || d.GetStatus().GetCode() != 400 {
			t.Fatalf("answer %v, want OK or a 400", resp)
		}
		var body struct {
			FieldViolations []struct{ Field, Source, Description string } `json:"field_violations"`
		}
		if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil || len(body.FieldViolations) == 0 {
			t.Fatalf("400 body %q: %v", d.GetBody(), err)
		}
		for _, v := range body.FieldViolations {
			if v.Field == "" || v.Source == "" || v.Description == "" {
				t.Fatalf("violation without field, source or description: %+v", v)
			}
		}
	})
}
