package compliance

import (
	"context"
	"fmt"
	"io/fs"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	pdp "github.com/pdp-dev/pdp"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

var (
	violationsQuery = ast.MustParseBody("violations := data.pdp.compliance.violations")
	violationsRef   = ast.MustParseRef("data.pdp.compliance.violations")
)

// Reviewer reviews candidate tenant policies against the compliance profiles
// they declare, with a policy library compiled once. It needs no tenant
// data, so a policy is checked before it is accepted anywhere. It is safe
// for concurrent use. (It is no Checker: in this repository a Checker
// decides requests.)
type Reviewer struct {
	violations rego.PreparedEvalQuery
}

// NewReviewer compiles a policy library (nil means the built-in one,
// pdp.Policies) and prepares data.pdp.compliance.violations. It fails when
// the library does not compile or has no compliance module.
func NewReviewer(ctx context.Context, library fs.FS) (*Reviewer, error) {
	if library == nil {
		library = pdp.Policies
	}
	sources, err := engine.LibraryModules(library)
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
	return &Reviewer{violations: q}, nil
}

// Violations returns the failed findings of every profile that policy
// declares in its own "compliance" list, sorted by control; none means the
// policy keeps its promises. policy is one environment's effective policy
// (tenantdata.EffectiveEnvironment) and environment its name ("" means
// decision.DefaultEnvironment); the name matters to controls about
// production.
//
// Errors: fault.InvalidArgument when policy is nil or not JSON-like,
// fault.DeadlineExceeded when ctx ends first, fault.Internal when the
// evaluation fails or returns malformed findings.
func (c *Reviewer) Violations(ctx context.Context, policy map[string]any, environment string) ([]Finding, error) {
	if policy == nil {
		return nil, fault.New(fault.InvalidArgument, "no policy to review")
	}
	if err := ctx.Err(); err != nil {
		return nil, contextFault(err)
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

// defaultReviewer is the Reviewer of the built-in library, compiled on first
// use.
var defaultReviewer = sync.OnceValues(func() (*Reviewer, error) {
	return NewReviewer(context.Background(), nil)
})

// Violations reviews one environment's effective policy with the built-in
// library, compiled once per process: see Reviewer.Violations.
func Violations(ctx context.Context, policy map[string]any, environment string) ([]Finding, error) {
	c, err := defaultReviewer()
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot compile the built-in compliance module")
	}
	return c.Violations(ctx, policy, environment)
}
