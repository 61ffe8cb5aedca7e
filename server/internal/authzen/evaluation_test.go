package authzen_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestEvaluationMapsEveryFieldStraightToTheDecisionRequest(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{}
	srv := serve(t, authzen.Options{Checker: checker})
	post(t, srv, "/tenants/acme/access/v1/evaluation", `{
	  "subject": {"type": "user", "id": "alice@example.com", "properties": {
	    "email": "Alice@Example.com", "roles": ["viewer"], "groups": ["eng"], "mfa_enrolled": true, "tenant": "acme",
	    "created_at": "2026-01-01T00:00:00Z", "ip_address": "172.217.22.14", "device_id": "8:65:ee:17:7e:0b", "department": "Sales"}},
	  "resource": {"type": "document", "id": "doc-1", "properties": {"owner": "bob@example.com"}},
	  "action": {"name": "can_read", "properties": {"method": "GET"}},
	  "context": {"environment": "staging", "time": "1985-10-26T01:22-07:00", "country": "de", "provider": "google",
	    "amr": ["pwd", "otp"], "acr": "aal2", "mfa_verified_at": "1985-10-26T01:00:00-07:00",
	    "device": {"managed": true, "compliant": true, "platform": "macos"},
	    "session": {"id": "s-1", "last_activity_at": "1985-10-26T01:20:00-07:00"},
	    "ticket": "T-7", "unknown_object": {"a": 1}},
	  "unknown_top_level": true
	}`).want(t, http.StatusOK)

	reqs := checker.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests decided, want 1", len(reqs))
	}
	at := time.Date(1985, 10, 26, 1, 22, 0, 0, time.FixedZone("", -7*3600))
	want := &decision.Request{
		Tenant:      "acme",
		Environment: "staging",
		Subject: decision.Subject{
			Type: "user", ID: "alice@example.com", Email: "alice@example.com", Roles: []string{"viewer"}, Groups: []string{"eng"},
			MFAEnrolled: true, Tenant: "acme", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Properties: map[string]any{"department": "Sales"},
		},
		Authentication: decision.Authentication{Provider: "google", Methods: []string{"pwd", "otp"}, ACR: "aal2",
			MFAVerifiedAt: at.Add(-22 * time.Minute)},
		Network:    decision.Network{IP: netip.MustParseAddr("172.217.22.14"), Country: "DE"},
		Device:     decision.Device{ID: "8:65:ee:17:7e:0b", Platform: "macos", Managed: true, Compliant: true},
		Action:     decision.Action{Name: "can_read", Properties: map[string]any{"method": "GET"}},
		Resource:   decision.Resource{Type: "document", ID: "doc-1", Properties: map[string]any{"owner": "bob@example.com"}},
		Session:    decision.Session{ID: "s-1", LastActivityAt: at.Add(-2 * time.Minute)},
		Time:       at,
		Attributes: map[string]any{"ticket": "T-7", "unknown_object": map[string]any{"a": float64(1)}},
	}
	got := reqs[0]
	if !got.Time.Equal(want.Time) || !got.Subject.CreatedAt.Equal(want.Subject.CreatedAt) ||
		!got.Authentication.MFAVerifiedAt.Equal(want.Authentication.MFAVerifiedAt) || !got.Session.LastActivityAt.Equal(want.Session.LastActivityAt) {
		t.Errorf("times: got %v %v %v %v", got.Time, got.Subject.CreatedAt, got.Authentication.MFAVerifiedAt, got.Session.LastActivityAt)
	}
	got.Time, got.Subject.CreatedAt, got.Authentication.MFAVerifiedAt, got.Session.LastActivityAt =
		want.Time, want.Subject.CreatedAt, want.Authentication.MFAVerifiedAt, want.Session.LastActivityAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request\n got %+v\nwant %+v", got, want)
	}
}

func TestEvaluationWithoutContextIsTheDefaultEnvironmentAtTheServerClock(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{}
	srv := serve(t, authzen.Options{Checker: checker, DefaultTenant: "acme"})
	post(t, srv, "/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusOK)
	got := checker.requests()[0]
	if got.Tenant != "acme" || got.Environment != decision.DefaultEnvironment || !got.Time.Equal(t0) {
		t.Errorf("tenant %q environment %q time %v, want acme, %s, %v", got.Tenant, got.Environment, got.Time, decision.DefaultEnvironment, t0)
	}
}

func TestADenyIsDecisionFalseWithItsReasonsAndAnAllowIsTrue(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: allowIf(func(r *decision.Request) bool { return r.Resource.ID == "123" })}})

	allow := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusOK)
	authzentest.Valid(t, allow.body, authzentest.EvaluationResponse, authzentest.Obligations)
	if m := allow.object(t); m["decision"] != true {
		t.Errorf("allow answered %s", allow.body)
	}

	deny := post(t, srv, "/tenants/acme/access/v1/evaluation", strings.Replace(aliceReadsAccount, `"123"`, `"456"`, 1)).want(t, http.StatusOK)
	authzentest.Valid(t, deny.body, authzentest.EvaluationResponse, authzentest.Obligations)
	var d struct {
		Decision bool
		Context  struct {
			ID          string
			ReasonAdmin map[string]string `json:"reason_admin"`
			ReasonUser  map[string]string `json:"reason_user"`
			Reasons     []struct{ Code, Message string }
		}
	}
	if err := json.Unmarshal(deny.body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Decision || d.Context.ID != "d-deny" || d.Context.ReasonAdmin["en"] != "authz.role_forbidden: no role grants it" ||
		d.Context.ReasonUser["en"] != "access denied" || len(d.Context.Reasons) != 1 || d.Context.Reasons[0].Code != "authz.role_forbidden" {
		t.Errorf("deny answered %s", deny.body)
	}
}

func TestOnlyAnAllowIsDecisionTrue(t *testing.T) {
	t.Parallel()
	for kind, want := range map[decision.Kind]bool{
		decision.KindAllow: true, decision.KindChallenge: false, decision.KindDeny: false, decision.KindUnspecified: false,
	} {
		srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: func(*decision.Request) (*decision.Decision, error) {
			return &decision.Decision{Kind: kind, ID: "d", Enforced: true}, nil
		}}})
		a := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusOK)
		if got := a.object(t)["decision"]; got != want {
			t.Errorf("%s answered decision %v, want %v", kind, got, want)
		}
	}
}

func TestAMissingRequiredFieldIs400AndNamesTheField(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	for _, tt := range []struct{ body, field string }{
		{`{"resource": {"type": "a", "id": "1"}, "action": {"name": "r"}}`, "subject: required"},
		{`{"subject": {"id": "u"}, "resource": {"type": "a", "id": "1"}, "action": {"name": "r"}}`, "subject.type: required"},
		{`{"subject": {"type": "user"}, "resource": {"type": "a", "id": "1"}, "action": {"name": "r"}}`, "subject.id: required"},
		{`{"subject": {"type": "user", "id": "u"}, "action": {"name": "r"}}`, "resource: required"},
		{`{"subject": {"type": "user", "id": "u"}, "resource": {"id": "1"}, "action": {"name": "r"}}`, "resource.type: required"},
		{`{"subject": {"type": "user", "id": "u"}, "resource": {"type": "a"}, "action": {"name": "r"}}`, "resource.id: required"},
		{`{"subject": {"type": "user", "id": "u"}, "resource": {"type": "a", "id": "1"}}`, "action: required"},
		{`{"subject": {"type": "user", "id": "u"}, "resource": {"type": "a", "id": "1"}, "action": {}}`, "action.name: required"},
		{`{"subject": {"type": "user", "id": "u"}, "resource": {"type": "a", "id": "1"}, "action": {"name": "r"}, "context": {"time": "yesterday"}}`, "context.time: must be an RFC 3339 timestamp"},
		{`{"subject": {"type": 7, "id": "u"}, "resource": {"type": "a", "id": "1"}, "action": {"name": "r"}}`, "subject.type: must be a string"},
		{`{"subject": `, "malformed JSON body"},
		{``, "request body must be a JSON object"},
	} {
		a := post(t, srv, "/tenants/acme/access/v1/evaluation", tt.body).want(t, http.StatusBadRequest)
		if msg := a.errorMessage(t); !strings.Contains(msg, tt.field) {
			t.Errorf("%s: message %q does not say %q", tt.body, msg, tt.field)
		}
	}
}

func TestAnUndecidableRequestIs500WithoutDetailButNeverForAPolicyOutcome(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: func(*decision.Request) (*decision.Decision, error) {
		return nil, fault.Wrap(errFake, fault.Internal, "policy evaluation failed")
	}}})
	a := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusInternalServerError)
	if msg := a.errorMessage(t); msg != "internal error" {
		t.Errorf("message %q leaks detail", msg)
	}
}

var errFake = fault.New(fault.Internal, "fake failure")

func TestAChallengeCarriesItsStepUpsAsObligationsOfTheProfile(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: func(r *decision.Request) (*decision.Decision, error) {
		return &decision.Decision{
			Kind: decision.KindChallenge, ID: "d-c", Enforced: true,
			StepUps: []decision.StepUp{
				{Kind: decision.StepUpMFA, MaxAge: 15 * time.Minute, ReasonCode: "risk.step_up"},
				{Kind: decision.StepUpVerifyDevice, ReasonCode: "risk.step_up"},
				{Kind: decision.StepUpUseProvider, AllowedProviders: []string{"google"}, ReasonCode: "authn.provider_not_allowed"},
			},
			Obligations: []decision.Obligation{
				{Kind: decision.ObligationNotifySecurity, Params: map[string]string{"user": "u-20", "action": "admin.users.delete", "reason": "incident.privilege_escalation"}},
				{Kind: decision.ObligationSuspendUser, Params: map[string]string{"user": "u-20"}},
				{Kind: decision.ObligationCacheNamespace, Params: map[string]string{"prefix": "acme:production:"}},
			},
			Risk: decision.Risk{Score: 0.75, Level: decision.RiskHigh, Factors: []decision.RiskFactor{{Name: "unusual_location", Weight: 0.35, Detail: "BR"}}},
		}, nil
	}}})
	a := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusOK)
	authzentest.Valid(t, a.body, authzentest.EvaluationResponse, authzentest.Obligations)
	var d struct {
		Decision bool
		Context  struct {
			Obligations []map[string]any
			ReasonUser  map[string]string `json:"reason_user"`
			Risk        struct {
				Score float64
				Level string
			}
		}
	}
	if err := json.Unmarshal(a.body, &d); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"type": "step-up", "id": "obl-1", "acr_value": "urn:pdp:acr:mfa", "amr_values": []any{"mfa"}, "max_age": float64(900), "reason": "risk.step_up"},
		{"type": "step-up", "id": "obl-2", "acr_value": "urn:pdp:acr:device", "reason": "risk.step_up"},
		{"type": "custom", "id": "obl-3", "vendor": "pdp", "action": "use_provider", "providers": []any{"google"}, "reason": "authn.provider_not_allowed"},
		{"type": "notification", "id": "obl-4", "to": "security", "topic": "pdp incident: incident.privilege_escalation",
			"body": "tenant acme: user u-20 asked for admin.users.delete (incident.privilege_escalation)"},
		{"type": "session_termination", "id": "obl-5", "subject": "u-20"},
		{"type": "custom", "id": "obl-6", "vendor": "pdp", "action": "cache_namespace", "params": map[string]any{"prefix": "acme:production:"}},
	}
	if d.Decision || !reflect.DeepEqual(d.Context.Obligations, want) {
		t.Errorf("obligations\n got %v\nwant %v", d.Context.Obligations, want)
	}
	if got := d.Context.ReasonUser["en"]; got != "multi-factor authentication required; device verification required; sign in with google" {
		t.Errorf("reason_user %q", got)
	}
	if d.Context.Risk.Score != 0.75 || d.Context.Risk.Level != "high" {
		t.Errorf("risk %+v", d.Context.Risk)
	}
}

func TestTheStepUpACRValuesComeFromTheServer(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{ACR: map[string]string{"mfa": "phr", "reauthenticate": "urn:example:fresh"},
		Checker: &fakeChecker{decide: func(*decision.Request) (*decision.Decision, error) {
			return &decision.Decision{Kind: decision.KindChallenge, ID: "d", Enforced: true, StepUps: []decision.StepUp{
				{Kind: decision.StepUpMFA}, {Kind: decision.StepUpReauthenticate}, {Kind: decision.StepUpVerifyDevice},
			}}, nil
		}}})
	a := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusOK)
	authzentest.Valid(t, a.body, authzentest.Obligations)
	var d struct {
		Context struct{ Obligations []map[string]any }
	}
	_ = json.Unmarshal(a.body, &d)
	got := []any{d.Context.Obligations[0]["acr_value"], d.Context.Obligations[1]["acr_value"], d.Context.Obligations[2]["type"]}
	if want := []any{"phr", "urn:example:fresh", "custom"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestADecisionNeedingAnObligationThePEPCannotCarryOutIsAPlainDeny(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: func(*decision.Request) (*decision.Decision, error) {
		return &decision.Decision{Kind: decision.KindAllow, ID: "d", Enforced: true, Obligations: []decision.Obligation{
			{Kind: decision.ObligationAudit}, {Kind: decision.ObligationNotifySecurity, Params: map[string]string{"reason": "x"}},
		}}, nil
	}}})
	withContext := func(supported string) string {
		return strings.Replace(aliceReadsAccount, `"action"`, `"context": {"obligations_supported": `+supported+`}, "action"`, 1)
	}
	for _, tt := range []struct {
		supported string
		decision  bool
		types     []string
	}{
		{`["custom", "notification"]`, true, []string{"custom", "notification"}},
		{`["notification", "step-up"]`, false, []string{"notification"}},
		// A type the PDP did not advertise is ignored, as if absent.
		{`["notification", "watermark"]`, false, []string{"notification"}},
		{`[]`, false, nil},
	} {
		a := post(t, srv, "/tenants/acme/access/v1/evaluation", withContext(tt.supported)).want(t, http.StatusOK)
		authzentest.Valid(t, a.body, authzentest.EvaluationResponse, authzentest.Obligations)
		var d struct {
			Decision bool
			Context  struct {
				Obligations []struct{ Type string }
				Reasons     []struct{ Code string }
			}
		}
		_ = json.Unmarshal(a.body, &d)
		var types []string
		for _, o := range d.Context.Obligations {
			types = append(types, o.Type)
		}
		if d.Decision != tt.decision || !reflect.DeepEqual(types, tt.types) {
			t.Errorf("supported %s: decision %v obligations %v, want %v %v", tt.supported, d.Decision, types, tt.decision, tt.types)
		}
		if !tt.decision && (len(d.Context.Reasons) == 0 || d.Context.Reasons[len(d.Context.Reasons)-1].Code != authzen.ReasonUnsupportedObligation) {
			t.Errorf("supported %s: reasons %+v lack %s", tt.supported, d.Context.Reasons, authzen.ReasonUnsupportedObligation)
		}
	}
}

func TestReportOnlyDecisionsSayTheyWereNotEnforced(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: func(*decision.Request) (*decision.Decision, error) {
		return &decision.Decision{Kind: decision.KindAllow, ID: "d", Enforced: false, WouldDecide: decision.KindDeny}, nil
	}}})
	m := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusOK).object(t)
	ctx := m["context"].(map[string]any)
	if m["decision"] != true || ctx["enforced"] != false || ctx["would_decide"] != "deny" {
		t.Errorf("answered %v", m)
	}
}

func TestRequestsAreRefusedBeforeAnythingIsDecided(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{}
	srv := serve(t, authzen.Options{Checker: checker, MaxBodyBytes: 2048, Scope: func(_ context.Context, tenant string) error {
		if tenant != "acme" {
			return fault.New(fault.PermissionDenied, "this API key may not ask or report for tenant %q", tenant)
		}
		return nil
	}})
	post(t, srv, "/tenants/globex/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusForbidden)
	post(t, srv, "/tenants/acme/access/v1/evaluation", `{"subject": {"type": "user", "id": "`+strings.Repeat("a", 4096)+`"}}`).want(t, http.StatusRequestEntityTooLarge)
	a := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount, "Content-Type", "text/plain").want(t, http.StatusUnsupportedMediaType)
	_ = a
	m := get(t, srv, "/tenants/acme/access/v1/evaluation").want(t, http.StatusMethodNotAllowed)
	if m.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", m.header.Get("Allow"))
	}
	post(t, srv, "/tenants/Not_A_Tenant!/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusNotFound)
	post(t, srv, "/tenants/acme/access/v1/nothing", aliceReadsAccount).want(t, http.StatusNotFound)
	if n := len(checker.requests()); n != 0 {
		t.Errorf("%d requests decided, want none", n)
	}
}

func TestTheDefaultTenantPathsNeedADefaultTenant(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	a := post(t, srv, "/access/v1/evaluation", aliceReadsAccount).want(t, http.StatusNotFound)
	if msg := a.errorMessage(t); !strings.Contains(msg, "--authzen-tenant") || !strings.Contains(msg, "/tenants/{tenant}/access/v1/evaluation") {
		t.Errorf("message %q does not say how to ask", msg)
	}
	get(t, srv, "/.well-known/authzen-configuration").want(t, http.StatusNotFound)
}

func TestOtherPathsAreLeftToTheNextHandler(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	if a := post(t, srv, "/v1/check", `{}`); a.status != http.StatusTeapot {
		t.Errorf("/v1/check answered %d by the AuthZEN handler", a.status)
	}
}

func TestTheRequestIDIsEchoedOnEveryAnswer(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	for _, a := range []answer{
		post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount, "X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"),
		post(t, srv, "/tenants/acme/access/v1/evaluation", `{}`, "X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"),
	} {
		if got := a.header.Get("X-Request-ID"); got != "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" {
			t.Errorf("answer %d has X-Request-ID %q", a.status, got)
		}
	}
	if got := post(t, srv, "/tenants/acme/access/v1/evaluation", aliceReadsAccount).header.Get("X-Request-ID"); got != "" {
		t.Errorf("X-Request-ID %q made up", got)
	}
}

// The domain's rules apply to AuthZEN values as to every door's, named by
// the AuthZEN key the value came from: a second factor "verified" after
// the request would otherwise stay fresh for as long as it lies ahead.
func TestTheDomainsRulesApplyNamedByTheAuthZENKey(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{}
	srv := serve(t, authzen.Options{Checker: checker})
	for _, tt := range []struct{ body, want string }{
		{`"context": {"time": "2026-12-02T10:00:00Z", "mfa_verified_at": "2026-12-02T11:00:00Z"}`, "context.mfa_verified_at: "},
		{`"context": {"session": {"last_activity_at": "2026-12-03T10:00:00Z"}}`, "context.session.last_activity_at: "},
		{`"subject": {"type": "user", "id": "u", "properties": {"email": "not an email"}}`, "subject.properties.email: "},
		{`"context": {"country": "xx1"}`, "context.country: "},
		{`"context": {"environment": "Prod"}`, "context.environment: "},
		{`"action": {"name": "read it"}`, "action.name: "},
	} {
		// The key given replaces the example's own (the last of equal keys wins).
		body := strings.TrimSuffix(aliceReadsAccount, "}") + "," + tt.body + "}"
		a := post(t, srv, "/tenants/acme/access/v1/evaluation", body).want(t, http.StatusBadRequest)
		if msg := a.errorMessage(t); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: message %q does not name %q", tt.body, msg, tt.want)
		}
	}
	if n := len(checker.requests()); n != 0 {
		t.Errorf("%d refused requests decided", n)
	}
}
