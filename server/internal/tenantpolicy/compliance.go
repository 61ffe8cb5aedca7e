package tenantpolicy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// control is one setting a compliance profile requires of an environment's
// effective (merged) policy.
type control struct {
	profile string
	// field is the SecurityPolicy path the finding is reported on.
	field string
	// check returns "" when sp satisfies the control, else what is wrong.
	check func(sp *pdpv1.SecurityPolicy) string
}

// controls are the enforceable settings of the guide's compliance tables
// (see "Compliance profiles" in the package documentation).
var controls = func() []control {
	var out []control
	for _, profile := range complianceProfiles {
		out = append(out, control{profile, "report_only", func(sp *pdpv1.SecurityPolicy) string {
			return unless(!sp.GetReportOnly(), "controls must be enforced, not report-only")
		}})
		switch profile {
		case "HIPAA":
			out = append(out,
				control{profile, "inactivity_timeout", maxInactivity(4 * time.Hour)},
				control{profile, "mfa.mode", func(sp *pdpv1.SecurityPolicy) string {
					return unless(sp.GetMfa().GetMode() == MFAAll, "requires MFA for all users (mode all), not %q", sp.GetMfa().GetMode())
				}},
				control{profile, "auth_providers.allowed", ssoOnly},
				control{profile, "ip_allowlist", allowlistSet},
				control{profile, "allow_direct_query", noDirectQuery},
				control{profile, "key_isolation", keyIsolation},
			)
		case "PCI_DSS":
			out = append(out,
				control{profile, "inactivity_timeout", maxInactivity(2 * time.Hour)},
				control{profile, "mfa.mode", func(sp *pdpv1.SecurityPolicy) string {
					m := sp.GetMfa().GetMode()
					return unless(m == MFAAll || m == MFAPrivileged, "requires MFA for privileged users at least (mode privileged or all), not %q", m)
				}},
				control{profile, "ip_allowlist", allowlistSet},
				control{profile, "allow_direct_query", noDirectQuery},
			)
		case "SOX":
			out = append(out,
				control{profile, "roles", rolesSet},
				control{profile, "allow_direct_query", noDirectQuery},
			)
		case "GDPR":
			out = append(out,
				control{profile, "roles", rolesSet},
				control{profile, "key_isolation", keyIsolation},
			)
		}
	}
	return out
}()

func unless(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

func maxInactivity(limit time.Duration) func(*pdpv1.SecurityPolicy) string {
	return func(sp *pdpv1.SecurityPolicy) string {
		d := sp.GetInactivityTimeout().AsDuration()
		return unless(d <= limit, "requires an inactivity timeout of at most %s, not %s", formatDuration(limit), formatDuration(d))
	}
}

func ssoOnly(sp *pdpv1.SecurityPolicy) string {
	allowed := sp.GetAuthProviders().GetAllowed()
	if len(allowed) == 0 {
		return "requires corporate SSO only: list the allowed providers (saml:<name>, oidc:<name>, microsoft, google)"
	}
	var weak []string
	for _, p := range allowed {
		if p == "password" || p == "github" {
			weak = append(weak, p)
		}
	}
	return unless(len(weak) == 0, "requires corporate SSO only, but allows %s", strings.Join(weak, " and "))
}

func allowlistSet(sp *pdpv1.SecurityPolicy) string {
	return unless(len(sp.GetIpAllowlist()) > 0, "requires an IP allow list (office, VPN or segmented networks)")
}

func noDirectQuery(sp *pdpv1.SecurityPolicy) string {
	return unless(!sp.GetAllowDirectQuery(), "requires direct database queries to be disabled")
}

func keyIsolation(sp *pdpv1.SecurityPolicy) string {
	return unless(sp.GetKeyIsolation(), "requires cache key isolation")
}

func rolesSet(sp *pdpv1.SecurityPolicy) string {
	return unless(len(sp.GetRoles()) > 0, "requires role-based access: define roles")
}

// CheckCompliance refuses environments whose effective settings (preset
// applied) break a compliance profile they declare: a *fault.Error with
// code FailedPrecondition and one field violation per broken control, such
// as "environments.production.inactivity_timeout: HIPAA requires an
// inactivity timeout of at most 4h, not 8h". Unknown profiles are left to
// Validate.
func CheckCompliance(p *pdpv1.TenantPolicy) error {
	var fields []fault.FieldViolation
	for _, name := range sortedKeys(p.GetEnvironments()) {
		sp := p.GetEnvironments()[name]
		declared := sp.GetCompliance()
		if len(declared) == 0 {
			continue
		}
		merged := Merged(name, sp)
		for _, c := range controls {
			if !slices.Contains(declared, c.profile) {
				continue
			}
			if finding := c.check(merged); finding != "" {
				fields = append(fields, fault.FieldViolation{
					Field:       fmt.Sprintf("environments.%s.%s", name, c.field),
					Description: c.profile + " " + finding,
				})
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &fault.Error{Code: fault.FailedPrecondition, Message: "tenant policy breaks its compliance profiles", Fields: fields}
}
