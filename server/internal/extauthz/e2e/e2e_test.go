package e2e_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/pdp-dev/pdp/server/pdptest"
)

// shopTenant is the tenant the recorded requests are for: MFA (max age 1h)
// for admins, an IPv6 deny list, and customers who may read.
const shopTenant = `
tenant: shop
plan: enterprise
environments:
  production:
    mfa:
      mode: privileged
      privileged_roles: [admin]
      max_age: 1h
    ip_denylist: ["2001:db8:bad::/48", "203.0.113.66/32"]
    roles:
      admin:
        actions: ["*"]
      customer:
        actions: [http.get, http.head, orders.read]
`

// fixture is one recorded-style Envoy CheckRequest (../testdata/*.json,
// shared with the fuzz target of package extauthz) and what must come back.
type fixture struct {
	Description  string          `json:"description"`
	CheckRequest json.RawMessage `json:"check_request"`
	Want         struct {
		GRPCStatus int32             `json:"grpc_status"`
		HTTPStatus int               `json:"http_status"`
		Decision   string            `json:"decision"`
		Headers    map[string]string `json:"headers"`
		Body       map[string]any    `json:"body"`
	} `json:"want"`
}

func loadFixtures(t testing.TB) map[string]fixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string]fixture{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fx fixture
		if err := json.Unmarshal(b, &fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = fx
	}
	return out
}

func parseCheckRequest(t testing.TB, raw []byte) *authv3.CheckRequest {
	t.Helper()
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(raw, req); err != nil {
		t.Fatalf("check_request: %v", err)
	}
	return req
}

var decisionID = regexp.MustCompile(`^[0-9A-Za-z_-]{8,}$`)

// TestRecordedRequestsThroughTheServer replays every fixture over gRPC
// against a real server.
func TestRecordedRequestsThroughTheServer(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("shop.yaml", shopTenant))
	client := authv3.NewAuthorizationClient(s.Conn)
	for name, fx := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := client.Check(ctx, parseCheckRequest(t, fx.CheckRequest))
			if err != nil {
				t.Fatalf("%s: Check: %v", fx.Description, err)
			}
			w := fx.Want
			if got := resp.GetStatus().GetCode(); got != w.GRPCStatus {
				t.Errorf("status code %d, want %d (%s)", got, w.GRPCStatus, resp.GetDeniedResponse().GetBody())
			}
			headers := map[string]string{}
			status := 200
			if ok := resp.GetOkResponse(); ok != nil {
				for _, h := range ok.GetHeaders() {
					headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
				}
			} else {
				d := resp.GetDeniedResponse()
				status = int(d.GetStatus().GetCode())
				for _, h := range d.GetHeaders() {
					headers[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
				}
				var body map[string]any
				if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil {
					t.Fatalf("body %q is not JSON: %v", d.GetBody(), err)
				}
				for k, want := range w.Body {
					if diff := cmp.Diff(want, body[k]); diff != "" {
						t.Errorf("body[%s] (-want +got):\n%s\nbody: %s", k, diff, d.GetBody())
					}
				}
			}
			if status != w.HTTPStatus {
				t.Errorf("HTTP status %d, want %d", status, w.HTTPStatus)
			}
			for k, want := range w.Headers {
				if headers[k] != want {
					t.Errorf("header %s = %q, want %q", k, headers[k], want)
				}
			}
			md := resp.GetDynamicMetadata().AsMap()
			if md["decision"] != w.Decision {
				t.Errorf("metadata decision %v, want %s", md["decision"], w.Decision)
			}
			if w.Decision == "invalid" {
				if _, ok := headers["x-pdp-decision-id"]; ok {
					t.Errorf("a 400 carries a decision id: %v", headers)
				}
				return
			}
			id := headers["x-pdp-decision-id"]
			if !decisionID.MatchString(id) || id == "forged-by-the-client" {
				t.Errorf("x-pdp-decision-id %q", id)
			}
			if md["decision_id"] != id {
				t.Errorf("metadata decision_id %v, header %s", md["decision_id"], id)
			}
			if _, ok := md["risk_score"].(float64); !ok {
				t.Errorf("metadata risk_score %v", md["risk_score"])
			}
			if w.Body != nil && w.Body["decision"] != nil {
				var body map[string]any
				_ = json.Unmarshal([]byte(resp.GetDeniedResponse().GetBody()), &body)
				if body["decision_id"] != id {
					t.Errorf("body decision_id %v, header %s", body["decision_id"], id)
				}
			}
		})
	}
}

// TestUnavailableIsAGRPCError: without a loaded policy the server cannot
// decide, and Envoy's failure_mode_allow must apply.
func TestUnavailableIsAGRPCError(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("broken.yaml", "tenant: [unclosed"),
		pdptest.WithPolicy("broken.rego", "package pdp.custom\n\ndeny contains x if {"),
		pdptest.WithoutReadyWait())
	fx := loadFixtures(t)["allow_customer_ipv6"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := authv3.NewAuthorizationClient(s.Conn).Check(ctx, parseCheckRequest(t, fx.CheckRequest))
	if got := status.Code(err); got != codes.Unavailable {
		t.Fatalf("code %v (%v), want Unavailable", got, err)
	}
}
