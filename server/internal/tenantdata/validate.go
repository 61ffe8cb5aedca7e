package tenantdata

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Bounds of the duration settings, inclusive.
const (
	MinInactivityTimeout = time.Hour
	MaxInactivityTimeout = 24 * time.Hour
	MaxMFAGracePeriod    = 365 * 24 * time.Hour
	MaxMFAMaxAge         = 30 * 24 * time.Hour
	MaxFailedLoginWindow = 7 * 24 * time.Hour
	MaxAutoBlockTTL      = 365 * 24 * time.Hour
	MaxCacheTTL          = time.Hour
	// Emergency access: long enough to sign in and act, short enough that
	// a forgotten outage does not leave break-glass access open for long.
	MinEmergencyDuration = 15 * time.Minute
	MaxEmergencyDuration = 7 * 24 * time.Hour
)

// Validate checks every value of p and reports every problem at once, as a
// *fault.Error with code InvalidArgument and one field violation per
// problem, named by proto path ("environments.production.inactivity_timeout",
// "environments.production.ip_allowlist[2]"). Words must be canonical (see
// Normalize); domains and country codes are case-insensitive. Validate does
// not check the plan; see CheckPlan.
func Validate(p *pdpv1.TenantPolicy) error {
	var c checker
	if p == nil {
		c.v.Add("policy", "is required")
		return c.err()
	}
	CheckTenant(&c.v, "tenant", p.Tenant)
	switch {
	case p.Plan == "":
		c.v.Add("plan", "is required: free, paid or enterprise")
	case !slices.Contains(plans, p.Plan):
		c.v.Add("plan", "must be free, paid or enterprise, not %q", p.Plan)
	}
	if len(p.Environments) == 0 {
		c.v.Add("environments", "at least one environment is required")
	}
	for _, name := range sortedKeys(p.Environments) {
		path := "environments." + name
		if !decision.ValidName(name) {
			c.v.Add(path, "environment name %q %s", name, nameRule)
		}
		c.environment(path, name, p.Environments[name])
	}
	return c.err()
}

// CheckTenant adds a violation of field to v unless tenant is a tenant
// name: "is required" when it is empty, the naming rule otherwise. Every
// RPC that names a tenant checks it here, so that a name the tenant files
// could never hold ("../x", a NUL byte, a megabyte) is refused as
// INVALID_ARGUMENT before it reaches a store key or the audit log.
func CheckTenant(v *fault.Violations, field, tenant string) {
	switch {
	case tenant == "":
		v.Add(field, "is required")
	case !decision.ValidName(tenant):
		v.Add(field, "%q %s", clip(tenant), nameRule)
	}
}

// clip shortens a refused name for quoting in a message.
func clip(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	return strings.ToValidUTF8(s[:most], "") + "..."
}

// checker collects violations.
type checker struct {
	v fault.Violations
}

func (c *checker) err() error {
	if c.v.Len() == 0 {
		return nil
	}
	return &fault.Error{Code: fault.InvalidArgument, Message: "invalid tenant policy", Fields: c.v.List()}
}

func (c *checker) environment(path, name string, sp *pdpv1.SecurityPolicy) {
	if sp.GetPreset() != "" && !slices.Contains(presets, sp.GetPreset()) {
		c.v.Add(path+".preset", "must be development, staging or production, not %q", sp.GetPreset())
	}
	base := Baseline(ResolvePreset(name, sp.GetPreset()))
	c.sessions(path, sp, base)
	c.mfa(path+".mfa", sp.GetMfa(), base.GetMfa())
	c.providers(path+".auth_providers", sp.GetAuthProviders())
	c.emailDomains(path+".email_domains", sp.GetEmailDomains())
	c.cidrs(path+".ip_allowlist", sp.GetIpAllowlist())
	c.cidrs(path+".ip_denylist", sp.GetIpDenylist())
	c.countries(path+".countries", sp.GetCountries())
	c.roles(path+".roles", sp.GetRoles())
	c.risk(path+".risk", sp.GetRisk())
	c.incident(path+".incident", sp.GetIncident())
	c.compliance(path+".compliance", sp.GetCompliance())
	c.sharedSignals(path+".shared_signals", sp.GetSharedSignals())
	for i, a := range sp.GetSensitiveActions() {
		if msg := globProblem(a); msg != "" {
			c.v.Add(fmt.Sprintf("%s.sensitive_actions[%d]", path, i), "%s", msg)
		}
	}
	if d, ok := c.duration(path+".cache_ttl", sp.GetCacheTtl()); ok {
		c.within(path+".cache_ttl", d, 0, MaxCacheTTL)
	}
	seen := map[string]bool{}
	for i, code := range sp.GetReportOnlyRules() {
		field := fmt.Sprintf("%s.report_only_rules[%d]", path, i)
		switch {
		case !reasonCode.MatchString(code):
			c.v.Add(field, "%q is not a reason code such as risk.step_up", code)
		case strings.HasPrefix(code, "tenant."):
			c.v.Add(field, "%s cannot be report-only: an unknown or foreign tenant is always denied", code)
		case seen[code]:
			c.v.Add(field, "%s is listed twice", code)
		}
		seen[code] = true
	}
}

// reasonCode is the shape of a reason code: dot-separated lowercase words.
var reasonCode = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// sessions checks inactivity_timeout, role_inactivity_timeouts and
// session_warning.
func (c *checker) sessions(path string, sp, base *pdpv1.SecurityPolicy) {
	inactivity := base.GetInactivityTimeout().AsDuration()
	if d, ok := c.duration(path+".inactivity_timeout", sp.GetInactivityTimeout()); ok {
		if c.within(path+".inactivity_timeout", d, MinInactivityTimeout, MaxInactivityTimeout) {
			inactivity = d
		}
	}
	roleTimeouts := map[string]time.Duration{}
	for _, role := range sortedKeys(sp.GetRoleInactivityTimeouts()) {
		rp := path + ".role_inactivity_timeouts." + role
		if !validRole(role) {
			c.v.Add(rp, "role name %q %s", role, roleRule)
		}
		rd := sp.GetRoleInactivityTimeouts()[role]
		if rd == nil {
			c.v.Add(rp, "must have a value")
			continue
		}
		if d, ok := c.duration(rp, rd); ok && c.within(rp, d, MinInactivityTimeout, MaxInactivityTimeout) {
			roleTimeouts[role] = d
		}
	}
	wp := path + ".session_warning"
	d, ok := c.duration(wp, sp.GetSessionWarning())
	if !ok {
		return
	}
	if d <= 0 {
		c.v.Add(wp, "must be positive, not %s", formatDuration(d))
		return
	}
	if d >= inactivity {
		c.v.Add(wp, "must be shorter than the inactivity timeout (%s), not %s", formatDuration(inactivity), formatDuration(d))
	}
	for _, role := range sortedKeys(roleTimeouts) {
		if d >= roleTimeouts[role] {
			c.v.Add(wp, "must be shorter than the %s role's inactivity timeout (%s), not %s", role, formatDuration(roleTimeouts[role]), formatDuration(d))
		}
	}
}

func (c *checker) mfa(path string, m, base *pdpv1.MFAPolicy) {
	if m == nil {
		return
	}
	if m.Mode != "" && !slices.Contains(mfaModes, m.Mode) {
		c.v.Add(path+".mode", "must be off, all or privileged, not %q", m.Mode)
	}
	mode, roles := base.GetMode(), base.GetPrivilegedRoles()
	if m.Mode != "" {
		mode = m.Mode
	}
	if len(m.PrivilegedRoles) > 0 {
		roles = m.PrivilegedRoles
	}
	if mode == MFAPrivileged && len(roles) == 0 {
		c.v.Add(path+".privileged_roles", "at least one role is required when mode is privileged")
	}
	c.roleList(path+".privileged_roles", m.PrivilegedRoles)
	if t := m.GetEnforcedFrom(); t != nil {
		if err := t.CheckValid(); err != nil {
			c.v.Add(path+".enforced_from", "is not a valid timestamp")
		}
	}
	if d, ok := c.duration(path+".grace_period", m.GetGracePeriod()); ok {
		c.within(path+".grace_period", d, 0, MaxMFAGracePeriod)
	}
	if d, ok := c.duration(path+".max_age", m.GetMaxAge()); ok {
		c.within(path+".max_age", d, 0, MaxMFAMaxAge)
	}
}

// roleList checks role names and refuses duplicates.
func (c *checker) roleList(path string, roles []string) {
	seen := firstSeen{}
	for i, r := range roles {
		ep := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !validRole(r):
			c.v.Add(ep, "role name %q %s", r, roleRule)
		case seen.dup(r, i):
			c.v.Add(ep, "%q is listed twice", r)
		}
	}
}

func (c *checker) providers(path string, a *pdpv1.AuthProviders) {
	c.providerList(path+".allowed", a.GetAllowed())
	em := a.GetEmergency()
	c.providerList(path+".emergency.providers", em.GetProviders())
	users := em.GetBreakGlassUsers()
	seen := firstSeen{}
	for i, u := range users {
		ep := fmt.Sprintf("%s.emergency.break_glass_users[%d]", path, i)
		switch {
		case u == "":
			c.v.Add(ep, "must not be empty")
		case strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\uFFFD' }):
			c.v.Add(ep, "%q must not contain spaces or control characters", u)
		case len(u) > 320:
			c.v.Add(ep, "must be at most 320 characters")
		case seen.dup(u, i):
			c.v.Add(ep, "%q is listed twice", u)
		}
	}
	if em.GetEnabled() && len(users) == 0 {
		c.v.Add(path+".emergency.break_glass_users", "at least one user is required when emergency access is enabled")
	}
	if d, ok := c.duration(path+".emergency.max_duration", em.GetMaxDuration()); ok {
		c.within(path+".emergency.max_duration", d, MinEmergencyDuration, MaxEmergencyDuration)
	}
}

func (c *checker) providerList(path string, list []string) {
	seen := firstSeen{}
	for i, p := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		if msg := providerProblem(p); msg != "" {
			c.v.Add(ep, "%s", msg)
		} else if seen.dup(p, i) {
			c.v.Add(ep, "%q is listed twice", p)
		}
	}
}

// firstSeen finds repeated list items in linear time.
type firstSeen map[string]int

// dup records s at index i and reports whether it was seen before.
func (f firstSeen) dup(s string, i int) bool {
	if _, ok := f[s]; ok {
		return true
	}
	f[s] = i
	return false
}

// duration returns d and true when d is set and a valid protobuf duration;
// an invalid one is a violation.
func (c *checker) duration(path string, d *durationpb.Duration) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	if err := d.CheckValid(); err != nil {
		c.v.Add(path, "is not a valid duration")
		return 0, false
	}
	return d.AsDuration(), true
}

// within reports whether lo <= d <= hi, adding a violation when not.
func (c *checker) within(path string, d, lo, hi time.Duration) bool {
	if d < lo || d > hi {
		if lo == 0 {
			c.v.Add(path, "must be between 0 and %s, not %s", formatDuration(hi), formatDuration(d))
		} else {
			c.v.Add(path, "must be between %s and %s, not %s", formatDuration(lo), formatDuration(hi), formatDuration(d))
		}
		return false
	}
	return true
}

// unit checks a value that must lie within 0..1.
func (c *checker) unit(path string, f float64) bool {
	if math.IsNaN(f) || f < 0 || f > 1 {
		c.v.Add(path, "must be between 0 and 1, not %v", f)
		return false
	}
	return true
}

// formatDuration renders d the way people write it: "4h", "1h30m", "90s",
// "-5m", "1.5s".
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		if d == math.MinInt64 {
			return d.String()
		}
		sign, d = "-", -d
	}
	if d%time.Second != 0 {
		return sign + d.String()
	}
	var b strings.Builder
	b.WriteString(sign)
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s := d % time.Minute / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
