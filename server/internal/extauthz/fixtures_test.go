package extauthz_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// fixture is one recorded-style Envoy CheckRequest (testdata/*.json) and
// what must come back.
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
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
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
