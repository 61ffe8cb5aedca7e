package pdptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver/settest"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// ssfStream writes a --ssf-config file with one push stream "idp" of
// tenant acme for iss and aud, verified with tr's keys, and returns the
// option that serves it.
func ssfStream(t *testing.T, tr *settest.Transmitter, iss, aud string) pdptest.Option {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("- name: idp\n  tenant: acme\n  issuer: %q\n  audience: %q\n  jwks_file: %s\n  delivery: push\n",
		iss, aud, tr.WriteJWKS(t, dir, "jwks.json"))
	path := filepath.Join(dir, "ssf.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return pdptest.WithConfig(func(c *config.Config) { c.SSFConfig = path })
}

// pushSET posts a SET to the stream and returns the status and the
// RFC 8935 err code of a refusal.
func pushSET(t *testing.T, c *http.Client, base, stream, set string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/ssf/streams/"+stream+"/events", strings.NewReader(set))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Err string `json:"err"`
	}
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, e.Err
}

func TestPushedSETsAreAcceptedOrRefusedAsRFC8935Says(t *testing.T) {
	t.Parallel()
	claims := settest.Example(t, "caep-session-revoked-simple")
	tr := settest.NewTransmitter(t, "RS256", "k1")
	clock := pdptest.NewClock(caepTime.Add(5 * time.Second))
	srv := pdptest.StartWithClock(t, clock, ssfStream(t, tr, claims["iss"].(string), claims["aud"].(string)))

	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, "idp", tr.Sign(t, claims)); code != http.StatusAccepted {
		t.Fatalf("the spec's example: %d %s, want 202", code, errCode)
	}
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, "idp", tr.Sign(t, claims)); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Fatalf("the same jti again: %d %q, want 400 invalid_request", code, errCode)
	}
	other := settest.NewTransmitter(t, "RS256", "k1")
	claims["jti"] = "another"
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, "idp", other.Sign(t, claims)); code != http.StatusBadRequest || errCode != "authentication_failed" {
		t.Fatalf("another key's signature: %d %q, want 400 authentication_failed", code, errCode)
	}
	if code, _ := pushSET(t, srv.HTTP, srv.HTTPURL, "nope", tr.Sign(t, claims)); code != http.StatusNotFound {
		t.Fatalf("an unknown stream: %d, want 404", code)
	}
}

func TestTransmitterKeysPushOnlyToTheirStreams(t *testing.T) {
	t.Parallel()
	claims := settest.Example(t, "caep-session-revoked-simple")
	tr := settest.NewTransmitter(t, "ES256", "k1")
	pep := pdptest.NewKey(t, "gateway", "pep")
	idp := pdptest.NewTransmitterKey(t, "idp", "idp")
	elsewhere := pdptest.NewTransmitterKey(t, "other-idp", "other")
	clock := pdptest.NewClock(caepTime.Add(5 * time.Second))
	srv := pdptest.StartWithClock(t, clock, pdptest.WithAPIKeys(t, pep, idp, elsewhere),
		ssfStream(t, tr, claims["iss"].(string), claims["aud"].(string)))
	set := tr.Sign(t, claims)
	for _, tc := range []struct {
		name, key, want string
		status          int
	}{
		{"no key", "", "authentication_failed", 400},
		{"a pep key", pep.Key, "access_denied", 400},
		{"another stream's transmitter", elsewhere.Key, "access_denied", 400},
		{"the stream's transmitter", idp.Key, "", 202},
	} {
		if code, errCode := pushSET(t, srv.HTTPAs(tc.key), srv.HTTPURL, "idp", set); code != tc.status || errCode != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, errCode, tc.status, tc.want)
		}
	}
}

// caepTime is the iat of the CAEP specification's examples.
var caepTime = time.Unix(1615305159, 0).UTC()

// ssfTenant is a tenant whose viewers may read, with nothing else in the
// way (MFA off, no risk from a managed and compliant device).
func ssfTenant(name string) string {
	return "tenant: " + name + "\nplan: enterprise\nenvironments:\n  production:\n    mfa: {mode: \"off\"}\n" +
		"    roles:\n      viewer: {actions: [api.read]}\n"
}

// exampleStreams serves one push stream per example, named after it, each
// for a tenant of the same name, and returns the options.
func exampleStreams(t *testing.T, tr *settest.Transmitter, examples ...string) []pdptest.Option {
	t.Helper()
	dir := t.TempDir()
	jwks := tr.WriteJWKS(t, dir, "jwks.json")
	var cfg strings.Builder
	opts := []pdptest.Option{}
	for _, ex := range examples {
		claims := settest.Example(t, ex)
		fmt.Fprintf(&cfg, "- name: %s\n  tenant: %s\n  issuer: %q\n  audience: %q\n  jwks_file: %s\n  delivery: push\n",
			ex, ex, claims["iss"], claims["aud"], jwks)
		opts = append(opts, pdptest.WithTenant(ex+".yaml", ssfTenant(ex)))
	}
	path := filepath.Join(dir, "ssf.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(opts, pdptest.WithConfig(func(c *config.Config) { c.SSFConfig = path }))
}

// outcome is what a test checks of a decision.
type outcome struct {
	decision pdpv1.Decision
	reason   string // a reason code the decision carries
	stepUp   pdpv1.StepUpKind
	factor   string // a risk factor it carries
}

func checkOutcome(t *testing.T, srv *pdptest.Server, req *pdpv1.CheckRequest, want outcome) {
	t.Helper()
	resp, err := srv.Decisions.Check(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision() != want.decision {
		t.Fatalf("%s: decision %v (%v), want %v", req.GetTenant(), resp.GetDecision(), resp.GetReasons(), want.decision)
	}
	has := func(ok bool, what, name string) {
		if !ok {
			t.Fatalf("%s: no %s %s in %v", req.GetTenant(), what, name, resp)
		}
	}
	if want.reason != "" {
		has(slices.ContainsFunc(resp.GetReasons(), func(r *pdpv1.Reason) bool { return r.GetCode() == want.reason }), "reason", want.reason)
	}
	if want.stepUp != pdpv1.StepUpKind_STEP_UP_KIND_UNSPECIFIED {
		has(slices.ContainsFunc(resp.GetStepUps(), func(s *pdpv1.StepUp) bool { return s.GetKind() == want.stepUp }), "step-up", want.stepUp.String())
	}
	if want.factor != "" {
		has(slices.ContainsFunc(resp.GetRisk().GetFactors(), func(f *pdpv1.RiskFactor) bool { return f.GetName() == want.factor }), "risk factor", want.factor)
	}
}

func TestSpecExampleEventsChangeTheNextDecision(t *testing.T) {
	t.Parallel()
	caepEvent := time.Unix(1615304991, 0) // the CAEP examples' event_timestamp
	after := timestamppb.New(caepEvent.Add(time.Minute))
	allow := outcome{decision: pdpv1.Decision_DECISION_ALLOW}
	device := &pdpv1.Device{Id: "d-1", Managed: true, Compliant: true}
	// req is a request of tenant's user whose session started an hour
	// before event (the RISC examples' events happened at their iat).
	req := func(tenant, user string, change func(r *pdpv1.CheckRequest)) *pdpv1.CheckRequest {
		event := caepEvent
		if strings.HasPrefix(tenant, "risc-") {
			event = riscTime
		}
		before := timestamppb.New(event.Add(-time.Hour))
		r := &pdpv1.CheckRequest{Tenant: tenant, Subject: &pdpv1.Subject{Id: user, Roles: []string{"viewer"}},
			Device: device, Action: &pdpv1.Action{Name: "api.read"},
			Session:        &pdpv1.Session{Id: "s-1", StartedAt: before},
			Authentication: &pdpv1.Authentication{AuthenticatedAt: before, MfaVerifiedAt: before}}
		if change != nil {
			change(r)
		}
		return r
	}
	session := func(id string) func(r *pdpv1.CheckRequest) {
		return func(r *pdpv1.CheckRequest) { r.Session.Id = id }
	}
	cases := []struct {
		example string
		iat     time.Time
		req     *pdpv1.CheckRequest
		want    outcome
		// unaffected is a request the event does not touch.
		unaffected *pdpv1.CheckRequest
	}{
		{"caep-session-revoked-simple", caepTime, req("caep-session-revoked-simple", "u-1", session("dMTlD|1600802906337.16|16008.16")),
			outcome{decision: pdpv1.Decision_DECISION_DENY, reason: "session.revoked"},
			req("caep-session-revoked-simple", "u-1", session("a-new-session"))},
		{"caep-session-revoked-complex", caepTime, req("caep-session-revoked-complex", "99beb27c-c1c2-4955-882a-e0dc4996fcbc", session("dMTlD|1600802906337.16|16008.16")),
			outcome{decision: pdpv1.Decision_DECISION_DENY, reason: "session.revoked"},
			req("caep-session-revoked-complex", "someone-else", session("dMTlD|1600802906337.16|16008.16"))},
		{"caep-credential-change", caepTime, req("caep-credential-change", "jane.smith@example.com", nil),
			outcome{decision: pdpv1.Decision_DECISION_CHALLENGE, reason: "ssf.credential_change", stepUp: pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE},
			req("caep-credential-change", "jane.smith@example.com", func(r *pdpv1.CheckRequest) { r.Authentication.AuthenticatedAt = after })},
		{"caep-assurance-level-change", caepTime, req("caep-assurance-level-change", "jane.smith@example.com", nil),
			outcome{decision: pdpv1.Decision_DECISION_CHALLENGE, reason: "ssf.claims_change", stepUp: pdpv1.StepUpKind_STEP_UP_MFA},
			req("caep-assurance-level-change", "jane.smith@example.com", func(r *pdpv1.CheckRequest) { r.Authentication.MfaVerifiedAt = after })},
		{"caep-device-compliance-change", caepTime, req("caep-device-compliance-change", "u-1", func(r *pdpv1.CheckRequest) {
			r.Device = &pdpv1.Device{Id: "e9297990-14d2-42ec-a4a9-4036db86509a", Managed: true, Compliant: true}
		}), outcome{decision: pdpv1.Decision_DECISION_ALLOW, reason: "ssf.device_not_compliant", factor: "untrusted_device"}, nil},
		{"caep-risk-level-change", caepTime, req("caep-risk-level-change", "jane.doe@example.com", nil),
			outcome{decision: pdpv1.Decision_DECISION_ALLOW, factor: "external_risk"}, nil},
		{"risc-account-disabled", riscTime, req("risc-account-disabled", "7375626A656374", nil),
			outcome{decision: pdpv1.Decision_DECISION_DENY, reason: "account.disabled"}, req("risc-account-disabled", "someone-else", nil)},
		{"risc-credential-compromise", riscTime, req("risc-credential-compromise", "joe.smith@example.com", nil),
			outcome{decision: pdpv1.Decision_DECISION_CHALLENGE, reason: "ssf.credential_compromise", stepUp: pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE}, nil},
		{"risc-account-credential-change-required", riscTime, req("risc-account-credential-change-required", "7375626A656374", nil),
			outcome{decision: pdpv1.Decision_DECISION_CHALLENGE, reason: "ssf.credential_compromise", stepUp: pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE}, nil},
	}
	// The CAEP and RISC examples were issued years apart: one server each,
	// its clock just after their iat.
	tr := settest.NewTransmitter(t, "ES256", "k1")
	servers := map[time.Time]*pdptest.Server{}
	for _, iat := range []time.Time{caepTime, riscTime} {
		var names []string
		for _, c := range cases {
			if c.iat.Equal(iat) {
				names = append(names, c.example)
			}
		}
		servers[iat] = pdptest.StartWithClock(t, pdptest.NewClock(iat.Add(5*time.Second)), exampleStreams(t, tr, names...)...)
	}
	// Risk-level-change's example says LOW, which weighs 0: the factor is
	// there, the decision stays an allow.
	for _, c := range cases {
		srv := servers[c.iat]
		checkOutcome(t, srv, c.req, allow)
		if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, c.example, tr.Sign(t, settest.Example(t, c.example))); code != http.StatusAccepted {
			t.Fatalf("%s: push %d %s", c.example, code, errCode)
		}
		checkOutcome(t, srv, c.req, c.want)
		if c.unaffected != nil {
			checkOutcome(t, srv, c.unaffected, allow)
		}
	}
}

// riscTime is the iat of the RISC specification's examples.
var riscTime = time.Unix(1508184845, 0).UTC()

func TestRefusedSETsChangeNothingAndAReplayIsRefused(t *testing.T) {
	t.Parallel()
	const ex = "caep-session-revoked-simple"
	tr := settest.NewTransmitter(t, "ES256", "k1")
	srv := pdptest.StartWithClock(t, pdptest.NewClock(caepTime.Add(5*time.Second)), exampleStreams(t, tr, ex)...)
	revoked := &pdpv1.CheckRequest{Tenant: ex, Subject: &pdpv1.Subject{Id: "u-1", Roles: []string{"viewer"}},
		Device: &pdpv1.Device{Id: "d-1", Managed: true, Compliant: true}, Action: &pdpv1.Action{Name: "api.read"},
		Session: &pdpv1.Session{Id: "dMTlD|1600802906337.16|16008.16", StartedAt: timestamppb.New(caepTime.Add(-time.Hour))}}
	with := func(k string, v any) map[string]any {
		c := settest.Example(t, ex)
		c[k] = v
		return c
	}
	for _, tc := range []struct{ name, set, want string }{
		{"unsigned", settest.Unsigned(t, settest.Example(t, ex)), "authentication_failed"},
		{"HMAC", settest.SignHMAC(t, settest.Example(t, ex), []byte("a shared secret of 32 bytes!!!!")), "invalid_key"},
		{"unknown kid", settest.NewTransmitter(t, "ES256", "k2").Sign(t, settest.Example(t, ex)), "invalid_key"},
		{"wrong typ", tr.SignWithHeaders(t, settest.Example(t, ex), map[string]any{"typ": "JWT", "kid": "k1"}), "invalid_request"},
		{"wrong issuer", tr.Sign(t, with("iss", "https://evil.example/")), "invalid_issuer"},
		{"wrong audience", tr.Sign(t, with("aud", "https://other.example/")), "invalid_audience"},
		{"iat in the future", tr.Sign(t, with("iat", caepTime.Add(time.Hour).Unix())), "invalid_request"},
		{"unknown event", tr.Sign(t, with("events", map[string]any{"https://example.com/made-up": map[string]any{}})), "invalid_request"},
		{"unmatchable subject", tr.Sign(t, with("sub_id", map[string]any{"format": "phone_number", "phone_number": "+1 555 0100"})), "invalid_request"},
	} {
		if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, ex, tc.set); code != http.StatusBadRequest || errCode != tc.want {
			t.Errorf("%s: %d %q, want 400 %s", tc.name, code, errCode, tc.want)
		}
	}
	checkOutcome(t, srv, revoked, outcome{decision: pdpv1.Decision_DECISION_ALLOW})
	set := tr.Sign(t, settest.Example(t, ex))
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, ex, set); code != http.StatusAccepted {
		t.Fatalf("the valid SET: %d %s", code, errCode)
	}
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, ex, set); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Fatalf("the replay: %d %q, want 400 invalid_request", code, errCode)
	}
	checkOutcome(t, srv, revoked, outcome{decision: pdpv1.Decision_DECISION_DENY, reason: "session.revoked"})
}

// TestReplicasOnOneRedisAgreeAtTheNextDecision pushes a revocation to
// replica A and asks replica B at once: the effect is in Redis when A
// answers 202 and every decision reads it there, so B's very next Check
// sees it (well within the second the issue allows, with no waiting).
func TestReplicasOnOneRedisAgreeAtTheNextDecision(t *testing.T) {
	t.Parallel()
	const ex = "caep-session-revoked-simple"
	url := redistest.Start(t).URL(0)
	tr := settest.NewTransmitter(t, "ES256", "k1")
	opts := append(exampleStreams(t, tr, ex), pdptest.WithStore(url))
	a := pdptest.StartWithClock(t, pdptest.NewClock(caepTime.Add(5*time.Second)), opts...)
	b := pdptest.StartWithClock(t, pdptest.NewClock(caepTime.Add(5*time.Second)), opts...)
	revoked := &pdpv1.CheckRequest{Tenant: ex, Subject: &pdpv1.Subject{Id: "u-1", Roles: []string{"viewer"}},
		Device: &pdpv1.Device{Id: "d-1", Managed: true, Compliant: true}, Action: &pdpv1.Action{Name: "api.read"},
		Session: &pdpv1.Session{Id: "dMTlD|1600802906337.16|16008.16", StartedAt: timestamppb.New(caepTime.Add(-time.Hour))}}
	checkOutcome(t, b, revoked, outcome{decision: pdpv1.Decision_DECISION_ALLOW})
	set := tr.Sign(t, settest.Example(t, ex))
	start := time.Now()
	if code, errCode := pushSET(t, a.HTTP, a.HTTPURL, ex, set); code != http.StatusAccepted {
		t.Fatalf("push to A: %d %s", code, errCode)
	}
	checkOutcome(t, b, revoked, outcome{decision: pdpv1.Decision_DECISION_DENY, reason: "session.revoked"})
	t.Logf("B denied %v after the push to A started", time.Since(start))
	// The jti is shared too: B refuses what A applied.
	if code, errCode := pushSET(t, b.HTTP, b.HTTPURL, ex, set); code != http.StatusBadRequest || errCode != "invalid_request" {
		t.Fatalf("the replay to B: %d %q, want 400 invalid_request", code, errCode)
	}
}

func TestSSFMetricsCountReceivedAppliedAndRefusedPerStream(t *testing.T) {
	t.Parallel()
	const ex = "caep-credential-change"
	tr := settest.NewTransmitter(t, "ES256", "k1")
	srv := pdptest.StartWithClock(t, pdptest.NewClock(caepTime.Add(5*time.Second)), exampleStreams(t, tr, ex)...)
	set := tr.Sign(t, settest.Example(t, ex))
	pushSET(t, srv.HTTP, srv.HTTPURL, ex, set)
	pushSET(t, srv.HTTP, srv.HTTPURL, ex, set)
	pushSET(t, srv.HTTP, srv.HTTPURL, ex, settest.Unsigned(t, settest.Example(t, ex)))
	resp, err := srv.HTTP.Get(srv.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`pdp_ssf_events_received_total{stream="caep-credential-change"} 3`,
		`pdp_ssf_events_applied_total{event="credential-change",stream="caep-credential-change"} 1`,
		`pdp_ssf_events_refused_total{reason="invalid_request",stream="caep-credential-change"} 1`,
		`pdp_ssf_events_refused_total{reason="authentication_failed",stream="caep-credential-change"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestAnAppliedEventIsInTheExplanationOfTheDecisionItAffects(t *testing.T) {
	t.Parallel()
	const ex = "caep-session-revoked-complex"
	tr := settest.NewTransmitter(t, "ES256", "k1")
	srv := pdptest.StartWithClock(t, pdptest.NewClock(caepTime.Add(5*time.Second)), exampleStreams(t, tr, ex)...)
	if code, errCode := pushSET(t, srv.HTTP, srv.HTTPURL, ex, tr.Sign(t, settest.Example(t, ex))); code != http.StatusAccepted {
		t.Fatalf("push: %d %s", code, errCode)
	}
	resp, err := srv.Decisions.Check(context.Background(), &pdpv1.CheckRequest{
		Tenant: ex, Explain: true,
		Subject: &pdpv1.Subject{Id: "99beb27c-c1c2-4955-882a-e0dc4996fcbc", Roles: []string{"viewer"}},
		Device:  &pdpv1.Device{Id: "d-1", Managed: true, Compliant: true}, Action: &pdpv1.Action{Name: "api.read"},
		Session: &pdpv1.Session{Id: "dMTlD|1600802906337.16|16008.16", StartedAt: timestamppb.New(caepTime.Add(-time.Hour))},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range resp.GetExplanation() {
		if e.GetRule() == "ssf.session_revoked" && e.GetMatched() {
			for _, want := range []string{"stream " + ex, "jti 24c63fb56e5a2d77a6b512616ca9fa24", "Landspeed Policy Violation: C076E82F"} {
				if !strings.Contains(e.GetMessage(), want) {
					t.Errorf("explanation %q does not name %q", e.GetMessage(), want)
				}
			}
			// The subject (often an email) stays out of the message.
			if strings.Contains(e.GetMessage(), "99beb27c") {
				t.Errorf("explanation %q names the subject", e.GetMessage())
			}
			return
		}
	}
	t.Fatalf("no matched ssf.session_revoked in the explanation %v", resp.GetExplanation())
}
