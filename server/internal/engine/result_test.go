package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// minimalDoc is the smallest valid decision document.
const minimalDoc = `{"decision": "allow", "reasons": [], "step_ups": [], "obligations": [],
	"risk": {"score": 0, "level": "low", "factors": []}, "enforced": true}`

// withDoc returns minimalDoc with key set to value (Rego syntax), or
// without key when value is empty.
func withDoc(key, value string) string {
	o := ast.MustParseTerm(minimalDoc).Value.(ast.Object)
	k := ast.StringTerm(key)
	if value == "" {
		out := ast.NewObject()
		o.Foreach(func(kk, v *ast.Term) {
			if !kk.Equal(k) {
				out.Insert(kk, v)
			}
		})
		return out.String()
	}
	o.Insert(k, ast.MustParseTerm(value))
	return o.String()
}

func TestParseDecision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want *decision.Decision
	}{
		{
			name: "minimal allow",
			doc:  minimalDoc,
			want: &decision.Decision{Kind: decision.KindAllow, Enforced: true, WouldDecide: decision.KindAllow,
				Risk: decision.Risk{Level: decision.RiskLow}},
		},
		{
			name: "every field",
			doc: `{
				"decision": "challenge",
				"reasons": [{"code": "authn.mfa_required", "message": "mfa too old", "rule": "mfa.required"}],
				"step_ups": [
					{"kind": "mfa", "reason_code": "authn.mfa_required", "max_age_ns": 3600000000000},
					{"kind": "use_provider", "reason_code": "authn.provider_not_allowed", "allowed_providers": ["google", "saml:okta"]},
					{"kind": "enroll_mfa", "reason_code": "authn.mfa_enrollment_required", "deadline_ns": 1767268800000000000}
				],
				"obligations": [{"kind": "audit", "params": {"who": "u-1"}}, {"kind": "notify_security", "params": {}}, {"kind": "block_ip"}],
				"risk": {"score": 0.75, "level": "high", "factors": [{"name": "impossible_travel", "weight": 0.5, "detail": "PT to BR"}, {"name": "unusual_time", "weight": 0.25, "detail": "3am"}]},
				"session": {"expires_at_ns": 1767272400000000000, "warn_at_ns": 1767272100000000000, "idle_timeout_ns": 3600000000000},
				"cache_ttl_ns": 0,
				"enforced": true,
				"would_decide": "challenge",
				"explanation": [
					{"rule": "mfa.required", "code": "authn.mfa_required", "effect": "challenge", "matched": true, "message": "mfa too old"},
					{"rule": "core.role_forbidden", "code": "authz.role_forbidden", "effect": "deny", "matched": false, "message": "granted"}
				]
			}`,
			want: &decision.Decision{
				Kind: decision.KindChallenge,
				StepUps: []decision.StepUp{
					{Kind: decision.StepUpMFA, ReasonCode: "authn.mfa_required", MaxAge: time.Hour},
					{Kind: decision.StepUpUseProvider, ReasonCode: "authn.provider_not_allowed", AllowedProviders: []string{"google", "saml:okta"}},
					{Kind: decision.StepUpEnrollMFA, ReasonCode: "authn.mfa_enrollment_required", Deadline: t0},
				},
				Reasons: []decision.Reason{{Code: "authn.mfa_required", Message: "mfa too old", Rule: "mfa.required"}},
				Risk: decision.Risk{Score: 0.75, Level: decision.RiskHigh, Factors: []decision.RiskFactor{
					{Name: "impossible_travel", Weight: 0.5, Detail: "PT to BR"},
					{Name: "unusual_time", Weight: 0.25, Detail: "3am"},
				}},
				Session: decision.SessionControl{ExpiresAt: t0.Add(time.Hour), WarnAt: t0.Add(55 * time.Minute), IdleTimeout: time.Hour},
				Obligations: []decision.Obligation{
					{Kind: decision.ObligationAudit, Params: map[string]string{"who": "u-1"}},
					{Kind: decision.ObligationNotifySecurity},
					{Kind: decision.ObligationBlockIP},
				},
				Enforced:    true,
				WouldDecide: decision.KindChallenge,
				Explanation: []decision.Explanation{
					{Rule: "mfa.required", Code: "authn.mfa_required", Effect: "challenge", Matched: true, Message: "mfa too old"},
					{Rule: "core.role_forbidden", Code: "authz.role_forbidden", Effect: "deny", Matched: false, Message: "granted"},
				},
			},
		},
		{
			name: "report-only",
			doc: `{"decision": "allow", "reasons": [], "step_ups": [], "obligations": [],
				"risk": {"score": 0, "level": "low", "factors": []},
				"enforced": false, "would_decide": "deny", "cache_ttl_ns": 30000000000}`,
			want: &decision.Decision{Kind: decision.KindAllow, Enforced: false, WouldDecide: decision.KindDeny,
				CacheTTL: 30 * time.Second, Risk: decision.Risk{Level: decision.RiskLow}},
		},
		{
			name: "integral numbers written with exponent or fraction",
			doc:  withDoc("cache_ttl_ns", "1.5e9"),
			want: &decision.Decision{Kind: decision.KindAllow, Enforced: true, WouldDecide: decision.KindAllow,
				CacheTTL: 1500 * time.Millisecond, Risk: decision.Risk{Level: decision.RiskLow}},
		},
		{
			name: "timestamp beyond float64 precision",
			doc:  withDoc("session", `{"expires_at_ns": 1767268800000000001}`),
			want: &decision.Decision{Kind: decision.KindAllow, Enforced: true, WouldDecide: decision.KindAllow,
				Session: decision.SessionControl{ExpiresAt: t0.Add(time.Nanosecond)}, Risk: decision.Risk{Level: decision.RiskLow}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDecision(ast.MustParseTerm(tt.doc).Value)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decision mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDecisionRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"not an object", `"allow"`, "decision: want object, got string"},
		{"true", `true`, "decision: want object, got boolean"},
		{"unknown decision word", withDoc("decision", `"permit"`), `decision: unknown decision "permit"`},
		{"decision not a string", withDoc("decision", `true`), "decision: want string, got boolean"},
		{"missing decision", withDoc("decision", ""), "decision: missing"},
		{"missing reasons", withDoc("reasons", ""), "reasons: missing"},
		{"missing step_ups", withDoc("step_ups", ""), "step_ups: missing"},
		{"missing obligations", withDoc("obligations", ""), "obligations: missing"},
		{"missing risk", withDoc("risk", ""), "risk: missing"},
		{"missing enforced", withDoc("enforced", ""), "enforced: missing"},
		{"unknown key", withDoc("allowed", "true"), `unexpected key "allowed"`},
		{"reasons a set", withDoc("reasons", `{{"code": "a", "message": "b", "rule": "c"}}`), "reasons: want array, got set"},
		{"reason without rule", withDoc("reasons", `[{"code": "a", "message": "b"}]`), "reasons[0].rule: missing"},
		{"reason code a number", withDoc("reasons", `[{"code": 1, "message": "b", "rule": "c"}]`), "reasons[0].code: want string, got number"},
		{"reason extra key", withDoc("reasons", `[{"code": "a", "message": "b", "rule": "c", "step_ups": []}]`), `reasons[0]: unexpected key "step_ups"`},
		{"enforced a string", withDoc("enforced", `"yes"`), "enforced: want boolean, got string"},
		{"unknown step-up kind", withDoc("step_ups", `[{"kind": "sms", "reason_code": "x"}]`), `step_ups[0].kind: unknown value "sms"`},
		{"step-up without reason code", withDoc("step_ups", `[{"kind": "mfa"}]`), "step_ups[0].reason_code: missing"},
		{"negative max age", withDoc("step_ups", `[{"kind": "mfa", "reason_code": "x", "max_age_ns": -1}]`), "step_ups[0].max_age_ns: negative duration"},
		{"fractional max age", withDoc("step_ups", `[{"kind": "mfa", "reason_code": "x", "max_age_ns": 1.5}]`), "step_ups[0].max_age_ns: want an integer"},
		{"max age beyond int64", withDoc("step_ups", `[{"kind": "mfa", "reason_code": "x", "max_age_ns": 1e30}]`), "step_ups[0].max_age_ns: want an integer"},
		{"providers not strings", withDoc("step_ups", `[{"kind": "use_provider", "reason_code": "x", "allowed_providers": [1]}]`), "step_ups[0].allowed_providers[0]: want string"},
		{"unknown obligation", withDoc("obligations", `[{"kind": "page_oncall", "params": {}}]`), `obligations[0].kind: unknown value "page_oncall"`},
		{"param not a string", withDoc("obligations", `[{"kind": "audit", "params": {"n": 1}}]`), "obligations[0].params.n: want string, got number"},
		{"unknown risk level", withDoc("risk", `{"score": 0, "level": "severe", "factors": []}`), `risk.level: unknown value "severe"`},
		{"score a string", withDoc("risk", `{"score": "0.1", "level": "low", "factors": []}`), "risk.score: want number, got string"},
		{"score above one", withDoc("risk", `{"score": 1.5, "level": "critical", "factors": []}`), "risk.score: 1.5 outside 0..1"},
		{"risk without factors", withDoc("risk", `{"score": 0, "level": "low"}`), "risk.factors: missing"},
		{"factor without detail", withDoc("risk", `{"score": 0.2, "level": "low", "factors": [{"name": "x", "weight": 0.2}]}`), "risk.factors[0].detail: missing"},
		{"session not an object", withDoc("session", `[]`), "session: want object, got array"},
		{"session unknown key", withDoc("session", `{"ends": 1}`), `session: unexpected key "ends"`},
		{"negative cache ttl", withDoc("cache_ttl_ns", `-5`), "cache_ttl_ns: negative duration"},
		{"cache ttl a string", withDoc("cache_ttl_ns", `"30s"`), "cache_ttl_ns: want number, got string"},
		{"unknown would_decide", withDoc("would_decide", `"maybe"`), `would_decide: unknown decision "maybe"`},
		{"enforced but would_decide differs", withDoc("would_decide", `"deny"`), "enforced allow but would_decide deny"},
		{"report-only without would_decide", withDoc("enforced", `false`), "report-only decision without would_decide"},
		{"challenge without step-ups", withDoc("decision", `"challenge"`), "challenge without step_ups"},
		{"explanation effect unknown", withDoc("explanation", `[{"rule": "r", "code": "c", "effect": "boom", "matched": true, "message": "m"}]`), `explanation[0].effect: unknown value "boom"`},
		{"explanation matched a string", withDoc("explanation", `[{"rule": "r", "code": "c", "effect": "deny", "matched": "yes", "message": "m"}]`), "explanation[0].matched: want boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDecision(ast.MustParseTerm(tt.doc).Value)
			if err == nil {
				t.Fatalf("parseDecision(%s) = %+v, want error", tt.doc, got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}
