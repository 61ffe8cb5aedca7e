package extauthz_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/extauthz"
	"github.com/pdp-dev/pdp/server/internal/gateway"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// validating is a Checker that validates like the DecisionService and
// allows whatever is valid.
type validating struct{}

func (validating) Check(_ context.Context, in *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
	if _, err := pdpsvc.ToRequest(in, time.Date(2026, 3, 10, 9, 15, 0, 0, time.UTC)); err != nil {
		return nil, err
	}
	return &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_ALLOW, DecisionId: "d", Risk: &pdpv1.Risk{Score: 0.1}}, nil
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
