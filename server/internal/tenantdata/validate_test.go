package tenantdata

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestValidateExample(t *testing.T) {
	t.Parallel()
	if err := Validate(loadExample(t)); err != nil {
		t.Fatalf("the complete example must be valid: %v", err)
	}
	if err := Validate(nil); !errors.Is(err, fault.ErrInvalidArgument) {
		t.Fatalf("Validate(nil) = %v", err)
	}
}

// P is the production environment's path prefix in violation fields.
const P = "environments.production."

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

func TestValidate(t *testing.T) {
	t.Parallel()
	type env = pdpv1.SecurityPolicy
	for _, tc := range []struct {
		name string
		edit func(p *pdpv1.TenantPolicy, sp *env)
		want []string // violation fields; nil when valid
	}{
		{"minimal", func(*pdpv1.TenantPolicy, *env) {}, nil},

		// tenant, plan, environments
		{"tenant missing", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = "" }, []string{"tenant"}},
		{"tenant uppercase", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = "Acme" }, []string{"tenant"}},
		{"tenant leading dash", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = "-acme" }, []string{"tenant"}},
		{"tenant dot", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = "acme.io" }, []string{"tenant"}},
		{"tenant 63 chars", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = strings.Repeat("a", 63) }, nil},
		{"tenant 64 chars", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = strings.Repeat("a", 64) }, []string{"tenant"}},
		{"tenant charset", func(p *pdpv1.TenantPolicy, _ *env) { p.Tenant = "0acme_eu-1" }, nil},
		{"plan missing", func(p *pdpv1.TenantPolicy, _ *env) { p.Plan = "" }, []string{"plan"}},
		{"plan unknown", func(p *pdpv1.TenantPolicy, _ *env) { p.Plan = "gold" }, []string{"plan"}},
		{"plan not normalised", func(p *pdpv1.TenantPolicy, _ *env) { p.Plan = "Enterprise" }, []string{"plan"}},
		{"plan free", func(p *pdpv1.TenantPolicy, _ *env) { p.Plan = "free" }, nil},
		{"no environments", func(p *pdpv1.TenantPolicy, _ *env) { p.Environments = nil }, []string{"environments"}},
		{"environment name", func(p *pdpv1.TenantPolicy, _ *env) { p.Environments["Prod EU"] = &env{} }, []string{"environments.Prod EU"}},
		{"custom environment", func(p *pdpv1.TenantPolicy, _ *env) { p.Environments["eu-west_2"] = nil }, nil},
		{"preset unknown", func(_ *pdpv1.TenantPolicy, sp *env) { sp.Preset = "prod" }, []string{P + "preset"}},
		{"preset development", func(_ *pdpv1.TenantPolicy, sp *env) { sp.Preset = "development" }, nil},

		// sessions
		{"inactivity 1h", func(_ *pdpv1.TenantPolicy, sp *env) { sp.InactivityTimeout = dur(time.Hour) }, nil},
		{"inactivity 24h", func(_ *pdpv1.TenantPolicy, sp *env) { sp.InactivityTimeout = dur(24 * time.Hour) }, nil},
		{"inactivity 59m", func(_ *pdpv1.TenantPolicy, sp *env) { sp.InactivityTimeout = dur(59 * time.Minute) }, []string{P + "inactivity_timeout"}},
		{"inactivity 30m", func(_ *pdpv1.TenantPolicy, sp *env) { sp.InactivityTimeout = dur(30 * time.Minute) }, []string{P + "inactivity_timeout"}},
		{"inactivity 24h1m", func(_ *pdpv1.TenantPolicy, sp *env) { sp.InactivityTimeout = dur(24*time.Hour + time.Minute) }, []string{P + "inactivity_timeout"}},
		{"inactivity 25h", func(_ *pdpv1.TenantPolicy, sp *env) { sp.InactivityTimeout = dur(25 * time.Hour) }, []string{P + "inactivity_timeout"}},
		{"inactivity invalid proto", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.InactivityTimeout = &durationpb.Duration{Seconds: 1, Nanos: -1}
		}, []string{P + "inactivity_timeout"}},
		{"role timeout 1h", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.RoleInactivityTimeouts = map[string]*durationpb.Duration{"admin": dur(time.Hour)}
		}, nil},
		{"role timeout 59m and 24h1m", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.RoleInactivityTimeouts = map[string]*durationpb.Duration{"admin": dur(59 * time.Minute), "ops": dur(24*time.Hour + time.Minute)}
		}, []string{P + "role_inactivity_timeouts.admin", P + "role_inactivity_timeouts.ops"}},
		{"role timeout bad name and nil", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.RoleInactivityTimeouts = map[string]*durationpb.Duration{"bad role": dur(time.Hour), "x": nil}
		}, []string{P + "role_inactivity_timeouts.bad role", P + "role_inactivity_timeouts.x"}},
		{"warning 5m", func(_ *pdpv1.TenantPolicy, sp *env) { sp.SessionWarning = dur(5 * time.Minute) }, nil},
		{"warning 0", func(_ *pdpv1.TenantPolicy, sp *env) { sp.SessionWarning = dur(0) }, []string{P + "session_warning"}},
		{"warning negative", func(_ *pdpv1.TenantPolicy, sp *env) { sp.SessionWarning = dur(-time.Minute) }, []string{P + "session_warning"}},
		{"warning equals preset timeout", func(_ *pdpv1.TenantPolicy, sp *env) { sp.SessionWarning = dur(4 * time.Hour) }, []string{P + "session_warning"}},
		{"warning below set timeout", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.InactivityTimeout, sp.SessionWarning = dur(10*time.Hour), dur(5*time.Hour)
		}, nil},
		{"warning not below a role timeout", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.SessionWarning = dur(time.Hour)
			sp.RoleInactivityTimeouts = map[string]*durationpb.Duration{"admin": dur(time.Hour)}
		}, []string{P + "session_warning"}},

		// mfa
		{"mfa mode unknown", func(_ *pdpv1.TenantPolicy, sp *env) { sp.Mfa = &pdpv1.MFAPolicy{Mode: "sometimes"} }, []string{P + "mfa.mode"}},
		{"mfa privileged without roles", func(_ *pdpv1.TenantPolicy, sp *env) { sp.Mfa = &pdpv1.MFAPolicy{Mode: "privileged"} }, []string{P + "mfa.privileged_roles"}},
		{"mfa privileged inherits staging roles", func(p *pdpv1.TenantPolicy, sp *env) {
			sp.Preset = "staging"
			sp.Mfa = &pdpv1.MFAPolicy{Mode: "privileged"}
		}, nil},
		{"mfa privileged roles checked", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Mfa = &pdpv1.MFAPolicy{Mode: "privileged", PrivilegedRoles: []string{"admin", "admin", "bad role"}}
		}, []string{P + "mfa.privileged_roles[1]", P + "mfa.privileged_roles[2]"}},
		{"mfa durations at bounds", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Mfa = &pdpv1.MFAPolicy{GracePeriod: dur(MaxMFAGracePeriod), MaxAge: dur(0)}
		}, nil},
		{"mfa durations out of bounds", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Mfa = &pdpv1.MFAPolicy{GracePeriod: dur(-time.Second), MaxAge: dur(MaxMFAMaxAge + time.Second)}
		}, []string{P + "mfa.grace_period", P + "mfa.max_age"}},
		{"mfa enforced_from invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Mfa = &pdpv1.MFAPolicy{EnforcedFrom: &timestamppb.Timestamp{Seconds: math.MaxInt64}}
		}, []string{P + "mfa.enforced_from"}},

		// providers
		{"providers valid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Allowed: []string{"password", "google", "github", "microsoft", "saml:okta", "oidc:Azure_AD-1.eu"}}
		}, nil},
		{"providers invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Allowed: []string{"facebook", "saml:", "oidc:bad name", "google", "google", "ldap:corp"}}
		}, []string{P + "auth_providers.allowed[0]", P + "auth_providers.allowed[1]", P + "auth_providers.allowed[2]", P + "auth_providers.allowed[4]", P + "auth_providers.allowed[5]"}},
		{"emergency without users", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{Enabled: true, Providers: []string{"password"}}}
		}, []string{P + "auth_providers.emergency.break_glass_users"}},
		{"emergency bad entries", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{Enabled: true, Providers: []string{"pigeon"},
				BreakGlassUsers: []string{"ok@acme.com", "", "two words", "ok@acme.com"}}}
		}, []string{P + "auth_providers.emergency.providers[0]", P + "auth_providers.emergency.break_glass_users[1]",
			P + "auth_providers.emergency.break_glass_users[2]", P + "auth_providers.emergency.break_glass_users[3]"}},
		{"emergency window at the lower bound", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{MaxDuration: dur(MinEmergencyDuration)}}
		}, nil},
		{"emergency window at the upper bound", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{MaxDuration: dur(MaxEmergencyDuration)}}
		}, nil},
		{"emergency window too short", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{MaxDuration: dur(MinEmergencyDuration - time.Second)}}
		}, []string{P + "auth_providers.emergency.max_duration"}},
		{"emergency window too long", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{MaxDuration: dur(MaxEmergencyDuration + time.Second)}}
		}, []string{P + "auth_providers.emergency.max_duration"}},
		{"emergency window invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.AuthProviders = &pdpv1.AuthProviders{Emergency: &pdpv1.EmergencyAccess{MaxDuration: &durationpb.Duration{Seconds: 1, Nanos: -1}}}
		}, []string{P + "auth_providers.emergency.max_duration"}},

		// email domains
		{"domains valid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.EmailDomains = domains("acme.com", "EU.Acme.COM.", "xn--bcher-kva.de", "a-b.co.uk", strings.Repeat("a", 63)+".com")
		}, nil},
		{"domains invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.EmailDomains = domains("@acme.com", "*.acme.com", "acme", "-acme.com", strings.Repeat("a", 64)+".com",
				strings.Repeat("abcdefghi.", 25)+"comm", "1.2.3.4", "bücher.de", "a_b.com", "", "bob@acme.com", "acme..com")
		}, indexed(P+"email_domains[%d].domain", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)},
		{"domain 253 chars", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.EmailDomains = domains(strings.Repeat("abcdefghi.", 24) + "abcdefghi.com")
		}, nil},
		{"domains duplicate modulo case and dot", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.EmailDomains = domains("acme.com", "ACME.com.")
		}, []string{P + "email_domains[1].domain"}},

		// CIDRs
		{"cidrs valid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.IpAllowlist = []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.1", "2001:db8::1", "::ffff:198.51.100.0/120", "0.0.0.0/0"}
		}, nil},
		{"cidrs invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.IpDenylist = []string{"10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "fe80::1%eth0", "", "10.0.0.0/8", "010.0.0.1", "::ffff:0:0/64"}
		}, indexed(P+"ip_denylist[%d]", 0, 1, 2, 3, 4, 6, 7)},
		{"cidrs duplicate after canonicalisation", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.IpAllowlist = []string{"192.0.2.1", "192.0.2.1/32", "2001:DB8::/32", "2001:db8::/32", "::ffff:192.0.2.1"}
		}, indexed(P+"ip_allowlist[%d]", 1, 3, 4)},

		// countries
		{"countries valid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Countries = &pdpv1.Countries{Allowed: []string{"us", "GB", "NO", "XK"}, Blocked: []string{"KP"}}
		}, nil},
		{"countries invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Countries = &pdpv1.Countries{Allowed: []string{"UK", "ZZ", "USA", "US", "us"}, Blocked: []string{"FR", "us"}}
		}, []string{P + "countries.allowed[0]", P + "countries.allowed[1]", P + "countries.allowed[2]", P + "countries.allowed[4]", P + "countries.blocked[1]"}},

		// roles, sensitive actions
		{"roles invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Roles = map[string]*pdpv1.Role{
				"viewer": {}, "ops": {Actions: []string{"api read", ""}}, "bad role": {Actions: []string{"*"}}, "org:admin": {Actions: []string{"admin.**"}},
			}
		}, []string{P + "roles.bad role", P + "roles.ops.actions[0]", P + "roles.ops.actions[1]", P + "roles.viewer.actions"}},
		{"report-only rules", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.ReportOnlyRules = []string{"risk.step_up", "Risk.Step", "tenant.unknown", "risk.step_up", "network.country_blocked"}
		}, []string{P + "report_only_rules[1]", P + "report_only_rules[2]", P + "report_only_rules[3]"}},
		{"sensitive actions", func(_ *pdpv1.TenantPolicy, sp *env) { sp.SensitiveActions = []string{"billing.*", "", "a b"} },
			[]string{P + "sensitive_actions[1]", P + "sensitive_actions[2]"}},

		// risk
		{"risk bounds valid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpThreshold: proto.Float64(0), DenyThreshold: proto.Float64(1),
				Weights: map[string]float64{"unusual_time": 0, "ip_reputation": 1}}
		}, nil},
		{"risk out of range", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpThreshold: proto.Float64(-0.1), DenyThreshold: proto.Float64(1.1),
				Weights: map[string]float64{"karma": 0.1, "failed_logins": 1.5, "unusual_time": math.NaN()}}
		}, []string{P + "risk.step_up_threshold", P + "risk.deny_threshold", P + "risk.weights.failed_logins", P + "risk.weights.karma", P + "risk.weights.unusual_time"}},
		{"step-up max age bounds accepted", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpMaxAge: durationpb.New(time.Minute)}
		}, nil},
		{"step-up max age below a minute", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpMaxAge: durationpb.New(59 * time.Second)}
		}, []string{P + "risk.step_up_max_age"}},
		{"step-up max age above a day", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpMaxAge: durationpb.New(24*time.Hour + time.Second)}
		}, []string{P + "risk.step_up_max_age"}},
		{"risk step equals deny", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpThreshold: proto.Float64(0.5), DenyThreshold: proto.Float64(0.5)}
		}, []string{P + "risk.step_up_threshold"}},
		{"risk step above default deny", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{StepUpThreshold: proto.Float64(0.95)}
		}, []string{P + "risk.step_up_threshold"}},
		{"risk deny below default step", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{DenyThreshold: proto.Float64(0.6)}
		}, []string{P + "risk.deny_threshold"}},
		{"business hours valid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{BusinessHours: &pdpv1.BusinessHours{Start: "9:00", End: "24:00", Days: []string{"sat", "sun"}, Timezone: "America/New_York"}}
		}, nil},
		{"business hours overnight", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{BusinessHours: &pdpv1.BusinessHours{Start: "22:00", End: "06:00"}}
		}, nil},
		{"business hours invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{BusinessHours: &pdpv1.BusinessHours{Start: "24:00", End: "", Days: []string{"mon", "funday", "mon"}, Timezone: "Mars/Olympus"}}
		}, []string{P + "risk.business_hours.start", P + "risk.business_hours.end", P + "risk.business_hours.days[1]", P + "risk.business_hours.days[2]", P + "risk.business_hours.timezone"}},
		{"business hours malformed", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{BusinessHours: &pdpv1.BusinessHours{Start: "9am", End: "17:60", Timezone: "Local"}}
		}, []string{P + "risk.business_hours.start", P + "risk.business_hours.end", P + "risk.business_hours.timezone"}},
		{"business hours empty window", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Risk = &pdpv1.RiskPolicy{BusinessHours: &pdpv1.BusinessHours{Start: "00:00", End: "24:00"}}
		}, []string{P + "risk.business_hours.end"}},

		// incident
		{"incident at bounds", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Incident = &pdpv1.IncidentPolicy{FailedLoginsThreshold: proto.Uint32(1), SuspiciousIpThreshold: proto.Uint32(1),
				FailedLoginsWindow: dur(time.Nanosecond), AutoBlockTtl: dur(MaxAutoBlockTTL), BruteForceAction: "deny"}
		}, nil},
		{"incident invalid", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Incident = &pdpv1.IncidentPolicy{FailedLoginsThreshold: proto.Uint32(0), SuspiciousIpThreshold: proto.Uint32(0),
				FailedLoginsWindow: dur(0), AutoBlockTtl: dur(-time.Hour), BruteForceAction: "block"}
		}, []string{P + "incident.failed_logins_threshold", P + "incident.suspicious_ip_threshold", P + "incident.failed_logins_window", P + "incident.auto_block_ttl", P + "incident.brute_force_action"}},
		{"incident window too long", func(_ *pdpv1.TenantPolicy, sp *env) {
			sp.Incident = &pdpv1.IncidentPolicy{FailedLoginsWindow: dur(MaxFailedLoginWindow + time.Second)}
		}, []string{P + "incident.failed_logins_window"}},

		// compliance, cache
		{"compliance valid", func(_ *pdpv1.TenantPolicy, sp *env) { sp.Compliance = []string{"HIPAA", "PCI_DSS", "SOX", "GDPR"} }, nil},
		{"compliance invalid", func(_ *pdpv1.TenantPolicy, sp *env) { sp.Compliance = []string{"ISO27001", "SOX", "SOX", "hipaa"} },
			[]string{P + "compliance[0]", P + "compliance[2]", P + "compliance[3]"}},
		{"cache 0 and 1h", func(p *pdpv1.TenantPolicy, sp *env) {
			sp.CacheTtl = dur(time.Hour)
			p.Environments["staging"] = &env{CacheTtl: dur(0)}
		}, nil},
		{"cache out of range", func(p *pdpv1.TenantPolicy, sp *env) {
			sp.CacheTtl = dur(61 * time.Minute)
			p.Environments["staging"] = &env{CacheTtl: dur(-time.Second)}
		}, []string{P + "cache_ttl", "environments.staging.cache_ttl"}},

		// every problem at once
		{"everything reported", func(p *pdpv1.TenantPolicy, sp *env) {
			p.Tenant, p.Plan = "", "gold"
			sp.InactivityTimeout = dur(30 * time.Minute)
			sp.IpAllowlist = []string{"10.0.0.0/8", "10.0.0.0/8", "nope"}
			sp.Compliance = []string{"NOPE"}
		}, []string{"tenant", "plan", P + "inactivity_timeout", P + "ip_allowlist[1]", P + "ip_allowlist[2]", P + "compliance[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := minimal()
			tc.edit(p, p.Environments["production"])
			err := Validate(p)
			if diff := cmp.Diff(tc.want, fieldsOf(t, err, fault.InvalidArgument)); diff != "" {
				t.Errorf("violation fields (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	t.Parallel()
	p := minimal()
	sp := p.Environments["production"]
	sp.InactivityTimeout = dur(30 * time.Minute)
	sp.IpAllowlist = []string{"203.0.113.7/24"}
	sp.EmailDomains = domains("@acme.com")
	sp.Countries = &pdpv1.Countries{Allowed: []string{"UK"}}
	err := Validate(p)
	for _, want := range []string{
		"environments.production.inactivity_timeout: must be between 1h and 24h, not 30m",
		`"203.0.113.7/24" has host bits set: write 203.0.113.0/24 for the network or 203.0.113.7/32 for the one address`,
		`must not start with '@': write "acme.com"`,
		"the United Kingdom is GB",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 4 * time.Hour: "4h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
		-5 * time.Minute: "-5m", 1500 * time.Millisecond: "1.5s", 25*time.Hour + time.Second: "25h1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCountryTable(t *testing.T) {
	t.Parallel()
	if n := len(countryNames); n != 249 {
		t.Errorf("%d assigned codes, want 249", n)
	}
	for code := range countryNames {
		if len(code) != 2 || strings.ToUpper(code) != code {
			t.Errorf("bad code %q", code)
		}
	}
	for _, code := range []string{"UK", "EU", "ZZ", "AN", "YU"} {
		if isCountry(code) {
			t.Errorf("%s must not be accepted", code)
		}
	}
}

func domains(names ...string) []*pdpv1.EmailDomain {
	out := make([]*pdpv1.EmailDomain, len(names))
	for i, n := range names {
		out[i] = &pdpv1.EmailDomain{Domain: n}
	}
	return out
}

func indexed(format string, idx ...int) []string {
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = fmt.Sprintf(format, n)
	}
	return out
}
