package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/pdp-dev/pdp/server/internal/decision"
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

// Compliance queries. Each binds one variable so that results are read by
// name.
var (
	findingsQuery     = ast.MustParseBody("findings := data.pdp.compliance.findings")
	violationsQuery   = ast.MustParseBody("violations := data.pdp.compliance.violations")
	frameworksQuery   = ast.MustParseBody("frameworks := data.pdp.compliance.frameworks")
	environmentsQuery = ast.MustParseBody("environments := object.keys(data.tenants[input.tenant].environments)")

	findingsRef   = ast.MustParseRef("data.pdp.compliance.findings")
	violationsRef = ast.MustParseRef("data.pdp.compliance.violations")
)

// complianceSet holds what a loaded policy set needs to answer compliance
// queries. The queries are prepared on first use, not at load, so that a
// reload of the decision path pays nothing for them.
type complianceSet struct {
	compiler *ast.Compiler
	store    storage.Store

	mu    sync.Mutex // serialises preparation
	ready atomic.Pointer[complianceQueries]
}

// complianceQueries are the prepared queries of one policy set.
type complianceQueries struct {
	findings     rego.PreparedEvalQuery
	environments rego.PreparedEvalQuery
	// frameworks are the profile names the library knows, sorted.
	frameworks []string
}

// newComplianceSet keeps the compiled modules and the data store of a
// policy set for its compliance queries. Both must stay unmodified.
func newComplianceSet(compiler *ast.Compiler, store storage.Store) *complianceSet {
	return &complianceSet{compiler: compiler, store: store}
}

// queries returns the prepared queries, preparing them on the first call.
// A failed preparation is not remembered, so a canceled context does not
// spoil the set.
func (c *complianceSet) queries(ctx context.Context) (*complianceQueries, error) {
	if q := c.ready.Load(); q != nil {
		return q, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.ready.Load(); q != nil {
		return q, nil
	}
	if len(c.compiler.GetRules(findingsRef)) == 0 {
		return nil, fault.New(fault.Internal, "the policy library defines no data.pdp.compliance.findings")
	}
	prepare := func(body ast.Body) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.ParsedQuery(body),
			rego.Compiler(c.compiler),
			rego.Store(c.store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
	}
	var (
		q   complianceQueries
		err error
	)
	if q.findings, err = prepare(findingsQuery); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot prepare the compliance findings query")
	}
	if q.environments, err = prepare(environmentsQuery); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot prepare the tenant environments query")
	}
	frameworks, err := prepare(frameworksQuery)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot prepare the compliance frameworks query")
	}
	rs, err := frameworks.Eval(ctx)
	if err != nil {
		return nil, evalFault(ctx, err, "compliance frameworks")
	}
	names, ok := stringList(binding(rs, "frameworks"))
	if !ok || len(names) == 0 {
		return nil, fault.New(fault.Internal, "data.pdp.compliance.frameworks is not a set of names")
	}
	slices.Sort(names)
	q.frameworks = names
	c.ready.Store(&q)
	return &q, nil
}

// ComplianceFindings evaluates data.pdp.compliance.findings against the
// loaded policy set: the findings of one environment of a tenant ("" means
// decision.DefaultEnvironment) for one framework ("HIPAA", "PCI_DSS", "SOX", "GDPR";
// any case, "pci-dss" too; "" means every framework), sorted by control.
// Findings report what the settings are whether or not the tenant declares
// the framework.
//
// Errors: fault.Unavailable before the first Load, fault.InvalidArgument for
// an unknown framework, fault.NotFound for an unknown tenant or environment,
// fault.DeadlineExceeded when ctx ends first, fault.Internal when the
// library has no compliance module or returns malformed findings.
func (e *Engine) ComplianceFindings(ctx context.Context, tenant, environment, framework string) ([]Finding, error) {
	p := e.current.Load()
	if p == nil {
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	}
	if err := ctx.Err(); err != nil {
		return nil, complianceContextFault(err)
	}
	if p.compliance == nil {
		return nil, fault.New(fault.Internal, "the loaded policy set keeps no compliance queries")
	}
	q, err := p.compliance.queries(ctx)
	if err != nil {
		return nil, err
	}
	if environment == "" {
		environment = decision.DefaultEnvironment
	}
	if framework != "" {
		canonical := CanonicalFramework(framework)
		if !slices.Contains(q.frameworks, canonical) {
			return nil, &fault.Error{Code: fault.InvalidArgument, Message: "unknown compliance framework", Fields: []fault.FieldViolation{{
				Field:       "framework",
				Description: fmt.Sprintf("must be one of %s, not %q", strings.Join(q.frameworks, ", "), framework),
			}}}
		}
		framework = canonical
	}
	input := ast.NewObject(
		ast.Item(ast.InternedTerm("tenant"), ast.StringTerm(tenant)),
		ast.Item(ast.InternedTerm("environment"), ast.StringTerm(environment)),
		ast.Item(ast.InternedTerm("framework"), ast.StringTerm(framework)),
	)
	rs, err := q.findings.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, evalFault(ctx, err, "compliance findings")
	}
	raw := binding(rs, "findings")
	if raw == nil {
		return nil, unknownTarget(ctx, q, input, tenant, environment)
	}
	return parseFindings(raw)
}

// unknownTarget explains undefined findings: the tenant or its environment
// is not loaded.
func unknownTarget(ctx context.Context, q *complianceQueries, input ast.Value, tenant, environment string) error {
	rs, err := q.environments.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return evalFault(ctx, err, "tenant environments")
	}
	envs, ok := stringList(binding(rs, "environments"))
	if !ok {
		return fault.New(fault.NotFound, "no policy for tenant %q", tenant)
	}
	slices.Sort(envs)
	return fault.New(fault.NotFound, "tenant %q declares no environment %q (it declares %s)", tenant, environment, strings.Join(envs, ", "))
}

// CanonicalFramework spells a framework name the way tenant policies and
// the compliance module do: capitals, with '_' for '-' and ' ' ("pci-dss"
// -> "PCI_DSS"). It does not check that the framework exists.
func CanonicalFramework(name string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(strings.TrimSpace(name)))
}

// Checker reviews candidate tenant policies against the compliance profiles
// they declare, with a policy library compiled once. It needs no tenant
// data, so a policy is checked before it is accepted anywhere. It is safe
// for concurrent use.
type Checker struct {
	violations rego.PreparedEvalQuery
}

// NewChecker compiles a policy library (nil means the built-in one,
// pdp.Policies) and prepares data.pdp.compliance.violations. It fails when
// the library does not compile or has no compliance module.
func NewChecker(ctx context.Context, library fs.FS) (*Checker, error) {
	if library == nil {
		library = builtinLibrary()
	}
	sources, err := LibraryModules(library)
	if err != nil {
		return nil, err
	}
	compiler, err := ast.CompileModulesWithOpt(sources, ast.CompileOpts{
		ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1},
	})
	if err != nil {
		return nil, fmt.Errorf("compile policy library: %w", err)
	}
	if len(compiler.GetRules(violationsRef)) == 0 {
		return nil, fmt.Errorf("compile policy library: no module defines %s", violationsRef)
	}
	q, err := rego.New(
		rego.ParsedQuery(violationsQuery),
		rego.Compiler(compiler),
		rego.Store(inmem.New()),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", violationsRef, err)
	}
	return &Checker{violations: q}, nil
}

// Violations returns the failed findings of every profile that policy
// declares in its own "compliance" list, sorted by control; none means the
// policy keeps its promises. policy is one environment's effective policy
// (tenantdata.EffectiveEnvironment) and environment its name ("" means
// DefaultEnvironment); the name matters to controls about production.
//
// Errors: fault.InvalidArgument when policy is nil or not JSON-like,
// fault.DeadlineExceeded when ctx ends first, fault.Internal when the
// evaluation fails or returns malformed findings.
func (c *Checker) Violations(ctx context.Context, policy map[string]any, environment string) ([]Finding, error) {
	if policy == nil {
		return nil, fault.New(fault.InvalidArgument, "no policy to review")
	}
	if err := ctx.Err(); err != nil {
		return nil, complianceContextFault(err)
	}
	if environment == "" {
		environment = decision.DefaultEnvironment
	}
	doc, err := ast.InterfaceToValue(policy)
	if err != nil {
		return nil, fault.Wrap(err, fault.InvalidArgument, "the policy to review is not a JSON document")
	}
	input := ast.NewObject(
		ast.Item(ast.InternedTerm("environment"), ast.StringTerm(environment)),
		ast.Item(ast.InternedTerm("policy"), ast.NewTerm(doc)),
	)
	rs, err := c.violations.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, evalFault(ctx, err, "compliance violations")
	}
	raw := binding(rs, "violations")
	if raw == nil {
		return nil, fault.New(fault.Internal, "data.pdp.compliance.violations is undefined for the policy")
	}
	return parseFindings(raw)
}

// defaultChecker is the Checker of the built-in library, compiled on first
// use.
var defaultChecker = sync.OnceValues(func() (*Checker, error) {
	return NewChecker(context.Background(), nil)
})

// ComplianceViolations reviews one environment's effective policy with the
// built-in library, compiled once per process: see Checker.Violations.
func ComplianceViolations(ctx context.Context, policy map[string]any, environment string) ([]Finding, error) {
	c, err := defaultChecker()
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot compile the built-in compliance module")
	}
	return c.Violations(ctx, policy, environment)
}

// evalFault maps an evaluation error to a domain error.
func evalFault(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return complianceContextFault(ctxErr)
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

// complianceContextFault maps the end of the caller's context during a
// compliance review to a domain error.
func complianceContextFault(err error) error {
	if errors.Is(err, context.Canceled) {
		return fault.Wrap(err, fault.DeadlineExceeded, "request canceled before the compliance review finished")
	}
	return fault.Wrap(err, fault.DeadlineExceeded, "deadline exceeded before the compliance review finished")
}
