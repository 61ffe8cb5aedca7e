package tenantdata

import (
	"fmt"
	"slices"
	"strings"
	"time"

	_ "time/tzdata" // business-hours time zones load on machines without zoneinfo

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func (c *checker) emailDomains(path string, list []*pdpv1.EmailDomain) {
	seen := map[string]int{}
	for i, d := range list {
		ep := fmt.Sprintf("%s[%d].domain", path, i)
		if msg := domainProblem(d.GetDomain()); msg != "" {
			c.v.Add(ep, "%s", msg)
			continue
		}
		key := canonicalDomain(d.GetDomain())
		if j, dup := seen[key]; dup {
			c.v.Add(ep, "%q is already listed at %s[%d]", d.GetDomain(), path, j)
			continue
		}
		seen[key] = i
	}
}

func (c *checker) cidrs(path string, list []string) {
	seen := map[string]int{}
	for i, s := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		p, err := parseCIDR(s)
		if err != nil {
			c.v.Add(ep, "%v", err)
			continue
		}
		if j, dup := seen[p.String()]; dup {
			c.v.Add(ep, "%s is already listed at %s[%d]", p, path, j)
			continue
		}
		seen[p.String()] = i
	}
}

func (c *checker) countries(path string, cs *pdpv1.Countries) {
	allowed := c.countryList(path+".allowed", cs.GetAllowed())
	blocked := c.countryList(path+".blocked", cs.GetBlocked())
	for _, code := range sortedKeys(blocked) {
		if _, both := allowed[code]; both {
			c.v.Add(fmt.Sprintf("%s.blocked[%d]", path, blocked[code]), "%s is also allowed: a country cannot be both allowed and blocked", code)
		}
	}
}

// countryList checks codes and returns the valid ones with their index.
func (c *checker) countryList(path string, list []string) map[string]int {
	seen := map[string]int{}
	for i, s := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		code := strings.ToUpper(s)
		if !isCountry(code) {
			msg := fmt.Sprintf("%q is not an assigned ISO 3166-1 alpha-2 country code", s)
			if hint, ok := countryHints[code]; ok {
				msg += " (" + hint + ")"
			}
			c.v.Add(ep, "%s", msg)
			continue
		}
		if j, dup := seen[code]; dup {
			c.v.Add(ep, "%s is already listed at %s[%d]", code, path, j)
			continue
		}
		seen[code] = i
	}
	return seen
}

func (c *checker) roles(path string, roles map[string]*pdpv1.Role) {
	for _, name := range sortedKeys(roles) {
		rp := joinPath(path, name)
		if !validRole(name) {
			c.v.Add(rp, "role name %q %s", name, roleRule)
		}
		actions := roles[name].GetActions()
		if len(actions) == 0 {
			c.v.Add(rp+".actions", "at least one action glob is required")
		}
		for i, a := range actions {
			if msg := globProblem(a); msg != "" {
				c.v.Add(fmt.Sprintf("%s.actions[%d]", rp, i), "%s", msg)
			}
		}
	}
}

func (c *checker) risk(path string, r *pdpv1.RiskPolicy) {
	if r == nil {
		return
	}
	step, deny := DefaultStepUpThreshold, DefaultDenyThreshold
	stepOK, denyOK := true, true
	if r.StepUpThreshold != nil {
		step = r.GetStepUpThreshold()
		stepOK = c.unit(path+".step_up_threshold", step)
	}
	if r.DenyThreshold != nil {
		deny = r.GetDenyThreshold()
		denyOK = c.unit(path+".deny_threshold", deny)
	}
	if stepOK && denyOK && step >= deny {
		if r.StepUpThreshold != nil {
			c.v.Add(path+".step_up_threshold", "must be below deny_threshold (%v), not %v", deny, step)
		} else {
			c.v.Add(path+".deny_threshold", "must be above step_up_threshold (%v), not %v", step, deny)
		}
	}
	for _, k := range sortedKeys(r.GetWeights()) {
		wp := joinPath(path+".weights", k)
		if !slices.Contains(riskFactors, k) {
			c.v.Add(wp, "unknown risk factor; the factors are %s", strings.Join(riskFactors, ", "))
			continue
		}
		c.unit(wp, r.GetWeights()[k])
	}
	c.businessHours(path+".business_hours", r.GetBusinessHours())
	if d, ok := c.duration(path+".step_up_max_age", r.GetStepUpMaxAge()); ok {
		c.within(path+".step_up_max_age", d, time.Minute, 24*time.Hour)
	}
}

func (c *checker) businessHours(path string, bh *pdpv1.BusinessHours) {
	if bh == nil {
		return
	}
	start, errStart := parseClock(bh.GetStart(), false)
	end, errEnd := parseClock(bh.GetEnd(), true)
	for _, f := range []struct {
		name, value string
		err         error
	}{{"start", bh.GetStart(), errStart}, {"end", bh.GetEnd(), errEnd}} {
		switch {
		case f.value == "":
			c.v.Add(path+"."+f.name, `is required, as "HH:MM"`)
		case f.err != nil:
			c.v.Add(path+"."+f.name, "%v", f.err)
		}
	}
	if errStart == nil && errEnd == nil && start == end%(24*60) {
		c.v.Add(path+".end", "must differ from start: the window would be empty")
	}
	seen := firstSeen{}
	for i, d := range bh.GetDays() {
		ep := fmt.Sprintf("%s.days[%d]", path, i)
		switch {
		case !slices.Contains(weekdays, d):
			c.v.Add(ep, "must be one of %s, not %q", strings.Join(weekdays, ", "), d)
		case seen.dup(d, i):
			c.v.Add(ep, "%q is listed twice", d)
		}
	}
	if tz := bh.GetTimezone(); tz != "" {
		if tz == "Local" {
			c.v.Add(path+".timezone", `"Local" depends on the server; name an IANA time zone such as "Europe/Paris"`)
		} else if _, err := time.LoadLocation(tz); err != nil {
			c.v.Add(path+".timezone", "%q is not an IANA time zone such as \"Europe/Paris\"", tz)
		}
	}
}

func (c *checker) incident(path string, in *pdpv1.IncidentPolicy) {
	if in == nil {
		return
	}
	if in.FailedLoginsThreshold != nil && in.GetFailedLoginsThreshold() < 1 {
		c.v.Add(path+".failed_logins_threshold", "must be at least 1")
	}
	if in.SuspiciousIpThreshold != nil && in.GetSuspiciousIpThreshold() < 1 {
		c.v.Add(path+".suspicious_ip_threshold", "must be at least 1")
	}
	if d, ok := c.duration(path+".failed_logins_window", in.GetFailedLoginsWindow()); ok {
		c.positive(path+".failed_logins_window", d, MaxFailedLoginWindow)
	}
	if d, ok := c.duration(path+".auto_block_ttl", in.GetAutoBlockTtl()); ok {
		c.positive(path+".auto_block_ttl", d, MaxAutoBlockTTL)
	}
	if a := in.GetBruteForceAction(); a != "" && !slices.Contains(bruteForceActions, a) {
		c.v.Add(path+".brute_force_action", "must be challenge or deny, not %q", a)
	}
}

// positive checks 0 < d <= hi.
func (c *checker) positive(path string, d, hi time.Duration) {
	if d <= 0 || d > hi {
		c.v.Add(path, "must be more than 0 and at most %s, not %s", formatDuration(hi), formatDuration(d))
	}
}

func (c *checker) compliance(path string, list []string) {
	seen := firstSeen{}
	for i, p := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !slices.Contains(complianceProfiles, p):
			c.v.Add(ep, "must be one of %s, not %q", strings.Join(complianceProfiles, ", "), p)
		case seen.dup(p, i):
			c.v.Add(ep, "%q is listed twice", p)
		}
	}
}
