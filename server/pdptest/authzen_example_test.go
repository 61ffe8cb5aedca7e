package pdptest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	pdp "github.com/pdp-dev/pdp"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/regotester"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// exampleDir is the AuthZEN example application (examples/authzen-documents):
// its tenant file, its Rego and the calls its README walks through.
const exampleDir = "../../examples/authzen-documents"

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTheAuthZENExampleApplicationsRegoTestsPass(t *testing.T) {
	var out strings.Builder
	res, err := regotester.Run(context.Background(), regotester.Options{Library: pdp.Policies, Output: &out, Threshold: 100}, filepath.Join(exampleDir, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil || res.Passed == 0 {
		t.Errorf("%v\n%s", err, out.String())
	}
}

// The calls of examples/authzen-documents/README.md, against the example
// served as its README starts it.
func TestTheAuthZENExampleApplicationAnswersAsItsREADMESays(t *testing.T) {
	srv := pdptest.Start(t,
		pdptest.WithTenant("docs.yaml", readExample(t, "tenants/docs.yaml")),
		pdptest.WithPolicy("app.rego", readExample(t, "policies/app.rego")),
		pdptest.WithConfig(func(c *config.Config) { c.AuthZENTenant = "docs" }),
	)
	s := &authzenServer{Server: srv}
	const at = `"context": {"time": "2025-12-02T10:00:00Z"%s}`
	ask := func(user, action, doc, ctx string) map[string]any {
		t.Helper()
		body := `{"subject": {"type": "user", "id": "` + user + `"}, "action": {"name": "` + action + `"},
		  "resource": {"type": "document", "id": "` + doc + `"}, ` + strings.Replace(at, "%s", ctx, 1) + `}`
		return s.call(t, "", "/access/v1/evaluation", body).ok(t, authzentest.EvaluationResponse, authzentest.Obligations)
	}
	codes := func(m map[string]any) []string {
		var out []string
		ctx, _ := m["context"].(map[string]any)
		rs, _ := ctx["reasons"].([]any)
		for _, r := range rs {
			out = append(out, r.(map[string]any)["code"].(string))
		}
		return out
	}

	for _, tt := range []struct {
		user, action, doc, ctx string
		decision               bool
		codes                  []string
	}{
		{"alice", "edit", "roadmap", "", true, []string{"app.owner"}},
		{"bob", "read", "roadmap", "", true, []string{"app.shared"}},
		{"bob", "read", "pricing", "", true, []string{"app.shared"}},
		{"bob", "edit", "roadmap", "", false, []string{"authz.role_forbidden"}},
		{"carol", "read", "roadmap", "", false, []string{"authz.role_forbidden"}},
		// The built-in controls on top of a grant.
		{"alice", "read", "roadmap", `, "ip": "203.0.113.66"`, false, []string{"network.ip_denied", "app.owner"}},
		{"alice", "read", "roadmap", `, "country": "KP"`, false, []string{"network.country_blocked", "app.owner"}},
		{"alice", "delete", "roadmap", `, "mfa_verified_at": "2025-12-02T09:55:00Z"`, true, []string{"app.owner"}},
	} {
		m := ask(tt.user, tt.action, tt.doc, tt.ctx)
		if m["decision"] != tt.decision || !reflect.DeepEqual(codes(m), tt.codes) {
			t.Errorf("%s %s %s%s: decision %v reasons %v, want %v %v", tt.user, tt.action, tt.doc, tt.ctx, m["decision"], codes(m), tt.decision, tt.codes)
		}
	}

	// Deleting without a recent second factor: a step-up obligation.
	m := ask("alice", "delete", "roadmap", "")
	obligations, _ := m["context"].(map[string]any)["obligations"].([]any)
	want := []any{map[string]any{"type": "step-up", "id": "obl-1", "acr_value": "urn:pdp:acr:mfa", "amr_values": []any{"mfa"}, "max_age": float64(900), "reason": "app.delete_needs_mfa"}}
	if m["decision"] != false || !reflect.DeepEqual(obligations, want) {
		t.Errorf("delete without MFA: %v", m)
	}

	names := func(m map[string]any, key string) []string {
		var out []string
		for _, r := range m["results"].([]any) {
			out = append(out, r.(map[string]any)[key].(string))
		}
		sort.Strings(out)
		return out
	}
	m = s.call(t, "", "/access/v1/search/subject", `{"subject": {"type": "user"}, "action": {"name": "read"},
	  "resource": {"type": "document", "id": "pricing"}, "context": {"time": "2025-12-02T10:00:00Z"}}`).ok(t, authzentest.SubjectResults)
	if got := names(m, "id"); !reflect.DeepEqual(got, []string{"alice", "bob", "carol"}) {
		t.Errorf("who may read pricing: %v", got)
	}
	m = s.call(t, "", "/access/v1/search/resource", `{"subject": {"type": "user", "id": "carol"}, "action": {"name": "read"},
	  "resource": {"type": "document"}, "context": {"time": "2025-12-02T10:00:00Z"}}`).ok(t, authzentest.ResourceResults)
	if got := names(m, "id"); !reflect.DeepEqual(got, []string{"handbook", "pricing"}) {
		t.Errorf("what carol may read: %v", got)
	}
	m = s.call(t, "", "/access/v1/search/action", `{"subject": {"type": "user", "id": "alice"},
	  "resource": {"type": "document", "id": "roadmap"}, "context": {"time": "2025-12-02T10:00:00Z"}}`).ok(t, authzentest.ActionResults)
	if got := names(m, "name"); !reflect.DeepEqual(got, []string{"edit", "read", "share"}) {
		t.Errorf("what alice may do to roadmap: %v", got)
	}
	if b, _ := json.Marshal(m); !strings.Contains(string(b), `"next_token":""`) {
		t.Errorf("action search page: %s", b)
	}
}
