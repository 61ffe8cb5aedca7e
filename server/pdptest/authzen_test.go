package pdptest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// The AuthZEN API over real HTTP against a started server: the
// conformance of every answer to the schemas, authentication, the
// decision log, and search without incident response.

const authzenTenant = `
tenant: acme
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      reader: {actions: [can_read]}
      editor: {actions: [can_read, can_write]}
      admin: {actions: ["*"]}
    incident:
      suspend_on_privilege_escalation: true
`

// authzenDirectory is what the policy author knows of acme.
const authzenDirectory = `package pdp.custom

people := {"alice": ["editor"], "bob": ["reader"], "carol": []}

subjects contains {"type": "user", "id": id, "properties": {"roles": roles}} if {
	input.tenant == "acme"
	some id, roles in people
}

resources contains {"type": "document", "id": id} if {
	input.tenant == "acme"
	some id in ["d-1", "d-2", "d-3"]
}

actions contains "admin.users.delete" if input.tenant == "acme"
`

type authzenServer struct {
	*pdptest.Server
	pep, admin, globexPEP pdptest.Key
	logPath               string
}

func startAuthZEN(t *testing.T) *authzenServer {
	t.Helper()
	s := &authzenServer{
		pep:       pdptest.NewKey(t, "gateway", authn.RolePEP),
		admin:     pdptest.NewKey(t, "root", authn.RoleAdmin),
		globexPEP: pdptest.NewKey(t, "globex-gw", authn.RolePEP, "globex"),
		logPath:   filepath.Join(t.TempDir(), "decisions.log"),
	}
	s.Server = pdptest.Start(t,
		pdptest.WithTenant("acme.yaml", authzenTenant),
		pdptest.WithPolicy("directory.rego", authzenDirectory),
		pdptest.WithAPIKeys(t, s.pep, s.admin, s.globexPEP),
		pdptest.WithConfig(func(c *config.Config) {
			c.AuthZENTenant = "acme"
			c.DecisionLog = s.logPath
		}),
	)
	return s
}

type httpAnswer struct {
	status int
	header http.Header
	body   []byte
}

// call sends body (GET without one) with key as Authorization: Bearer.
func (s *authzenServer) call(t *testing.T, key, path, body string, headers ...string) httpAnswer {
	t.Helper()
	method, r := http.MethodGet, io.Reader(nil)
	if body != "" {
		method, r = http.MethodPost, strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.HTTPURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.HTTPAs("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a httpAnswer) ok(t *testing.T, schemas ...string) map[string]any {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	authzentest.Valid(t, a.body, schemas...)
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func read(alice string, action, doc string) string {
	return `{"subject": {"type": "user", "id": "` + alice + `", "properties": {"roles": ["reader"]}},
	         "action": {"name": "` + action + `"}, "resource": {"type": "document", "id": "` + doc + `"}}`
}

func TestAuthZENEvaluationOverHTTP(t *testing.T) {
	s := startAuthZEN(t)
	const id = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"

	// Without a key: 401 with a challenge, and the request id echoed.
	a := s.call(t, "", "/access/v1/evaluation", read("alice", "can_read", "d-1"), "X-Request-ID", id)
	if a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") == "" || a.header.Get("X-Request-ID") != id {
		t.Fatalf("without a key: %d %v %s", a.status, a.header, a.body)
	}
	// A pep key of another tenant: 403.
	if a := s.call(t, s.globexPEP.Key, "/tenants/acme/access/v1/evaluation", read("alice", "can_read", "d-1")); a.status != http.StatusForbidden {
		t.Errorf("a globex key asking for acme: %d %s", a.status, a.body)
	}
	// ... which may ask for its own tenant, which does not exist: a deny.
	m := s.call(t, s.globexPEP.Key, "/tenants/globex/access/v1/evaluation", read("alice", "can_read", "d-1")).ok(t, authzentest.EvaluationResponse)
	if m["decision"] != false {
		t.Errorf("unknown tenant: %v", m)
	}

	// The default tenant and the tenant path are the same PDP.
	for _, path := range []string{"/access/v1/evaluation", "/tenants/acme/access/v1/evaluation"} {
		a := s.call(t, s.pep.Key, path, read("alice", "can_read", "d-1"), "X-Request-ID", id)
		m := a.ok(t, authzentest.EvaluationResponse, authzentest.Obligations)
		if m["decision"] != true || a.header.Get("X-Request-ID") != id {
			t.Errorf("%s: %s (X-Request-ID %q)", path, a.body, a.header.Get("X-Request-ID"))
		}
	}
	m = s.call(t, s.admin.Key, "/access/v1/evaluation", read("alice", "can_write", "d-1")).ok(t, authzentest.EvaluationResponse, authzentest.Obligations)
	ctx := m["context"].(map[string]any)
	if m["decision"] != false || !strings.Contains(ctx["reason_admin"].(map[string]any)["en"].(string), "authz.role_forbidden") {
		t.Errorf("a reader writing: %v", m)
	}
	decisionID := ctx["id"].(string)

	// Missing fields are 400; unknown ones are ignored.
	if a := s.call(t, s.pep.Key, "/access/v1/evaluation", `{"subject": {"type": "user"}, "action": {"name": "can_read"}, "resource": {"type": "document", "id": "d-1"}}`); a.status != http.StatusBadRequest {
		t.Errorf("subject without id: %d %s", a.status, a.body)
	}
	withUnknown := strings.Replace(read("alice", "can_read", "d-1"), `"action"`, `"future_field": {"x": 1}, "action"`, 1)
	if m := s.call(t, s.pep.Key, "/access/v1/evaluation", withUnknown).ok(t, authzentest.EvaluationResponse); m["decision"] != true {
		t.Errorf("unknown field: %v", m)
	}

	// The decision log has the deny, with the resource and the caller.
	var line map[string]any
	eventuallyLine(t, s.logPath, decisionID, &line)
	if r, _ := line["resource"].(map[string]any); r["type"] != "document" || r["id"] != "d-1" || line["caller"].(map[string]any)["name"] != "root" {
		t.Errorf("decision log line %v", line)
	}

	// Evaluations with a semantic.
	e := s.call(t, s.pep.Key, "/access/v1/evaluations", `{
	  "subject": {"type": "user", "id": "bob", "properties": {"roles": ["reader"]}},
	  "resource": {"type": "document", "id": "d-1"},
	  "options": {"evaluations_semantic": "deny_on_first_deny"},
	  "evaluations": [{"action": {"name": "can_read"}}, {"action": {"name": "can_write"}}, {"action": {"name": "can_read"}}]
	}`).ok(t, authzentest.EvaluationsResponse, authzentest.Obligations)
	var got []any
	for _, d := range e["evaluations"].([]any) {
		got = append(got, d.(map[string]any)["decision"])
	}
	if !reflect.DeepEqual(got, []any{true, false}) {
		t.Errorf("deny_on_first_deny: %v", got)
	}
}

// eventuallyLine waits for the decision log line of id.
func eventuallyLine(t *testing.T, path, id string, line *map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.Contains(sc.Text(), id) {
					f.Close()
					if err := json.Unmarshal(sc.Bytes(), line); err != nil {
						t.Fatal(err)
					}
					return
				}
			}
			f.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("decision %s not in the decision log", id)
}

func TestAuthZENMetadataOverHTTP(t *testing.T) {
	s := startAuthZEN(t)
	// Public: no key needed.
	m := s.call(t, "", "/.well-known/authzen-configuration/tenants/acme", "").ok(t)
	if m["policy_decision_point"] != s.HTTPURL+"/tenants/acme" || m["search_action_endpoint"] != s.HTTPURL+"/tenants/acme/access/v1/search/action" {
		t.Errorf("metadata %v", m)
	}
	m = s.call(t, "", "/.well-known/authzen-configuration", "").ok(t)
	if m["policy_decision_point"] != s.HTTPURL {
		t.Errorf("default tenant's metadata %v", m)
	}

	behindProxy := pdptest.Start(t, pdptest.WithTenant("acme.yaml", authzenTenant), pdptest.WithConfig(func(c *config.Config) {
		c.PublicURL = "https://pdp.example.com"
	}))
	a := (&authzenServer{Server: behindProxy}).call(t, "", "/.well-known/authzen-configuration/tenants/acme", "")
	if m := a.ok(t, authzentest.Metadata); m["access_evaluation_endpoint"] != "https://pdp.example.com/tenants/acme/access/v1/evaluation" {
		t.Errorf("behind a proxy: %v", m)
	}
	if a := (&authzenServer{Server: behindProxy}).call(t, "", "/.well-known/authzen-configuration", ""); a.status != http.StatusNotFound {
		t.Errorf("no --authzen-tenant: %d %s", a.status, a.body)
	}
}

func TestAuthZENSearchOverHTTP(t *testing.T) {
	s := startAuthZEN(t)
	results := func(m map[string]any, key string) []string {
		out := []string{}
		for _, r := range m["results"].([]any) {
			out = append(out, r.(map[string]any)[key].(string))
		}
		return out
	}

	m := s.call(t, s.pep.Key, "/access/v1/search/subject", `{
	  "subject": {"type": "user"}, "action": {"name": "can_write"}, "resource": {"type": "document", "id": "d-1"}
	}`).ok(t, authzentest.SubjectResults, authzentest.Obligations)
	if got := results(m, "id"); !reflect.DeepEqual(got, []string{"alice"}) {
		t.Errorf("who can write d-1: %v", got)
	}

	// A user the store has a profile of, from a reported login, is a
	// subject the PDP knows; the directory's roles win over the request's.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Decisions.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGIN_SUCCEEDED,
		Subject: &pdpv1.Subject{Id: "dave"}}); err != nil {
		t.Fatal(err)
	}
	m = s.call(t, s.pep.Key, "/access/v1/search/subject", `{
	  "subject": {"type": "user", "properties": {"roles": ["reader"]}}, "action": {"name": "can_read"}, "resource": {"type": "document", "id": "d-1"}
	}`).ok(t, authzentest.SubjectResults, authzentest.Obligations)
	if got := results(m, "id"); !reflect.DeepEqual(got, []string{"alice", "bob", "dave"}) {
		t.Errorf("who can read d-1: %v", got)
	}

	m = s.call(t, s.pep.Key, "/access/v1/search/action", `{
	  "subject": {"type": "user", "id": "bob", "properties": {"roles": ["reader"]}}, "resource": {"type": "document", "id": "d-1"}
	}`).ok(t, authzentest.ActionResults, authzentest.Obligations)
	if got := results(m, "name"); !reflect.DeepEqual(got, []string{"can_read"}) {
		t.Errorf("what bob may do: %v", got)
	}

	first := `{"subject": {"type": "user", "id": "alice", "properties": {"roles": ["editor"]}}, "action": {"name": "can_read"},
	           "resource": {"type": "document"}, "page": {"limit": 2%s}}`
	p1 := s.call(t, s.pep.Key, "/access/v1/search/resource", strings.Replace(first, "%s", "", 1)).ok(t, authzentest.ResourceResults)
	token := p1["page"].(map[string]any)["next_token"].(string)
	p2 := s.call(t, s.pep.Key, "/access/v1/search/resource", strings.Replace(first, "%s", `, "token": "`+token+`"`, 1)).ok(t, authzentest.ResourceResults)
	if got := append(results(p1, "id"), results(p2, "id")...); !reflect.DeepEqual(got, []string{"d-1", "d-2", "d-3"}) || token == "" ||
		p2["page"].(map[string]any)["next_token"] != "" || p2["page"].(map[string]any)["total"] != float64(3) {
		t.Errorf("alice's documents: %v then %v", p1, p2)
	}
}

// Deciding the candidates of a search must not act on them: asking who
// may delete users decides a privilege escalation for every user who may
// not, and none of them is suspended; the same question asked as an
// evaluation suspends.
func TestAuthZENSearchDoesNotSuspendItsCandidates(t *testing.T) {
	s := startAuthZEN(t)
	m := s.call(t, s.pep.Key, "/access/v1/search/subject", `{
	  "subject": {"type": "user"}, "action": {"name": "admin.users.delete"}, "resource": {"type": "document", "id": "d-1"}
	}`).ok(t, authzentest.SubjectResults)
	if n := len(m["results"].([]any)); n != 0 {
		t.Fatalf("%d users may delete users", n)
	}

	// An evaluation of the same question for dave suspends him; incident
	// actions run in order, so once he is suspended, anything the search
	// had queued would have run.
	s.call(t, s.pep.Key, "/access/v1/evaluation", `{"subject": {"type": "user", "id": "dave"}, "action": {"name": "admin.users.delete"},
	  "resource": {"type": "document", "id": "d-1"}}`).ok(t)
	suspended := func(user string) bool {
		m := s.call(t, s.pep.Key, "/access/v1/evaluation", read(user, "can_read", "d-1")).ok(t)
		return strings.Contains(string(mustJSON(t, m)), "incident.user_suspended")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !suspended("dave") {
		if time.Now().After(deadline) {
			t.Fatal("the evaluation's escalation did not suspend dave")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, user := range []string{"alice", "bob", "carol"} {
		if suspended(user) {
			t.Errorf("the search suspended %s", user)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resourceModule denies secrets, from the typed resource Rego sees as
// input.resource, whichever door the request came in by.
const resourceModule = `package pdp.custom

deny contains {"code": "custom.secret", "message": "secrets are off limits", "rule": "custom.secret"} if {
	input.resource.type == "secret"
}
`

func TestTheTypedResourceReachesRegoFromEveryDoor(t *testing.T) {
	srv := pdptest.Start(t, pdptest.WithTenant("acme.yaml", authzenTenant), pdptest.WithPolicy("resource.rego", resourceModule),
		pdptest.WithConfig(func(c *config.Config) {
			c.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		}))
	s := &authzenServer{Server: srv}

	// AuthZEN.
	m := s.call(t, "", "/tenants/acme/access/v1/evaluation", `{"subject": {"type": "user", "id": "bob", "properties": {"roles": ["reader"]}},
	  "action": {"name": "can_read"}, "resource": {"type": "secret", "id": "s-1"}}`).ok(t)
	if m["decision"] != false || !strings.Contains(string(mustJSON(t, m)), "custom.secret") {
		t.Errorf("AuthZEN: %v", m)
	}

	// The HTTP and gRPC Check: CheckRequest.resource.
	check := func(typ string) string {
		a := s.call(t, "", "/v1/check", `{"tenant": "acme", "subject": {"id": "bob", "roles": ["reader"]}, "action": {"name": "can_read"},
		  "resource": {"type": "`+typ+`", "id": "x-1", "properties": {"owner": "ana"}}}`)
		if a.status != http.StatusOK {
			t.Fatalf("/v1/check: %d %s", a.status, a.body)
		}
		var resp struct{ Decision string }
		_ = json.Unmarshal(a.body, &resp)
		return resp.Decision
	}
	if got, other := check("secret"), check("document"); got != "DECISION_DENY" || other != "DECISION_ALLOW" {
		t.Errorf("/v1/check: secret %s, document %s", got, other)
	}

	// Forward-auth: the route's resource headers.
	fa := func(typ string) int {
		req, _ := http.NewRequest(http.MethodGet, s.HTTPURL+"/v1/forward-auth", nil)
		for k, v := range map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/s/1", "X-PDP-Tenant": "acme", "X-PDP-Action": "can_read",
			"X-PDP-User-Id": "bob", "X-PDP-Roles": "reader", "X-PDP-Resource-Type": typ, "X-PDP-Resource-Id": "1"} {
			req.Header.Set(k, v)
		}
		resp, err := s.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got, other := fa("secret"), fa("document"); got != http.StatusForbidden || other != http.StatusOK {
		t.Errorf("forward-auth: secret %d, document %d", got, other)
	}
}
