package console_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/console"
	"github.com/pdp-dev/pdp/server/pdptest"
)

const acmeTenant = `
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 4h
    roles:
      admin: {actions: ["*"]}
`

const globexTenant = `
tenant: globex
plan: free
environments:
  production:
    roles:
      member: {actions: [login]}
`

// keys are the callers of the door tests.
type keys struct{ admin, acmeAdmin, pep pdptest.Key }

func startServer(t *testing.T) (*pdptest.Server, keys) {
	t.Helper()
	k := keys{
		admin:     pdptest.NewKey(t, "alice", authn.RoleAdmin),
		acmeAdmin: pdptest.NewKey(t, "acme-admin", authn.RoleTenantAdmin, "acme"),
		pep:       pdptest.NewKey(t, "gateway", authn.RolePEP),
	}
	srv := pdptest.Start(t, pdptest.WithTenant("acme.yaml", acmeTenant), pdptest.WithTenant("globex.yaml", globexTenant),
		pdptest.WithAPIKeys(t, k.admin, k.acmeAdmin, k.pep))
	return srv, k
}

// call posts body to the door as the console does and returns the status
// and the decoded JSON answer.
func call(t *testing.T, srv *pdptest.Server, key, method, body string, edit ...func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.HTTPURL+"/console/api/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(console.ConsoleHeader, "1")
	if key != "" {
		req.Header.Set(console.APIKeyHeader, key)
	}
	for _, e := range edit {
		e(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answered %d with %q, not JSON", method, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

const getAcme = "pdp.v1.PolicyAdminService/GetTenantPolicy"

func TestTheDoorCallsTheAdminAPIWithTheSignedInKey(t *testing.T) {
	srv, k := startServer(t)
	code, out := call(t, srv, k.admin.Key, getAcme, `{"tenant":"acme"}`)
	if code != http.StatusOK {
		t.Fatalf("GetTenantPolicy = %d %v", code, out)
	}
	pol := out["policy"].(map[string]any)
	if pol["tenant"] != "acme" || pol["etag"] == "" {
		t.Fatalf("policy = %v", pol)
	}
	prod := pol["environments"].(map[string]any)["production"].(map[string]any)
	if prod["inactivityTimeout"] != "14400s" {
		t.Fatalf("the answer is not the API's JSON: production = %v", prod)
	}
}

func TestTheDoorIsGuardedLikeTheGRPCPort(t *testing.T) {
	srv, k := startServer(t)
	for _, tc := range []struct {
		name, key, method, body string
		status                  int
		code                    string
	}{
		{"no key", "", getAcme, `{"tenant":"acme"}`, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a wrong key", "pdp_wrong", getAcme, `{"tenant":"acme"}`, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"a pep key", k.pep.Key, getAcme, `{"tenant":"acme"}`, http.StatusForbidden, "PERMISSION_DENIED"},
		{"a tenant-admin on another tenant", k.acmeAdmin.Key, getAcme, `{"tenant":"globex"}`, http.StatusForbidden, "PERMISSION_DENIED"},
		{"a tenant-admin on its tenant", k.acmeAdmin.Key, getAcme, `{"tenant":"acme"}`, http.StatusOK, ""},
		{"a tenant-admin asking for a decision", k.acmeAdmin.Key, "pdp.v1.DecisionService/Check", `{}`, http.StatusForbidden, "PERMISSION_DENIED"},
		{"an unknown method", k.admin.Key, "pdp.v1.PolicyAdminService/DropEverything", `{}`, http.StatusNotFound, "NOT_FOUND"},
		{"an unknown service", k.admin.Key, "grpc.health.v1.Health/Check", `{}`, http.StatusNotFound, "NOT_FOUND"},
		{"an unknown field", k.admin.Key, getAcme, `{"tenant":"acme","x":1}`, http.StatusBadRequest, "INVALID_ARGUMENT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := call(t, srv, tc.key, tc.method, tc.body)
			if code != tc.status || (tc.code != "" && out["code"] != tc.code) {
				t.Fatalf("= %d %v, want %d %s", code, out, tc.status, tc.code)
			}
		})
	}
}

func TestTheDoorRefusesCrossSiteRequests(t *testing.T) {
	srv, k := startServer(t)
	for _, tc := range []struct {
		name   string
		edit   func(*http.Request)
		status int
	}{
		{"without the console header", func(r *http.Request) { r.Header.Del(console.ConsoleHeader) }, http.StatusForbidden},
		{"from another site", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"with another origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"as a form", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, http.StatusUnsupportedMediaType},
		{"as a GET", func(r *http.Request) { r.Method = http.MethodGet }, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := call(t, srv, k.admin.Key, getAcme, `{"tenant":"acme"}`, tc.edit); code != tc.status {
				t.Fatalf("= %d %v, want %d", code, out, tc.status)
			}
		})
	}
	t.Run("from the console's own page", func(t *testing.T) {
		code, out := call(t, srv, k.admin.Key, getAcme, `{"tenant":"acme"}`, func(r *http.Request) {
			r.Header.Set("Sec-Fetch-Site", "same-origin")
			r.Header.Set("Origin", srv.HTTPURL)
		})
		if code != http.StatusOK {
			t.Fatalf("= %d %v", code, out)
		}
	})
}

func TestAChangeThroughTheDoorIsValidatedAndAudited(t *testing.T) {
	srv, k := startServer(t)
	_, out := call(t, srv, k.admin.Key, getAcme, `{"tenant":"acme"}`)
	etag := out["policy"].(map[string]any)["etag"].(string)
	put := func(timeout string) (int, map[string]any) {
		return call(t, srv, k.admin.Key, "pdp.v1.PolicyAdminService/PutTenantPolicy",
			`{"reason":"CHG-1","policy":{"tenant":"acme","plan":"enterprise","etag":"`+etag+`","environments":{"production":{"inactivityTimeout":"`+timeout+`","roles":{"admin":{"actions":["*"]}}}}}}`)
	}
	code, out := put("60s")
	fv, _ := out["field_violations"].([]any)
	if code != http.StatusBadRequest || len(fv) != 1 ||
		fv[0].(map[string]any)["field"] != "policy.environments.production.inactivity_timeout" {
		t.Fatalf("a timeout of 60s = %d %v, want one field violation on the inactivity timeout", code, out)
	}
	if code, out = put("7200s"); code != http.StatusOK {
		t.Fatalf("a timeout of 2h = %d %v", code, out)
	}
	events, err := pdpv1.NewPolicyAdminServiceClient(srv.DialAs(t, k.admin.Key)).ListAuditEvents(t.Context(), &pdpv1.ListAuditEventsRequest{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ev := range events.GetEvents() {
		found = found || (ev.GetAction() == "tenant_policy.put" && ev.GetActor() == "alice" && ev.GetReason() == "CHG-1")
	}
	if !found {
		t.Fatalf("no tenant_policy.put by alice in %v", events.GetEvents())
	}
}

func TestAStreamingCallTakesAnArrayOfMessages(t *testing.T) {
	srv, k := startServer(t)
	code, out := call(t, srv, k.admin.Key, "pdp.v1.PolicyAdminService/ImportIPList",
		`[{"tenant":"acme","list":"IP_LIST_DENY","source":"feed","lines":["192.0.2.1","bad"]},{"lines":["192.0.2.0/28"]}]`)
	if code != http.StatusOK || out["added"] != "2" || out["invalid"] != "1" {
		t.Fatalf("ImportIPList = %d %v, want 2 added and 1 invalid", code, out)
	}
}

func TestThePagesAreServedWithAStrictPolicy(t *testing.T) {
	srv, _ := startServer(t)
	for _, path := range []string{"/console/", "/console/console.js", "/console/console.css"} {
		resp, err := http.Get(srv.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d without a key: the pages must be public", path, resp.StatusCode)
		}
		h := resp.Header
		if h.Get("Content-Security-Policy") != console.ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("GET %s headers = %v", path, h)
		}
	}
	resp, err := http.Get(srv.HTTPURL + "/v1/check")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the rest of the HTTP port is still guarded: GET /v1/check = %d", resp.StatusCode)
	}
}

func TestTheDoorServesOverTLSAndMutualTLS(t *testing.T) {
	pki := pdptest.NewPKI(t)
	admin := pdptest.NewKey(t, "alice", authn.RoleAdmin)
	srv := pdptest.Start(t, pdptest.WithTenant("acme.yaml", acmeTenant), pdptest.WithAPIKeys(t, admin),
		pdptest.WithMutualTLS(pki, pki.Client(t, "browser", "")), pdptest.WithClientKey(admin.Key))
	req, err := http.NewRequest(http.MethodPost, srv.HTTPURL+"/console/api/"+getAcme, strings.NewReader(`{"tenant":"acme"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(console.ConsoleHeader, "1")
	req.Header.Set(console.APIKeyHeader, admin.Key)
	resp, err := srv.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"etag"`) {
		t.Fatalf("over mutual TLS the door answered %d %s", resp.StatusCode, body)
	}
}

func TestWithoutTheConsoleItsPathsAreTheHTTPPortsLikeAnyOther(t *testing.T) {
	admin := pdptest.NewKey(t, "alice", authn.RoleAdmin)
	srv := pdptest.Start(t, pdptest.WithTenant("acme.yaml", acmeTenant), pdptest.WithAPIKeys(t, admin),
		pdptest.WithConfig(func(c *config.Config) { c.Console = false }))
	resp, err := http.Get(srv.HTTPURL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /console/ with --console=false = %d, want the HTTP guard's 401", resp.StatusCode)
	}
	if code, out := call(t, srv, admin.Key, getAcme, `{"tenant":"acme"}`); code != http.StatusNotFound {
		t.Fatalf("the door with --console=false = %d %v, want 404", code, out)
	}
}

func TestWithoutKeysTheDoorAnswersOnlyALoopbackHost(t *testing.T) {
	srv := pdptest.Start(t, pdptest.WithTenant("acme.yaml", acmeTenant))
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.HTTPURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host   string
		status int
	}{
		// A name an attacker resolves to 127.0.0.1 after the page loaded
		// (DNS rebinding) is same-origin to the browser.
		{"rebound.example:" + port, http.StatusForbidden},
		{"rebound.example", http.StatusForbidden},
		{"10.0.0.1:" + port, http.StatusForbidden},
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
	} {
		t.Run(tc.host, func(t *testing.T) {
			code, out := call(t, srv, "", getAcme, `{"tenant":"acme"}`, func(r *http.Request) { r.Host = tc.host })
			if code != tc.status {
				t.Fatalf("= %d %v, want %d", code, out, tc.status)
			}
		})
	}
}
