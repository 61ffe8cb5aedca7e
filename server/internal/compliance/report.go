package compliance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Report queries. Each binds one variable so that results are read by
// name.
var (
	findingsQuery     = ast.MustParseBody("findings := data.pdp.compliance.findings")
	frameworksQuery   = ast.MustParseBody("frameworks := data.pdp.compliance.frameworks")
	environmentsQuery = ast.MustParseBody("environments := object.keys(data.tenants[input.tenant].environments)")

	findingsRef = ast.MustParseRef("data.pdp.compliance.findings")
)

// Reporter computes compliance findings against the policy set an engine
// serves. Its queries are prepared on first use for each loaded set, not
// at load, so that a reload of the decision path pays nothing for them. It
// is safe for concurrent use.
type Reporter struct {
	engine *engine.Engine

	mu    sync.Mutex // serialises preparation
	ready atomic.Pointer[reportQueries]
}

// reportQueries are the prepared queries of one policy set.
type reportQueries struct {
	set          *engine.Set
	findings     rego.PreparedEvalQuery
	environments rego.PreparedEvalQuery
	// frameworks are the profile names the library knows, sorted.
	frameworks []string
}

// NewReporter returns a Reporter of the sets e loads.
func NewReporter(e *engine.Engine) *Reporter { return &Reporter{engine: e} }

// queries returns the prepared queries of set, preparing them on the first
// call for it. A failed preparation is not remembered, so a canceled
// context does not spoil the set.
func (r *Reporter) queries(ctx context.Context, set *engine.Set) (*reportQueries, error) {
	if q := r.ready.Load(); q != nil && q.set == set {
		return q, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if q := r.ready.Load(); q != nil && q.set == set {
		return q, nil
	}
	if len(set.Compiler.GetRules(findingsRef)) == 0 {
		return nil, fault.New(fault.Internal, "the policy library defines no data.pdp.compliance.findings")
	}
	prepare := func(body ast.Body) (rego.PreparedEvalQuery, error) {
		return rego.New(
			rego.ParsedQuery(body),
			rego.Compiler(set.Compiler),
			rego.Store(set.Store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
	}
	var err error
	q := reportQueries{set: set}
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
	r.ready.Store(&q)
	return &q, nil
}

// Findings evaluates data.pdp.compliance.findings against the policy set
// the engine serves: the findings of one environment of a tenant ("" means
// decision.DefaultEnvironment) for one framework ("HIPAA", "PCI_DSS",
// "SOX", "GDPR"; any case, "pci-dss" too; "" means every framework), sorted
// by control. Findings report what the settings are whether or not the
// tenant declares the framework.
//
// Errors: fault.Unavailable before the engine's first Load,
// fault.InvalidArgument for an unknown framework, fault.NotFound for an
// unknown tenant or environment, fault.DeadlineExceeded when ctx ends
// first, fault.Internal when the library has no compliance module or
// returns malformed findings.
func (r *Reporter) Findings(ctx context.Context, tenant, environment, framework string) ([]Finding, error) {
	set := r.engine.Current()
	if set == nil {
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	}
	if err := ctx.Err(); err != nil {
		return nil, contextFault(err)
	}
	q, err := r.queries(ctx, set)
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
func unknownTarget(ctx context.Context, q *reportQueries, input ast.Value, tenant, environment string) error {
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
