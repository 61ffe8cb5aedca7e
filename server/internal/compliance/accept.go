package compliance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Message is the client-safe message of the error that refuses a
// policy breaking a profile it declares.
const Message = "tenant policy breaks a compliance profile it declares"

// Check runs every acceptance check on p and returns every problem found,
// joined with errors.Join in this order: the tenantdata.Validate error
// (fault.InvalidArgument), the tenantdata.CheckPlan error
// (fault.FailedPrecondition) and the Review error (fault.
// FailedPrecondition). nil means p may be accepted. A transport mapping
// the first fault in the chain answers INVALID_ARGUMENT while a value is
// invalid, and FAILED_PRECONDITION after.
//
// Check reads p without modifying it. Words must already be canonical:
// callers that did not get p from tenantdata.Parse call
// tenantdata.Normalize first.
func Check(ctx context.Context, p *pdpv1.TenantPolicy) error {
	if p == nil {
		return tenantdata.Validate(nil)
	}
	return errors.Join(
		tenantdata.Validate(p),
		tenantdata.CheckPlan(p),
		Review(ctx, p),
	)
}

// Review reviews each environment of p that declares compliance
// profiles against those profiles. When some control fails it returns a
// *fault.Error with code FailedPrecondition, message Message and
// one field violation per failed control, in environment then control
// order, such as
//
//	environments.production.compliance: breaks SOX control sox.inactivity
//	(medium severity): inactivity timeout 8h exceeds the SOX maximum of 4h;
//	to fix, set inactivity_timeout to 4h or less
//
// Profiles the library does not know are left to tenantdata.Validate.
// Other errors (fault.DeadlineExceeded, fault.Internal) mean the review
// could not be done; the policy must not be accepted then either.
func Review(ctx context.Context, p *pdpv1.TenantPolicy) error {
	var (
		fields []fault.FieldViolation
		errs   []error
	)
	envs := p.GetEnvironments()
	for _, name := range slices.Sorted(maps.Keys(envs)) {
		sp := envs[name]
		if len(sp.GetCompliance()) == 0 {
			continue
		}
		found, err := Violations(ctx, tenantdata.EffectiveEnvironment(name, sp), name)
		if err != nil {
			errs = append(errs, fmt.Errorf("environments.%s.compliance: %w", name, err))
			continue
		}
		for _, f := range found {
			fields = append(fields, Violation(name, f))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(fields) == 0 {
		return nil
	}
	return &fault.Error{Code: fault.FailedPrecondition, Message: Message, Fields: fields}
}

// Violation describes one failed control of an environment as a field
// violation of its compliance setting, naming the framework, the control,
// its severity, the finding and the remediation.
func Violation(environment string, f Finding) fault.FieldViolation {
	desc := fmt.Sprintf("breaks %s control %s (%s severity): %s", f.Framework(), f.Control, f.Severity, f.Finding)
	if f.Remediation != "" {
		desc += "; to fix, " + f.Remediation
	}
	return fault.FieldViolation{
		Field:       fmt.Sprintf("environments.%s.compliance", environment),
		Description: desc,
	}
}
