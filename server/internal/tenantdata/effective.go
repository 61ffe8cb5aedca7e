package tenantdata

import (
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Data returns the data.tenants document: tenant name (the map key) to
// Effective of its policy.
func Data(policies map[string]*pdpv1.TenantPolicy) map[string]any {
	out := make(map[string]any, len(policies))
	for name, p := range policies {
		out[name] = Effective(p)
	}
	return out
}

// Effective returns data.tenants[tenant] as described in rego/README.md:
//
//	{"plan": ..., "environments": {name: <effective policy>}}
//
// Each environment is its preset's baseline overlaid with what the policy
// sets (see Merged), with every default filled in, so Rego never needs
// object.get for a setting. Durations and timestamps are int64 nanoseconds
// under names ending in _ns; business hours are minutes of the day; domains
// are lowercase without a trailing dot, CIDRs canonical, country codes
// uppercase; empty business days mean every day. The values are plain Go
// types (string, bool, int64, float64, []any, map[string]any) that
// ast.InterfaceToValue and encoding/json accept. The policy should have
// passed Validate; values it would refuse are passed through as written.
func Effective(p *pdpv1.TenantPolicy) map[string]any {
	envs := make(map[string]any, len(p.GetEnvironments()))
	for name, sp := range p.GetEnvironments() {
		envs[name] = EffectiveEnvironment(name, sp)
	}
	return map[string]any{"plan": p.GetPlan(), "environments": envs}
}

// EffectiveEnvironment returns the effective policy of one environment, the
// value of data.tenants[tenant].environments[name] (see Effective). It is
// also the input.policy the Rego compliance module reviews before a
// candidate policy is accepted.
func EffectiveEnvironment(name string, sp *pdpv1.SecurityPolicy) map[string]any {
	return effectiveEnvironment(Merged(name, sp))
}

func effectiveEnvironment(sp *pdpv1.SecurityPolicy) map[string]any {
	roleTimeouts := map[string]any{}
	for role, d := range sp.GetRoleInactivityTimeouts() {
		roleTimeouts[role] = nanos(d)
	}
	domains := make([]any, 0, len(sp.GetEmailDomains()))
	for _, d := range sp.GetEmailDomains() {
		domains = append(domains, map[string]any{
			"domain":             canonicalDomain(d.GetDomain()),
			"include_subdomains": d.GetIncludeSubdomains(),
		})
	}
	roles := map[string]any{}
	for name, r := range sp.GetRoles() {
		roles[name] = map[string]any{"actions": strings2any(r.GetActions(), nil)}
	}
	out := map[string]any{
		"preset":                      sp.GetPreset(),
		"allow_direct_query":          sp.GetAllowDirectQuery(),
		"key_isolation":               sp.GetKeyIsolation(),
		"report_only":                 sp.GetReportOnly(),
		"report_only_rules":           strings2any(sp.GetReportOnlyRules(), nil),
		"inactivity_timeout_ns":       nanos(sp.GetInactivityTimeout()),
		"role_inactivity_timeouts_ns": roleTimeouts,
		"session_warning_ns":          nanos(sp.GetSessionWarning()),
		"cache_ttl_ns":                nanos(sp.GetCacheTtl()),
		"mfa":                         effectiveMFA(sp.GetMfa()),
		"auth_providers":              effectiveProviders(sp.GetAuthProviders()),
		"email_domains":               domains,
		"ip_allowlist":                strings2any(sp.GetIpAllowlist(), canonicalCIDRText),
		"ip_denylist":                 strings2any(sp.GetIpDenylist(), canonicalCIDRText),
		"countries": map[string]any{
			"allowed": strings2any(sp.GetCountries().GetAllowed(), strings.ToUpper),
			"blocked": strings2any(sp.GetCountries().GetBlocked(), strings.ToUpper),
		},
		"roles":             roles,
		"risk":              effectiveRisk(sp.GetRisk()),
		"incident":          effectiveIncident(sp.GetIncident()),
		"compliance":        strings2any(sp.GetCompliance(), nil),
		"sensitive_actions": strings2any(sp.GetSensitiveActions(), nil),
	}
	// Present only when set, so that a tenant without it keeps the
	// document it had.
	if ss := sp.GetSharedSignals(); ss != nil {
		out["shared_signals"] = effectiveSharedSignals(ss)
		out["report_only_rules"] = reportOnlySharedSignals(out["report_only_rules"].([]any), ss)
	}
	return out
}

func effectiveMFA(m *pdpv1.MFAPolicy) map[string]any {
	out := map[string]any{
		"mode":             m.GetMode(),
		"privileged_roles": strings2any(m.GetPrivilegedRoles(), nil),
		"grace_period_ns":  nanos(m.GetGracePeriod()),
		"max_age_ns":       nanos(m.GetMaxAge()),
	}
	if t := m.GetEnforcedFrom(); t != nil {
		out["enforced_from_ns"] = t.AsTime().UnixNano()
	}
	return out
}

func effectiveProviders(a *pdpv1.AuthProviders) map[string]any {
	em := a.GetEmergency()
	emergency := map[string]any{
		"enabled":           em.GetEnabled(),
		"providers":         strings2any(em.GetProviders(), nil),
		"break_glass_users": strings2any(em.GetBreakGlassUsers(), nil),
	}
	// Present only when set, so that a tenant without it keeps the
	// document it had (and emergency access without an end).
	if d := em.GetMaxDuration(); d != nil {
		emergency["max_duration_ns"] = nanos(d)
	}
	return map[string]any{
		"allowed":   strings2any(a.GetAllowed(), nil),
		"emergency": emergency,
	}
}

func effectiveRisk(r *pdpv1.RiskPolicy) map[string]any {
	weights := map[string]any{}
	for k, w := range r.GetWeights() {
		weights[k] = w
	}
	out := map[string]any{
		"step_up_threshold":           r.GetStepUpThreshold(),
		"deny_threshold":              r.GetDenyThreshold(),
		"weights":                     weights,
		"require_device_verification": r.GetRequireDeviceVerification(),
		"step_up_max_age_ns":          r.GetStepUpMaxAge().AsDuration().Nanoseconds(),
	}
	if bh := r.GetBusinessHours(); bh != nil {
		start, _ := parseClock(bh.GetStart(), false)
		end, _ := parseClock(bh.GetEnd(), true)
		days := bh.GetDays()
		if len(days) == 0 {
			days = weekdays
		}
		tz := bh.GetTimezone()
		if tz == "" {
			tz = "UTC"
		}
		out["business_hours"] = map[string]any{
			"start_minute": int64(start),
			"end_minute":   int64(end),
			"days":         strings2any(days, nil),
			"timezone":     tz,
		}
	}
	return out
}

func effectiveIncident(in *pdpv1.IncidentPolicy) map[string]any {
	return map[string]any{
		"failed_logins_threshold":         int64(in.GetFailedLoginsThreshold()),
		"failed_logins_window_ns":         nanos(in.GetFailedLoginsWindow()),
		"suspicious_ip_threshold":         int64(in.GetSuspiciousIpThreshold()),
		"auto_block_ttl_ns":               nanos(in.GetAutoBlockTtl()),
		"suspend_on_privilege_escalation": in.GetSuspendOnPrivilegeEscalation(),
		"brute_force_action":              in.GetBruteForceAction(),
	}
}

// nanos is a duration as int64 nanoseconds (0 when unset).
func nanos(d *durationpb.Duration) int64 {
	if d == nil {
		return 0
	}
	return d.AsDuration().Nanoseconds()
}

// strings2any copies a string list into []any, mapping each element through
// f when f is not nil. The result is never nil.
func strings2any(list []string, f func(string) string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		if f != nil {
			s = f(s)
		}
		out[i] = s
	}
	return out
}
