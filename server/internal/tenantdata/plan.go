package tenantdata

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// planRank orders the plans; an unknown plan ranks as free.
func planRank(plan string) int {
	return max(0, slices.Index(plans, plan))
}

// settingPlans is the least plan each SecurityPolicy field needs (the table
// in the package documentation). A field missing here needs enterprise, so
// that a setting added to the proto is gated until someone decides.
var settingPlans = map[protoreflect.Name]string{
	"preset":             PlanFree,
	"allow_direct_query": PlanPaid,
	"key_isolation":      PlanPaid,
	"roles":              PlanFree,
	"cache_ttl":          PlanPaid,
	// Everything else is enterprise: inactivity_timeout,
	// role_inactivity_timeouts, session_warning, mfa, auth_providers,
	// email_domains, ip_allowlist, ip_denylist, countries, risk,
	// sensitive_actions, incident, compliance, report_only.
}

// RequiredPlan returns the least plan under which a SecurityPolicy field
// (by proto name, such as "mfa") may be set.
func RequiredPlan(field string) string {
	if plan, ok := settingPlans[protoreflect.Name(field)]; ok {
		return plan
	}
	return PlanEnterprise
}

// CheckPlan refuses settings beyond the tenant's plan: a *fault.Error with
// code FailedPrecondition and one field violation per setting present in an
// environment that the plan does not include, such as
// "environments.production.mfa: requires the enterprise plan (tenant is on
// paid)". Presence counts, not value. An unknown plan is treated as free
// (Validate reports it).
func CheckPlan(p *pdpv1.TenantPolicy) error {
	rank := planRank(p.GetPlan())
	var fields []fault.FieldViolation
	for _, name := range sortedKeys(p.GetEnvironments()) {
		sp := p.GetEnvironments()[name]
		if sp == nil {
			continue
		}
		// Range visits fields in an undefined order; collect, then sort by number.
		var set []protoreflect.FieldDescriptor
		sp.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			set = append(set, fd)
			return true
		})
		slices.SortFunc(set, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
		for _, fd := range set {
			need := RequiredPlan(string(fd.Name()))
			if planRank(need) > rank {
				fields = append(fields, fault.FieldViolation{
					Field:       fmt.Sprintf("environments.%s.%s", name, fd.Name()),
					Description: fmt.Sprintf("requires the %s plan (tenant is on %s)", need, planLabel(p.GetPlan())),
				})
			}
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &fault.Error{Code: fault.FailedPrecondition, Message: "tenant policy exceeds its plan", Fields: fields}
}

func planLabel(plan string) string {
	if plan == "" {
		return "no plan"
	}
	if slices.Contains(plans, plan) {
		return plan
	}
	return fmt.Sprintf("%q", plan)
}
