// Package compliance evaluates tenant policies against the compliance
// profiles they declare (HIPAA, PCI_DSS, SOX, GDPR), with the Rego module
// data.pdp.compliance of the policy library (see rego/compliance.rego). It
// holds the three places that need it:
//
//	Check, Review     whether a candidate tenant policy may be accepted (a
//	                  file of --tenants DIR through package reload, the body
//	                  of the PutTenantPolicy admin RPC): valid, within its
//	                  plan and keeping every profile it declares
//	Reviewer          one environment's effective policy against the
//	                  profiles it declares, with a library compiled once
//	                  (Violations uses the built-in one); needs no tenant data
//	Reporter          the findings of a tenant loaded in an engine, for the
//	                  ComplianceReport admin RPC and `pdp compliance`
//
// It lives apart from tenantdata so that tenantdata never depends on the
// engine, and apart from engine, which evaluates decisions.
package compliance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Finding statuses, as data.pdp.compliance reports them.
const (
	// StatusPass is the status of a control the policy satisfies.
	StatusPass = "pass"
	// StatusFail is the status of a control the policy breaks.
	StatusFail = "fail"
)

// Finding is the state of one compliance control, computed by the Rego
// module data.pdp.compliance (see rego/compliance.rego).
type Finding struct {
	// Control identifies the control, prefixed by its framework in
	// lowercase: "hipaa.inactivity_logout", "pci_dss.strong_auth".
	Control string `json:"control"`
	// Severity is "critical", "high", "medium" or "low".
	Severity string `json:"severity"`
	// Status is StatusPass or StatusFail.
	Status string `json:"status"`
	// Finding says what the policy's settings are, for a human.
	Finding string `json:"finding"`
	// Remediation says how to fix a failed control; empty when it passes.
	Remediation string `json:"remediation"`
}

// Passed reports whether the control holds.
func (f Finding) Passed() bool { return f.Status == StatusPass }

// Framework is the profile the control belongs to, in the spelling tenant
// policies declare it ("HIPAA", "PCI_DSS", "SOX", "GDPR"), taken from the
// control's prefix.
func (f Finding) Framework() string {
	prefix, _, _ := strings.Cut(f.Control, ".")
	return strings.ToUpper(prefix)
}

// CanonicalFramework spells a framework name the way tenant policies and
// the compliance module do: capitals, with '_' for '-' and ' ' ("pci-dss"
// -> "PCI_DSS"). It does not check that the framework exists.
func CanonicalFramework(name string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(strings.TrimSpace(name)))
}

// evalFault maps an evaluation error to a domain error.
func evalFault(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextFault(ctxErr)
	}
	return fault.Wrap(err, fault.Internal, what+": policy evaluation failed")
}

// binding returns the value bound to name in the first result, or nil when
// the query was undefined.
func binding(rs rego.ResultSet, name string) any {
	if len(rs) == 0 {
		return nil
	}
	return rs[0].Bindings[name]
}

// stringList reads a JSON array of strings.
func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// findingKeys are the keys of a finding, all strings, all required.
var findingKeys = []string{"control", "severity", "status", "finding", "remediation"}

// parseFindings reads the findings document strictly: an array of objects
// with exactly the finding keys, string values and a known status.
func parseFindings(v any) ([]Finding, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, malformedFinding("findings are %T, not an array", v)
	}
	out := make([]Finding, 0, len(list))
	for i, x := range list {
		obj, ok := x.(map[string]any)
		if !ok || len(obj) != len(findingKeys) {
			return nil, malformedFinding("finding %d is not an object with keys %s", i, strings.Join(findingKeys, ", "))
		}
		var vals [5]string
		for k, key := range findingKeys {
			s, ok := obj[key].(string)
			if !ok {
				return nil, malformedFinding("finding %d: %s is not a string", i, key)
			}
			vals[k] = s
		}
		f := Finding{Control: vals[0], Severity: vals[1], Status: vals[2], Finding: vals[3], Remediation: vals[4]}
		if f.Control == "" || (f.Status != StatusPass && f.Status != StatusFail) {
			return nil, malformedFinding("finding %d: control %q with status %q", i, f.Control, f.Status)
		}
		out = append(out, f)
	}
	return out, nil
}

func malformedFinding(format string, args ...any) error {
	return fault.Wrap(fmt.Errorf(format, args...), fault.Internal, "policy returned a malformed compliance finding")
}

// contextFault maps the end of the caller's context during a
// compliance review to a domain error.
func contextFault(err error) error {
	if errors.Is(err, context.Canceled) {
		return fault.Wrap(err, fault.DeadlineExceeded, "request canceled before the compliance review finished")
	}
	return fault.Wrap(err, fault.DeadlineExceeded, "deadline exceeded before the compliance review finished")
}
