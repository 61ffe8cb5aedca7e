package tenantdata

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestParseSpellingsAgree(t *testing.T) {
	t.Parallel()
	snake := loadExample(t)
	data, err := os.ReadFile("testdata/acme-camel.json")
	if err != nil {
		t.Fatal(err)
	}
	camel := mustParse(t, "acme-camel.json", string(data))
	if diff := cmp.Diff(snake, camel, protocmp.Transform()); diff != "" {
		t.Errorf("snake_case YAML and lowerCamelCase JSON differ (-yaml +json):\n%s", diff)
	}
	prod := snake.GetEnvironments()["production"]
	if got := prod.GetRoleInactivityTimeouts()["support"].AsDuration(); got != 90*time.Minute {
		t.Errorf("role_inactivity_timeouts.support = %v, want 90m", got)
	}
	want := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	if got := prod.GetMfa().GetEnforcedFrom().AsTime(); !got.Equal(want) {
		t.Errorf("mfa.enforced_from = %v, want %v", got, want)
	}
	if got := prod.GetCountries().GetAllowed(); !cmp.Equal(got, []string{"us", "GB", "DE", "NO"}) {
		t.Errorf(`countries.allowed = %q: "NO" must stay a string (YAML 1.2)`, got)
	}
}

func TestParseDurations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{`"4h"`, 4 * time.Hour},
		{`90m`, 90 * time.Minute},
		{`1h30m`, 90 * time.Minute},
		{`14400s`, 4 * time.Hour},
		{`"1.5s"`, 1500 * time.Millisecond},
		{`250ms`, 250 * time.Millisecond},
		{`0`, 0},
		{`0s`, 0},
		{`-1h`, -time.Hour},
		{`" 2h "`, 2 * time.Hour},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, "d.yaml", "plan: paid\nenvironments:\n  production:\n    role_inactivity_timeouts:\n      admin: "+tc.in+"\n    cache_ttl: "+tc.in+"\n")
			sp := p.GetEnvironments()["production"]
			want := durationpb.New(tc.want)
			if diff := cmp.Diff(want, sp.GetCacheTtl(), protocmp.Transform()); diff != "" {
				t.Errorf("cache_ttl (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, sp.GetRoleInactivityTimeouts()["admin"], protocmp.Transform()); diff != "" {
				t.Errorf("role_inactivity_timeouts.admin (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProtojsonDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 4 * time.Hour: "14400s", 1500 * time.Millisecond: "1.5s",
		-1500 * time.Millisecond: "-1.5s", time.Nanosecond: "0.000000001s", -time.Hour: "-3600s",
	} {
		if got := protojsonDuration(d); got != want {
			t.Errorf("protojsonDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseTimestamps(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"2025-03-01T00:00:00Z":           time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
		`"2025-03-01T09:30:00+02:00"`:    time.Date(2025, 3, 1, 7, 30, 0, 0, time.UTC),
		"2025-03-01T00:00:00.123456789Z": time.Date(2025, 3, 1, 0, 0, 0, 123456789, time.UTC),
		"2025-03-01":                     time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
	} {
		p := mustParse(t, "t.yaml", "plan: enterprise\nenvironments:\n  production:\n    mfa:\n      enforced_from: "+in+"\n")
		if diff := cmp.Diff(timestamppb.New(want), p.GetEnvironments()["production"].GetMfa().GetEnforcedFrom(), protocmp.Transform()); diff != "" {
			t.Errorf("enforced_from %s (-want +got):\n%s", in, diff)
		}
	}
}

func TestParseNormalizesWords(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "n.yaml", `
plan: Enterprise
environments:
  production:
    preset: PRODUCTION
    mfa: {mode: off}
    incident: {brute_force_action: Deny}
    compliance: [hipaa, pci-dss, PCI DSS x, Sox, gdpr]
    auth_providers:
      allowed: [Google, OIDC:Okta, SAML:corp, weird]
      emergency: {providers: [PASSWORD]}
    risk:
      business_hours: {start: "09:00", end: "17:00", days: [Monday, TUE, wed, Funday]}
`)
	sp := p.GetEnvironments()["production"]
	got := map[string]any{
		"plan": p.GetPlan(), "preset": sp.GetPreset(), "mode": sp.GetMfa().GetMode(),
		"bfa": sp.GetIncident().GetBruteForceAction(), "compliance": sp.GetCompliance(),
		"allowed": sp.GetAuthProviders().GetAllowed(), "emergency": sp.GetAuthProviders().GetEmergency().GetProviders(),
		"days": sp.GetRisk().GetBusinessHours().GetDays(),
	}
	want := map[string]any{
		"plan": "enterprise", "preset": "production", "mode": "off", "bfa": "deny",
		"compliance": []string{"HIPAA", "PCI_DSS", "PCI DSS x", "SOX", "GDPR"},
		"allowed":    []string{"google", "oidc:Okta", "saml:corp", "weird"},
		"emergency":  []string{"password"},
		"days":       []string{"mon", "tue", "wed", "Funday"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalised words (-want +got):\n%s", diff)
	}
	again := proto.Clone(p).(*pdpv1.TenantPolicy)
	Normalize(again)
	if diff := cmp.Diff(p, again, protocmp.Transform()); diff != "" {
		t.Errorf("Normalize is not idempotent:\n%s", diff)
	}
}

func TestParseSniffsSyntax(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "body", "acme.txt"} {
		j := mustParse(t, name, `{"plan": "paid", "environments": {"production": {"keyIsolation": true}}}`)
		y := mustParse(t, name, "plan: paid\nenvironments: {production: {key_isolation: true}}\n")
		if diff := cmp.Diff(j, y, protocmp.Transform()); diff != "" {
			t.Errorf("name %q: JSON and YAML differ:\n%s", name, diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	deepJSON := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	deepYAML := "plan: " + strings.Repeat("[", 100) + strings.Repeat("]", 100)
	for _, tc := range []struct {
		name, file, src string
		wantFields      []string // violation paths; nil for a document error
		wantMsg         string   // substring of the error text
	}{
		{name: "empty", file: "e.yaml", src: "", wantMsg: "e.yaml: tenant policy is empty"},
		{name: "blank", file: "e.yaml", src: " \n\t\n", wantMsg: "is empty"},
		{name: "comments only", file: "e.yaml", src: "# nothing\n", wantMsg: "is empty"},
		{name: "null", file: "e.json", src: "null", wantMsg: "is empty"},
		{name: "yaml list", file: "l.yaml", src: "- plan: paid\n", wantMsg: "must be a mapping of settings (tenant, plan, environments), not a list"},
		{name: "json scalar", file: "s.json", src: `"hello"`, wantMsg: `not the string "hello"`},
		{name: "too large", file: "big.yaml", src: "plan: paid\n#" + strings.Repeat("x", MaxFileSize), wantMsg: "larger than the limit"},
		{name: "deep json", file: "d.json", src: deepJSON, wantMsg: "nested more than 32 levels"},
		{name: "deep yaml", file: "d.yaml", src: deepYAML, wantMsg: "nested more than 32 levels"},
		{name: "yaml syntax", file: "x.yaml", src: "plan: [paid\n", wantMsg: "x.yaml: tenant policy is not valid YAML"},
		{name: "json syntax names line", file: "x.json", src: "{\n\"plan\": \"paid\",\n}", wantMsg: "is not valid JSON: line 3"},
		{name: "json truncated", file: "x.json", src: `{"plan": "paid"`, wantMsg: "JSON ends before the document is complete"},
		{name: "json trailing data", file: "x.json", src: `{"plan": "paid"} {}`, wantMsg: "data after the top-level value"},
		{name: "yaml duplicate key", file: "x.yaml", src: "plan: paid\nplan: free\n", wantMsg: `mapping key "plan" already defined`},
		{name: "json duplicate key", file: "x.json", src: `{"plan": "paid", "plan": "free"}`, wantMsg: `JSON key "plan" appears twice`},
		{name: "two documents", file: "x.yaml", src: "plan: paid\n---\nplan: free\n", wantMsg: "more than one YAML document"},
		{name: "nan", file: "x.yaml", src: "plan: .nan\n", wantMsg: "not a finite number"},
		{name: "both spellings", file: "x.yaml", src: "environments:\n  production:\n    cache_ttl: 1s\n    cacheTtl: 2s\n",
			wantFields: []string{"environments.production.cache_ttl"}},
		{name: "unknown field named by path", file: "x.yaml", src: "plan: paid\nenvironments:\n  production:\n    mfa:\n      modes: all\n",
			wantFields: []string{"environments.production.mfa.modes"}},
		{name: "unknown field suggestion", file: "x.yaml", src: "environments:\n  production:\n    Inactivity-Timeout: 4h\n",
			wantFields: []string{"environments.production.Inactivity-Timeout"}, wantMsg: `did you mean "inactivity_timeout"?`},
		{name: "unknown top-level field", file: "x.json", src: `{"plan": "paid", "owner": "bob"}`, wantFields: []string{"owner"}},
		{name: "bad durations", file: "x.yaml", src: "environments:\n  production:\n    inactivity_timeout: 4 hours\n    session_warning: 300\n    role_inactivity_timeouts: {admin: 1d}\n",
			wantFields: []string{"environments.production.inactivity_timeout", "environments.production.role_inactivity_timeouts.admin", "environments.production.session_warning"},
			wantMsg:    `"4 hours" is not a duration; write it like "4h", "90m", "1h30m" or "14400s"`},
		{name: "bad timestamp", file: "x.yaml", src: "environments:\n  production:\n    mfa: {enforced_from: next tuesday}\n",
			wantFields: []string{"environments.production.mfa.enforced_from"}, wantMsg: "not an RFC 3339 timestamp"},
		{name: "wrong types", file: "x.yaml", src: `
plan: [paid]
environments:
  production:
    allow_direct_query: "yes"
    mfa: all
    ip_allowlist: 10.0.0.0/8
    risk: {step_up_threshold: high, weights: {unusual_time: "0.5"}}
    incident: {failed_logins_threshold: -1, suspicious_ip_threshold: 2.5}
    roles: {admin: {actions: ["*", ~]}}
    compliance: [HIPAA, 7]
`, wantFields: []string{
			"environments.production.allow_direct_query",
			"environments.production.compliance[1]",
			"environments.production.incident.failed_logins_threshold",
			"environments.production.incident.suspicious_ip_threshold",
			"environments.production.ip_allowlist",
			"environments.production.mfa",
			"environments.production.risk.step_up_threshold",
			"environments.production.risk.weights.unusual_time",
			"environments.production.roles.admin.actions[1]",
			"plan",
		}},
		{name: "uint32 out of range", file: "x.json", src: `{"environments": {"production": {"incident": {"failedLoginsThreshold": 4294967296}}}}`,
			wantFields: []string{"environments.production.incident.failed_logins_threshold"}, wantMsg: "out of range"},
		{name: "empty map value", file: "x.yaml", src: "environments:\n  production:\n    role_inactivity_timeouts: {admin: }\n",
			wantFields: []string{"environments.production.role_inactivity_timeouts.admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tc.file, []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded with %v", p)
			}
			if !errors.Is(err, fault.ErrInvalidArgument) {
				t.Fatalf("error %v is not InvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name the file %q", err, tc.file)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			got := fieldsOf(t, err, fault.InvalidArgument)
			if len(got) == 0 {
				got = nil
			}
			if diff := cmp.Diff(tc.wantFields, got); diff != "" {
				t.Errorf("violation fields (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestParseNullMeansUnset(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "x.yaml", "plan: paid\nenvironments:\n  production:\n    mfa:\n    key_isolation: ~\n    roles:\n      viewer:\n  development:\n")
	want := map[string]*pdpv1.SecurityPolicy{
		"production":  {Roles: map[string]*pdpv1.Role{"viewer": {}}},
		"development": {},
	}
	if diff := cmp.Diff(want, p.GetEnvironments(), protocmp.Transform()); diff != "" {
		t.Errorf("null settings must be unset and empty environments kept (-want +got):\n%s", diff)
	}
}
