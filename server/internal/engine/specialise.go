package engine

// Specialised evaluation: the decision at the cost of the policy a tenant
// environment actually has.
//
// At load, each tenant environment's contribution sets (deny, challenge,
// notices, obligations, risk factors, and the session control) are
// partially evaluated with the tenant, the environment and explain: false
// known and the rest of the input unknown. OPA folds the tenant's settings
// into the rules and drops every rule they rule out; what is left, the
// residual, is compiled on its own and prepared. A request of that tenant
// environment evaluates the residual and the engine builds the decision
// document from the sets in Go (assemble.go), exactly as the library's
// data.pdp.decision would have.
//
// data.pdp.decision stays the reference: it decides every request the
// residual cannot (an explanation, an unknown tenant or environment, a
// tenant environment that could not be specialised), and the differential
// tests hold the two equal.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
)

// Why a request was decided by the reference query instead of a
// specialised one; the values of the reason label of
// pdp_engine_evaluations_total.
const (
	// Specialised is the path of a request decided by its tenant
	// environment's residual.
	Specialised = "specialised"
	// FallbackExplain: the request asked for the explanation, which lists
	// the checks that did not fire; only the reference computes them.
	FallbackExplain = "explain"
	// FallbackUnknown: no tenant environment of that name, so the
	// reference's gate decides.
	FallbackUnknown = "unknown_tenant_environment"
	// FallbackPending: the tenant environment is known but its residual is
	// not ready yet (a load specialises in the background).
	FallbackPending = "pending"
	// FallbackUnspecialisable: the tenant environment's rules cannot be
	// specialised; Specialisation says why.
	FallbackUnspecialisable = "unspecialisable"
	// FallbackDisabled: specialisation is turned off (Options.Reference).
	FallbackDisabled = "disabled"
)

// fallbacks are the fallback reasons, in the order Paths lists them.
var fallbacks = [...]string{FallbackExplain, FallbackUnknown, FallbackPending, FallbackUnspecialisable, FallbackDisabled}

// envKey names one tenant environment.
type envKey struct{ tenant, env string }

// contributionSets are the sets a residual computes, in the order of
// rego/README.md's "How modules contribute".
var contributionSets = [...]string{"deny", "challenge", "notices", "obligations", "risk_factors"}

// specialised is one tenant environment's prepared residual and the
// settings the decision's assembly reads.
type specialised struct {
	// full computes every set with topdown.
	full *topdownResidual
	// compiled is full compiled to Go (compiled.go), nil when the
	// residual holds what the compiler refuses; compiledWhy says what.
	compiled    *program
	compiledWhy string
	// noIndex: topdown evaluates the residual without its rule index
	// (specialise_glob.go).
	noIndex bool
	// evaluators is the engine's count of residual evaluations.
	evaluators *evaluatorCounts
	// scoreProgram is the specialiser's.
	scoreProgram *program
	// inlining is how the full residual was made; see residual.
	inlining string
	// builtins is the engine's built-in value cache.
	builtins rego.EvalOption
	// score is the specialiser's scoreQuery.
	score *rego.PreparedEvalQuery
	settings
	// rules and exprs measure the residual: support rules and the
	// expressions of the query and of every support rule body.
	rules, exprs int
	// plan is the part of the input the residual reads (inputplan.go).
	plan inputPlan
}

// settings are the tenant environment's constants the assembly reads,
// computed by the library's own rules at specialisation.
type settings struct {
	reportOnly bool
	// reportOnlyCodes are policy.report_only_rules.
	reportOnlyCodes map[string]bool
	cacheTTL        *ast.Term
	stepUp, denyAt  *ast.Term
}

// specialiser holds what every tenant environment of one policy set
// shares: the query to partially evaluate and the input refs unknown.
type specialiser struct {
	compiler *ast.Compiler
	store    storage.Store
	strict   bool
	builtins rego.EvalOption
	// valueCache is the engine's built-in value cache, for the compiled
	// residuals' built-in calls.
	valueCache cache.InterQueryValueCache
	evaluators *evaluatorCounts
	// scoreProgram is scoreQuery compiled; nil when refused.
	scoreProgram *program
	query        ast.Body
	// notInlined are the rules read in the heads of the rules adding to
	// the sets; see headRules.
	notInlined []string
	settings   rego.PreparedEvalQuery
	score      *rego.PreparedEvalQuery
	unknowns   []*ast.Term
	// refused is non-empty when no tenant environment of the set can be
	// specialised, and says why.
	refused   string
	lastQuery ast.Body
}

// knownInput are the input fields a residual is specialised on.
var knownInput = map[string]bool{"tenant": true, "environment": true, "explain": true}

// contractInput are the unknown input fields of rego/README.md; a module
// may read others (it then reads them as undefined), which are added.
var contractInput = []string{"time_ns", "subject", "authentication", "network", "device", "action",
	"resource", "session", "attributes", "caller", "signals"}

// scoreQuery is core_score over the risk factors, the library's and the
// authors', given as the input.
const scoreQuery = `score := max([0, min([1, round(sum([f.weight | some f in input]) * 10000) / 10000])])`

// settingsQuery reads the assembly's constants with the library's rules.
const settingsQuery = `report_only := count([1 | data.pdp.core_report_only]) > 0
codes := data.pdp.core_report_only_codes
ttl := object.get(data.pdp.policy, "cache_ttl_ns", 0)
step_up := data.pdp.core_step_up_threshold
deny_at := data.pdp.core_deny_threshold`

// newSpecialiser prepares the specialisation of a compiled policy set.
func newSpecialiser(ctx context.Context, compiler *ast.Compiler, store storage.Store, strict bool, builtins rego.EvalOption) (*specialiser, error) {
	s := &specialiser{compiler: compiler, store: store, strict: strict, builtins: builtins}
	unknowns, refused := inputUnknowns(compiler)
	if refused != "" {
		s.refused = refused
		return s, nil
	}
	s.unknowns = unknowns
	if why := literalEscapedGlob(compiler); why != "" {
		s.refused = why
		return s, nil
	}
	text, refused := specialisationQuery(compiler)
	if refused != "" {
		s.refused = refused
		return s, nil
	}
	q, err := ast.ParseBody(text)
	if err != nil {
		return nil, fmt.Errorf("specialisation query: %w", err)
	}
	s.query = q
	s.notInlined = headRules(compiler)
	s.settings, err = rego.New(
		rego.Query(settingsQuery),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.StrictBuiltinErrors(strict),
		rego.GenerateJSON(astResult),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("specialisation settings: %w", err)
	}
	score, err := rego.New(
		rego.Query(scoreQuery),
		rego.StrictBuiltinErrors(strict),
		rego.GenerateJSON(astResult),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("risk score: %w", err)
	}
	s.score = &score
	// The score compiled (compiled.go), or topdown's when it is refused.
	s.scoreProgram, _ = compileResidual(ast.MustParseBody(scoreQuery), nil, strict, nil)
	return s, nil
}

// specialisationQuery is the query partially evaluated per tenant environment:
// every contribution set, the authors' sets of package pdp.custom beside
// the library's (as core.rego's core_denies and the like combine them),
// and the session control. The risk score is scoreQuery's, evaluated
// only when a factor was added. An
// author's set that is not a partial set (a complete rule, which may be
// undefined) is combined by the reference alone.
func specialisationQuery(c *ast.Compiler) (string, string) {
	var b strings.Builder
	for _, name := range contributionSets {
		fmt.Fprintf(&b, "%s = data.pdp.%s\n", name, name)
		ref := ast.MustParseRef("data.pdp.custom." + name)
		rules := c.GetRules(ref)
		if len(rules) == 0 {
			continue
		}
		for _, r := range rules {
			if r.Head.RuleKind() != ast.MultiValue || !r.Ref().Equal(ref) {
				return "", fmt.Sprintf("%s: %v is not a partial set (\"contains\")", r.Location, ref)
			}
		}
		fmt.Fprintf(&b, "custom_%s = %v\n", name, ref)
	}
	b.WriteString("session = data.pdp.core_session\n")
	return b.String(), ""
}

// headRules lists the rules partial evaluation keeps as support rules:
// the library's sets, its sharedValues, and the rules and functions read
// in the head of a rule adding to a contribution set. Inlined into a
// reader that puts its value in a head, such a rule is where partial
// evaluation leaves a variable unbound (OPA issue 5226); kept as a
// support rule, its value is bound in the body.
func headRules(c *ast.Compiler) []string {
	seen := map[string]bool{}
	for _, name := range contributionSets {
		// The library's own sets, read by the sets of package pdp.
		seen["data.pdp.library_"+name] = true
	}
	for _, ref := range sharedValues {
		if len(c.GetRules(ast.MustParseRef(ref))) > 0 {
			seen[ref] = true
		}
	}
	for _, m := range c.Modules {
		for _, r := range m.Rules {
			if !contributes(r.Ref()) {
				continue
			}
			for _, t := range []*ast.Term{r.Head.Key, r.Head.Value} {
				if t == nil {
					continue
				}
				ast.WalkRefs(t, func(ref ast.Ref) bool {
					if ref.HasPrefix(ast.DefaultRootRef) && len(c.GetRules(ref.GroundPrefix())) > 0 {
						seen[ref.GroundPrefix().String()] = true
					}
					return false
				})
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// sharedValues are the library's values computed from the request that
// many rules read. Inlined, each reader computes its own copy (number
// arithmetic on nanosecond times allocates); kept as support rules, they
// are computed once per evaluation, as the reference computes them. None
// is in a control package (data.pdp.controls): partial evaluation does not
// enumerate the control packages, as the core does, when a rule under them
// must not be inlined, and would leave that reference in the residual.
var sharedValues = []string{
	"data.pdp.session_timeout_ns",
	"data.pdp.session_expires_at_ns",
	"data.pdp.session_idle_ns",
	"data.pdp.session_warn_at_ns",
}

// contributes reports whether ref is a set the decision reads or the
// library adds to: data.pdp.X, data.pdp.library_X, data.pdp.custom.X.
func contributes(ref ast.Ref) bool {
	if len(ref) != 3 && len(ref) != 4 || !ref.HasPrefix(pdpPath) {
		return false
	}
	name, ok := ref[len(ref)-1].Value.(ast.String)
	if !ok {
		return false
	}
	if len(ref) == 4 {
		pkg, _ := ref[2].Value.(ast.String)
		return pkg == "custom" && slices.Contains(contributionSets[:], string(name))
	}
	n := strings.TrimPrefix(string(name), "library_")
	return slices.Contains(contributionSets[:], n)
}

// inputUnknowns lists the input refs a residual leaves unknown: every
// field of the contract and every other field a module reads, but the
// tenant, the environment and explain. A module that reads input with a
// key computed at evaluation could read one of those, so its set is not
// specialised.
func inputUnknowns(c *ast.Compiler) ([]*ast.Term, string) {
	fields := map[string]bool{}
	for _, f := range contractInput {
		fields[f] = true
	}
	refused := ""
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		ast.WalkRefs(c.Modules[name], func(r ast.Ref) bool {
			if !r.HasPrefix(ast.InputRootRef) || len(r) < 2 {
				return false
			}
			key, ok := r[1].Value.(ast.String)
			if !ok {
				if refused == "" {
					refused = fmt.Sprintf("%s reads input with a computed key (%v)", r[0].Location, r)
				}
				return false
			}
			if !knownInput[string(key)] {
				fields[string(key)] = true
			}
			return false
		})
	}
	if refused != "" {
		return nil, refused
	}
	out := make([]*ast.Term, 0, len(fields))
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		out = append(out, ast.NewTerm(ast.InputRootRef.Append(ast.StringTerm(f))))
	}
	return out, ""
}

// specialise partially evaluates the query for one tenant environment.
// An error means the residual cannot stand for the reference here; the
// tenant environment is then decided by the reference.
func (s *specialiser) specialise(ctx context.Context, k envKey) (*specialised, error) {
	if s.refused != "" {
		return nil, fmt.Errorf("%s", s.refused)
	}
	known := ast.NewObject(
		ast.Item(ast.StringTerm("tenant"), ast.StringTerm(k.tenant)),
		ast.Item(ast.StringTerm("environment"), ast.StringTerm(k.env)),
		ast.Item(ast.StringTerm("explain"), ast.BooleanTerm(false)),
	)
	st, err := s.readSettings(ctx, known)
	if err != nil {
		return nil, err
	}
	sp := &specialised{builtins: s.builtins, score: s.score, settings: st, evaluators: s.evaluators, scoreProgram: s.scoreProgram}
	r, err := s.residual(ctx, s.query, known)
	if err != nil {
		return nil, err
	}
	sp.full, sp.rules, sp.exprs, sp.inlining, sp.plan = r.full, r.rules, r.exprs, r.inlining, r.plan
	sp.compiled, sp.compiledWhy, sp.noIndex = r.compiled, r.compiledWhy, r.noIndex
	return sp, nil
}

// residual is one prepared residual and its size.
type residual struct {
	full         *topdownResidual
	rules, exprs int
	// inlining is "full" or "shallow"; see partial.
	inlining string
	plan     inputPlan
	// compiled and compiledWhy are specialised's.
	compiled    *program
	compiledWhy string
	// noIndex: topdown evaluates the residual without its rule index
	// (specialise_glob.go).
	noIndex bool
}

// residual partially evaluates query for one tenant environment and
// prepares what is left. OPA inlines every rule it can into its readers,
// which makes the smallest residuals, but it can then leave a variable of
// a support rule's head unbound (OPA issue 5226); that residual is
// refused and the query evaluated again with shallow inlining, which
// keeps every rule reading the request a support rule of its own.
func (s *specialiser) residual(ctx context.Context, query ast.Body, known ast.Value) (residual, error) {
	r, err := s.partial(ctx, query, known, false)
	if errors.Is(err, errHeadUnbound) {
		r, err = s.partial(ctx, query, known, true)
	}
	return r, err
}

var errHeadUnbound = errors.New("partial evaluation left a variable of a rule's head unbound")

// partialQueries is OPA's partial evaluation of query for the known
// input, as every residual is made.
func (s *specialiser) partialQueries(ctx context.Context, query ast.Body, known ast.Value, shallow bool) (*rego.PartialQueries, error) {
	return rego.New(
		rego.ParsedQuery(query),
		rego.Compiler(s.compiler),
		rego.Store(s.store),
		rego.ParsedInput(known),
		rego.ParsedUnknowns(s.unknowns),
		rego.ShallowInlining(shallow),
		rego.DisableInlining(s.notInlined),
		rego.StrictBuiltinErrors(s.strict),
	).Partial(ctx)
}

func (s *specialiser) partial(ctx context.Context, query ast.Body, known ast.Value, shallow bool) (residual, error) {
	pq, err := s.partialQueries(ctx, query, known, shallow)
	if err != nil {
		return residual{}, fmt.Errorf("partial evaluation: %w", err)
	}
	if len(pq.Queries) != 1 {
		return residual{}, fmt.Errorf("the residual has %d queries, not one", len(pq.Queries))
	}
	r := residual{inlining: "full", exprs: len(pq.Queries[0]), plan: planInput(pq.Queries[0], pq.Support)}
	if shallow {
		r.inlining = "shallow"
	}
	sourceOrder(s.compiler, pq.Support)
	for _, m := range pq.Support {
		for _, rule := range m.Rules {
			if err := headBound(rule); err != nil {
				return residual{}, err
			}
		}
		if err := selfContained(m); err != nil {
			return residual{}, err
		}
		for _, rule := range m.Rules {
			r.rules++
			r.exprs += len(rule.Body)
		}
	}
	if err := noDataRef(pq.Queries[0]); err != nil {
		return residual{}, err
	}
	if err := onlyBindings(pq.Queries[0]); err != nil {
		return residual{}, err
	}
	// One compilation of the support modules serves topdown's prepared
	// query and the compiled residual.
	c, err := compileSupport(pq.Support)
	if err != nil {
		return residual{}, fmt.Errorf("prepare the residual: %w", err)
	}
	// topdown evaluates a residual holding an escaped pattern without
	// its rule index, as the reference, reading it from data, does.
	for _, m := range pq.Support {
		r.noIndex = r.noIndex || escapedGlob(m) != ""
	}
	r.full = &topdownResidual{query: pq.Queries[0], strict: s.strict}
	r.compiled, err = compileProgram(c, pq.Queries[0], s.strict, s.valueCache)
	if err == nil {
		// topdown is the compiled residual's fallback only, prepared
		// when a request first needs it from the support modules' text.
		if r.full.text, err = supportText(pq.Support); err != nil {
			return residual{}, fmt.Errorf("prepare the residual: %w", err)
		}
		return r, nil
	}
	r.compiledWhy = err.Error()
	if _, err := r.full.prepareOn(ctx, c); err != nil {
		return residual{}, fmt.Errorf("prepare the residual: %w", err)
	}
	return r, nil
}

// topdownResidual is a residual prepared for topdown. A residual the
// compiler refuses is prepared at specialisation; a compiled residual's,
// its fallback, when a request first needs it: until then the tenant
// environment holds the residual's query and its support modules as
// Rego text, not their trees, the prepared query and OPA's compiler,
// which weigh many times the compiled program.
type topdownResidual struct {
	once     sync.Once
	prepared atomic.Pointer[rego.PreparedEvalQuery]
	err      error
	// prepares counts the preparations: one at most.
	prepares atomic.Int32
	// query and text are the residual, dropped once prepared.
	query  ast.Body
	text   []string
	strict bool
}

// get returns the prepared query, preparing it on the first call.
func (t *topdownResidual) get(ctx context.Context) (*rego.PreparedEvalQuery, error) {
	if pq := t.prepared.Load(); pq != nil {
		return pq, nil
	}
	t.once.Do(func() {
		support, err := parseSupport(t.text)
		var c *ast.Compiler
		if err == nil {
			c, err = compileSupport(support)
		}
		if err == nil {
			// The request's end must not fail the preparation every
			// later request shares.
			_, err = t.prepareOn(context.WithoutCancel(ctx), c)
		}
		if err != nil {
			t.err = fmt.Errorf("prepare the residual: %w", err)
		}
	})
	if pq := t.prepared.Load(); pq != nil {
		return pq, nil
	}
	return nil, t.err
}

// prepareOn prepares the residual on c, its compiled support modules.
func (t *topdownResidual) prepareOn(ctx context.Context, c *ast.Compiler) (*rego.PreparedEvalQuery, error) {
	t.prepares.Add(1)
	pq, err := rego.New(
		rego.ParsedQuery(t.query),
		rego.Compiler(c),
		rego.Store(inmem.New()),
		rego.StrictBuiltinErrors(t.strict),
		rego.GenerateJSON(astResult),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	t.prepared.Store(&pq)
	t.query, t.text = nil, nil
	return &pq, nil
}

// supportText writes support modules as Rego text. Partial evaluation
// can leave one wildcard ("$12", written "_") in two expressions of a
// body, as one variable; written out, each "_" would be a variable of
// its own, so wildcards are named first.
func supportText(support []*ast.Module) ([]string, error) {
	text := make([]string, len(support))
	for i, m := range support {
		named, err := ast.TransformVars(m.Copy(), func(v ast.Var) (ast.Value, error) {
			if v.IsWildcard() {
				return ast.Var("__pdp_wildcard" + strings.TrimPrefix(string(v), ast.WildcardPrefix) + "__"), nil
			}
			return v, nil
		})
		if err != nil {
			return nil, err
		}
		text[i] = named.(*ast.Module).String()
	}
	return text, nil
}

// parseSupport parses the support modules' text back.
func parseSupport(text []string) ([]*ast.Module, error) {
	mods := make([]*ast.Module, len(text))
	for i, src := range text {
		m, err := ast.ParseModuleWithOpts(fmt.Sprintf("support%03d.rego", i), src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		mods[i] = m
	}
	return mods, nil
}

// readSettings evaluates the assembly's constants for one tenant
// environment.
func (s *specialiser) readSettings(ctx context.Context, known ast.Value) (settings, error) {
	rs, err := s.settings.Eval(ctx, rego.EvalParsedInput(known), noMetrics)
	if err != nil {
		return settings{}, fmt.Errorf("settings: %w", err)
	}
	if len(rs) != 1 {
		return settings{}, fmt.Errorf("settings: %d results", len(rs))
	}
	b := rs[0].Bindings
	st := settings{reportOnlyCodes: map[string]bool{}}
	ro, _ := b["report_only"].(ast.Boolean)
	st.reportOnly = bool(ro)
	codes, ok := b["codes"].(ast.Set)
	if !ok {
		return settings{}, fmt.Errorf("settings: report-only codes are %T", b["codes"])
	}
	var bad error
	codes.Foreach(func(t *ast.Term) {
		c, ok := t.Value.(ast.String)
		if !ok {
			bad = fmt.Errorf("settings: report-only code %v is not a string", t)
			return
		}
		st.reportOnlyCodes[string(c)] = true
	})
	if bad != nil {
		return settings{}, bad
	}
	for name, dst := range map[string]**ast.Term{"ttl": &st.cacheTTL, "step_up": &st.stepUp, "deny_at": &st.denyAt} {
		v, ok := b[name].(ast.Value)
		if !ok {
			return settings{}, fmt.Errorf("settings: %s is %T", name, b[name])
		}
		*dst = ast.NewTerm(v)
	}
	return st, nil
}

// selfContained checks that a support module reads nothing but its own
// support rules: a reference to a rule of the policy set means partial
// evaluation left that rule as it was (an ordered rule, say), and the
// residual, compiled alone, would read it as undefined.
func selfContained(m *ast.Module) error {
	var err error
	ast.WalkRules(m, func(r *ast.Rule) bool {
		if err == nil {
			err = noDataRef(r.Body)
		}
		if err == nil && r.Head.Value != nil {
			err = noDataRef(r.Head.Value)
		}
		if err == nil && r.Head.Key != nil {
			err = noDataRef(r.Head.Key)
		}
		return false
	})
	return err
}

// headBound checks that every variable of a support rule's head occurs in
// its body or among its arguments. Partial evaluation can rename a variable of the body but not
// of the head when it inlines a rule into another's head (OPA issue
// 5226); such a rule would add values holding an unbound variable.
func headBound(r *ast.Rule) error {
	body := r.Body.Vars(ast.VarVisitorParams{})
	for _, a := range r.Head.Args {
		ast.WalkVars(a, func(v ast.Var) bool { body.Add(v); return false })
	}
	var err error
	for _, t := range []*ast.Term{r.Head.Key, r.Head.Value} {
		if t == nil || err != nil {
			continue
		}
		ast.WalkVars(t, func(v ast.Var) bool {
			if err == nil && !v.IsWildcard() && !body.Contains(v) {
				err = fmt.Errorf("%w: %v of %v", errHeadUnbound, v, r.Head.Ref())
			}
			return false
		})
	}
	return err
}

// onlyBindings checks that a residual query only binds the sets to their
// names. Preparing a query for topdown moves a condition's test to the
// query's end (rego's capture of expression values), so a built-in error
// after a failed condition would become the request's error, where the
// reference and the compiled residual stop at the condition.
func onlyBindings(q ast.Body) error {
	for _, e := range q {
		if e.Negated || !(e.IsEquality() || e.IsAssignment()) {
			return fmt.Errorf("the residual query holds a condition (%v)", e)
		}
	}
	return nil
}

// partialRoot is where partial evaluation writes support rules.
var partialRoot = ast.MustParseRef("data.partial")

func noDataRef(x any) error {
	var err error
	ast.WalkRefs(x, func(r ast.Ref) bool {
		if err == nil && r.HasPrefix(ast.DefaultRootRef) && !r.HasPrefix(partialRoot) {
			err = fmt.Errorf("the residual reads %v, which partial evaluation left unspecialised", r)
		}
		return false
	})
	return err
}

// eval evaluates the residual for one input. One residual decides
// every request: it computes core_quiet once, and the plain allow reads
// its sets empty without a second evaluation.
//
// The compiled residual evaluates it when there is one; an error of
// the compiled evaluation but the context's end hands the request to
// topdown on the same residual, which decides which error, if any, it
// gets (compiled.go).
func (sp *specialised) eval(ctx context.Context, input ast.Value) (rego.ResultSet, error) {
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	if sp.compiled != nil {
		rs, err := sp.compiled.eval(ctx, input, cancel)
		if err == nil || ctx.Err() != nil {
			sp.evaluators.count(EvaluatorCompiled)
			return rs, err
		}
		sp.evaluators.count(EvaluatorCompiledError)
	} else {
		sp.evaluators.count(EvaluatorTopdown)
	}
	return sp.topdown(ctx, input, cancel)
}

// topdown evaluates the residual with topdown.
func (sp *specialised) topdown(ctx context.Context, input ast.Value, cancel topdown.Cancel) (rego.ResultSet, error) {
	full, err := sp.full.get(ctx)
	if err != nil {
		return nil, err
	}
	return full.Eval(ctx, rego.EvalParsedInput(input), noMetrics, rego.EvalExternalCancel(cancel), sp.builtins, rego.EvalRuleIndexing(!sp.noIndex))
}
