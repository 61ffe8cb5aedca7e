package tenantdata

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

const (
	ns1h = int64(time.Hour)
	ns1m = int64(time.Minute)
)

// defaultWeightsDoc is DefaultWeights as the effective document shows it.
func defaultWeightsDoc() map[string]any {
	out := map[string]any{}
	for k, v := range DefaultWeights() {
		out[k] = v
	}
	return out
}

// baselineDoc is the effective document of an environment that sets nothing.
func baselineDoc(preset string, directQuery, keyIsolation bool, inactivity int64, mode string, privileged []any) map[string]any {
	return map[string]any{
		"preset": preset, "allow_direct_query": directQuery, "key_isolation": keyIsolation, "report_only": false,
		"report_only_rules":     []any{},
		"inactivity_timeout_ns": inactivity, "role_inactivity_timeouts_ns": map[string]any{},
		"session_warning_ns": 5 * ns1m, "cache_ttl_ns": int64(0),
		"mfa":            map[string]any{"mode": mode, "privileged_roles": privileged, "grace_period_ns": int64(0), "max_age_ns": 12 * ns1h},
		"auth_providers": map[string]any{"allowed": []any{}, "emergency": map[string]any{"enabled": false, "providers": []any{}, "break_glass_users": []any{}}},
		"email_domains":  []any{}, "ip_allowlist": []any{}, "ip_denylist": []any{},
		"countries": map[string]any{"allowed": []any{}, "blocked": []any{}},
		"roles":     map[string]any{},
		"risk": map[string]any{"step_up_threshold": 0.7, "deny_threshold": 0.9, "weights": defaultWeightsDoc(),
			"require_device_verification": false, "step_up_max_age_ns": 15 * ns1m},
		"incident": map[string]any{"failed_logins_threshold": int64(5), "failed_logins_window_ns": 15 * ns1m,
			"suspicious_ip_threshold": int64(10), "auto_block_ttl_ns": ns1h,
			"suspend_on_privilege_escalation": true, "brute_force_action": "challenge"},
		"compliance":        []any{},
		"sensitive_actions": []any{"admin.*", "db.direct_query", "*.delete", "export.*"},
	}
}

func TestEffectiveExample(t *testing.T) {
	t.Parallel()
	got := Effective(loadExample(t))

	development := baselineDoc("development", true, false, 12*ns1h, "off", []any{})
	staging := baselineDoc("staging", false, true, 8*ns1h, "privileged", []any{"admin", "billing-admin"})
	staging["ip_allowlist"] = []any{"203.0.113.0/24", "198.51.100.0/24"}
	weights := defaultWeightsDoc()
	weights["impossible_travel"], weights["ip_reputation"] = 0.6, 0.5
	production := map[string]any{
		"preset": "production", "allow_direct_query": false, "key_isolation": true, "report_only": false,
		"report_only_rules":           []any{"risk.step_up"},
		"inactivity_timeout_ns":       4 * ns1h,
		"role_inactivity_timeouts_ns": map[string]any{"admin": 2 * ns1h, "support": 90 * ns1m},
		"session_warning_ns":          10 * ns1m,
		"cache_ttl_ns":                int64(30 * time.Second),
		"mfa": map[string]any{"mode": "all", "privileged_roles": []any{},
			"enforced_from_ns": time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
			"grace_period_ns":  336 * ns1h, "max_age_ns": 8 * ns1h},
		"auth_providers": map[string]any{"allowed": []any{"saml:okta", "microsoft"},
			"emergency": map[string]any{"enabled": true, "providers": []any{"password"}, "break_glass_users": []any{"breakglass@acme.com"}}},
		"email_domains": []any{
			map[string]any{"domain": "acme.com", "include_subdomains": true},
			map[string]any{"domain": "acme-partner.example", "include_subdomains": false},
		},
		"ip_allowlist": []any{"203.0.113.0/24", "2001:db8::/32", "192.0.2.10/32"},
		"ip_denylist":  []any{"203.0.113.66/32", "2001:db8:bad::/48"},
		"countries":    map[string]any{"allowed": []any{"US", "GB", "DE", "NO"}, "blocked": []any{"KP"}},
		"roles": map[string]any{
			"admin":   map[string]any{"actions": []any{"*"}},
			"support": map[string]any{"actions": []any{"api.read", "tickets.*"}},
			"viewer":  map[string]any{"actions": []any{"api.read"}},
		},
		"risk": map[string]any{"step_up_threshold": 0.6, "deny_threshold": 0.85, "weights": weights,
			"business_hours": map[string]any{"start_minute": int64(8*60 + 30), "end_minute": int64(18 * 60),
				"days": []any{"mon", "tue", "wed", "thu", "fri"}, "timezone": "Europe/Berlin"},
			"require_device_verification": true, "step_up_max_age_ns": 10 * ns1m},
		"incident": map[string]any{"failed_logins_threshold": int64(3), "failed_logins_window_ns": 10 * ns1m,
			"suspicious_ip_threshold": int64(20), "auto_block_ttl_ns": 24 * ns1h,
			"suspend_on_privilege_escalation": true, "brute_force_action": "deny"},
		"compliance":        []any{"HIPAA", "SOX"},
		"sensitive_actions": []any{"admin.*", "db.direct_query", "*.delete", "export.*", "billing.refund"},
	}
	want := map[string]any{"plan": "enterprise", "environments": map[string]any{
		"development": development, "staging": staging, "production": production,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Effective (-want +got):\n%s", diff)
	}
}

func TestPresets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env, preset string
		want        map[string]any
	}{
		{"development", "", baselineDoc("development", true, false, 12*ns1h, "off", []any{})},
		{"staging", "", baselineDoc("staging", false, true, 8*ns1h, "privileged", []any{"admin"})},
		{"production", "", baselineDoc("production", false, true, 4*ns1h, "all", []any{})},
		{"eu-west", "", baselineDoc("production", false, true, 4*ns1h, "all", []any{})},
		{"qa", "development", baselineDoc("development", true, false, 12*ns1h, "off", []any{})},
		{"production", "staging", baselineDoc("staging", false, true, 8*ns1h, "privileged", []any{"admin"})},
		{"staging", "bogus", baselineDoc("production", false, true, 4*ns1h, "all", []any{})},
	} {
		t.Run(tc.env+"/"+tc.preset, func(t *testing.T) {
			t.Parallel()
			p := &pdpv1.TenantPolicy{Plan: "free", Environments: map[string]*pdpv1.SecurityPolicy{tc.env: {Preset: tc.preset}}}
			got := Effective(p)["environments"].(map[string]any)[tc.env]
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverridePrecedence(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "o.yaml", `
plan: enterprise
environments:
  production:
    key_isolation: false          # explicit false beats the baseline's true
    report_only: true
    mfa: {max_age: 1h}            # merged field by field: mode stays "all"
    risk:
      deny_threshold: 0.95        # step_up_threshold keeps its default
      weights: {unusual_time: 0.05}
    incident: {brute_force_action: deny}
    sensitive_actions: [billing.*] # lists replace the default list
  development:
    allow_direct_query: false     # explicit false beats the baseline's true
    mfa: {mode: all}
  staging:
    mfa: {privileged_roles: [ops]} # replaces the preset's [admin]
`)
	envs := Effective(p)["environments"].(map[string]any)
	get := func(env string, path ...string) any {
		var v any = envs[env]
		for _, k := range path {
			v = v.(map[string]any)[k]
		}
		return v
	}
	for _, tc := range []struct {
		env  string
		path []string
		want any
	}{
		{"production", []string{"key_isolation"}, false},
		{"production", []string{"report_only"}, true},
		{"production", []string{"mfa", "mode"}, "all"},
		{"production", []string{"mfa", "max_age_ns"}, ns1h},
		{"production", []string{"risk", "step_up_threshold"}, 0.7},
		{"production", []string{"risk", "deny_threshold"}, 0.95},
		{"production", []string{"risk", "weights", "unusual_time"}, 0.05},
		{"production", []string{"risk", "weights", "impossible_travel"}, 0.5},
		{"production", []string{"incident", "brute_force_action"}, "deny"},
		{"production", []string{"incident", "failed_logins_threshold"}, int64(5)},
		{"production", []string{"sensitive_actions"}, []any{"billing.*"}},
		{"development", []string{"allow_direct_query"}, false},
		{"development", []string{"key_isolation"}, false},
		{"development", []string{"mfa", "mode"}, "all"},
		{"development", []string{"inactivity_timeout_ns"}, 12 * ns1h},
		{"staging", []string{"mfa", "mode"}, "privileged"},
		{"staging", []string{"mfa", "privileged_roles"}, []any{"ops"}},
	} {
		if diff := cmp.Diff(tc.want, get(tc.env, tc.path...)); diff != "" {
			t.Errorf("%s %v (-want +got):\n%s", tc.env, tc.path, diff)
		}
	}
}

func TestMergedLeavesInputAlone(t *testing.T) {
	t.Parallel()
	sp := loadExampleEnv(t)
	before := proto.Clone(sp)
	m := Merged("production", sp)
	m.GetRisk().GetWeights()["unusual_time"] = 1
	m.GetRoles()["admin"].Actions[0] = "changed"
	if diff := cmp.Diff(before, sp, protocmp.Transform()); diff != "" {
		t.Errorf("Merged or its result changed the input:\n%s", diff)
	}
	if Baseline("production").GetRisk().GetWeights()["unusual_time"] != 0.2 {
		t.Error("Baseline shares its weights map")
	}
}

func TestDataIsRegoData(t *testing.T) {
	t.Parallel()
	data := Data(map[string]*pdpv1.TenantPolicy{"acme": loadExample(t), "tiny": minimal()})
	if _, ok := data["acme"].(map[string]any)["environments"].(map[string]any)["production"]; !ok {
		t.Fatal("Data lacks acme's production environment")
	}
	checkPlain(t, "data", data)
	v, err := ast.InterfaceToValue(data)
	if err != nil {
		t.Fatalf("ast.InterfaceToValue: %v", err)
	}
	// The Rego value and a JSON round trip of the Go value agree.
	js, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ast.ValueFromReader(bytesReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if v.Compare(fromJSON) != 0 {
		t.Error("InterfaceToValue and the JSON form differ")
	}
	ref := ast.MustParseRef(`x.acme.environments.production.inactivity_timeout_ns`)
	got, err := v.Find(ref[1:])
	if err != nil || got.String() != fmt.Sprint(4*ns1h) {
		t.Errorf("inactivity_timeout_ns = %v, %v", got, err)
	}
}

// checkPlain fails on any value that is not a plain JSON-like Go type.
func checkPlain(t *testing.T, path string, v any) {
	t.Helper()
	switch x := v.(type) {
	case string, bool, int64, float64, json.Number:
	case []any:
		for i, e := range x {
			checkPlain(t, fmt.Sprintf("%s[%d]", path, i), e)
		}
	case map[string]any:
		for k, e := range x {
			checkPlain(t, path+"."+k, e)
		}
	default:
		t.Errorf("%s is a %T", path, v)
	}
}

// TestEffectiveEmergencyWindow: a YAML max_duration reaches the document
// as max_duration_ns, and an emergency without one has no such key (no
// end, as before the setting existed).
func TestEffectiveEmergencyWindow(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "e.yaml", `tenant: e
plan: enterprise
environments:
  production:
    auth_providers:
      allowed: [google]
      emergency: {enabled: true, providers: [password], break_glass_users: [bg], max_duration: 4h}
  staging:
    auth_providers:
      allowed: [google]
      emergency: {enabled: true, providers: [password], break_glass_users: [bg]}
`)
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
	doc := Effective(p)["environments"].(map[string]any)
	emergency := func(env string) map[string]any {
		return doc[env].(map[string]any)["auth_providers"].(map[string]any)["emergency"].(map[string]any)
	}
	if got := emergency("production")["max_duration_ns"]; got != 4*ns1h {
		t.Errorf("production max_duration_ns = %v, want %d", got, 4*ns1h)
	}
	if got, ok := emergency("staging")["max_duration_ns"]; ok {
		t.Errorf("staging has max_duration_ns %v without setting it", got)
	}
}

// TestValidateEmergencyWindowMessage names the bounds in the message.
func TestValidateEmergencyWindowMessage(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "e.yaml", "plan: enterprise\nenvironments:\n  production:\n    auth_providers:\n      emergency: {max_duration: 10m}\n")
	want := "environments.production.auth_providers.emergency.max_duration: must be between 15m and 168h, not 10m"
	if err := Validate(p); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v does not contain %q", err, want)
	}
}
