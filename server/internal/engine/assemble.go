package engine

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// assemble builds the decision from a residual's result, as
// rego/core.rego's core_full_document builds the decision document from
// the same sets: each step below names the rule it stands for. Sets,
// sorting and comparisons are OPA's own (ast.Set, Sorted, ast.Compare),
// so ties and mixed types order as they do in Rego. The decision is read
// from the parts by the strict reader's own checks, in parseDecision's
// order, without building the document: an error of that reading is a
// malformedError.
func (sp *specialised) assemble(rs rego.ResultSet) (*decision.Decision, error) {
	if len(rs) == 0 {
		return nil, errors.New("the residual is undefined")
	}
	if len(rs) > 1 {
		return nil, errors.New("the residual has more than one result")
	}
	b := rs[0].Bindings
	var sets [len(contributionSets)]ast.Set
	for i, name := range contributionSets {
		s, err := bindingSet(b, name)
		if err != nil {
			return nil, err
		}
		if c, ok := b["custom_"+name]; ok {
			cs, ok := c.(ast.Set)
			if !ok {
				return nil, fmt.Errorf("data.pdp.custom.%s is not a set", name)
			}
			s = s.Union(cs)
		}
		sets[i] = s
	}
	denies, challenges, notices, obligations, factors := sets[0], sets[1], sets[2], sets[3], sets[4]

	// core_outcome and core_enforced_outcome.
	outcome := outcomeOf(denies, challenges)
	enforcedDenies, enforcedChallenges := denies, challenges
	if len(sp.reportOnlyCodes) > 0 {
		enforcedDenies, enforcedChallenges = sp.enforced(denies), sp.enforced(challenges)
	}
	decided := outcomeOf(enforcedDenies, enforcedChallenges)
	if sp.reportOnly { // core_decided
		decided = allowTerm
	}

	// core_enforced: false in report-only mode or when a report-only rule
	// fired (core_observed).
	enforced := !sp.reportOnly && !sp.observed(denies) && !sp.observed(challenges)

	reasons, err := sp.reasonList(denies, challenges, notices)
	if err != nil {
		return nil, err
	}

	// core_step_up_source and core_step_ups.
	source := enforcedChallenges
	if sp.reportOnly {
		source = challenges
	}
	var stepUps []*ast.Term
	if source.Len() > 0 {
		set := ast.NewSet()
		source.Foreach(func(c *ast.Term) {
			if list := field(c, "step_ups"); list != nil {
				iterate(list, func(s *ast.Term) { set.Add(s) })
			}
		})
		stepUps = sortedTerms(set)
	}

	// core_obligation_list.
	kept := obligations
	if sp.reportOnly || len(sp.reportOnlyCodes) > 0 {
		kept = ast.NewSet()
		obligations.Foreach(func(o *ast.Term) {
			if !sp.held(o) {
				kept.Add(o)
			}
		})
	}

	risk, err := sp.risk(factors)
	if err != nil {
		return nil, err
	}

	ttl := zeroTerm
	if decided == allowTerm { // core_cache_ttl_ns
		ttl = sp.cacheTTL
	}
	session, ok := b["session"].(ast.Value)
	if !ok {
		return nil, errors.New("the residual has no session control")
	}

	// What parseDecision reads of the document, in its order.
	r := reader{}
	d := &decision.Decision{
		Kind:        r.kind(decided.Value, "decision"),
		Reasons:     readList(&r, reasons, "reasons", r.reasonOf),
		StepUps:     readTerms(&r, stepUps, "step_ups", r.stepUp),
		Obligations: readTerms(&r, sortedTerms(kept), "obligations", r.obligation),
		Risk:        r.riskOf(risk.score, risk.level, risk.factors, "risk"),
		Enforced:    enforced,
		Session:     r.session(session, "session"),
		CacheTTL:    r.duration(ttl.Value, "cache_ttl_ns"),
		WouldDecide: r.kind(outcome.Value, "would_decide"),
	}
	if r.err == nil {
		r.err = consistent(d)
	}
	if r.err != nil {
		return nil, malformedError{r.err}
	}
	return d, nil
}

// malformedError is a decision assembled from a residual's result that
// the strict reader refuses, as parseDecision refuses a document.
type malformedError struct{ err error }

func (m malformedError) Error() string { return m.err.Error() }
func (m malformedError) Unwrap() error { return m.err }

var (
	allowTerm     = ast.StringTerm("allow")
	denyTerm      = ast.StringTerm("deny")
	challengeTerm = ast.StringTerm("challenge")
	zeroTerm      = ast.IntNumberTerm(0)
	pointThree    = ast.FloatNumberTerm(0.3)
	codeKey       = ast.StringTerm("code")
	messageKey    = ast.StringTerm("message")
	ruleKey       = ast.StringTerm("rule")
	nameKey       = ast.StringTerm("name")
	weightKey     = ast.StringTerm("weight")
	// core_enforcing_obligations
	enforcingKinds = ast.NewSet(ast.StringTerm("suspend_user"), ast.StringTerm("block_ip"))
	// core_risk_level's words.
	levelCriticalTerm = ast.StringTerm("critical")
	levelHighTerm     = ast.StringTerm("high")
	levelMediumTerm   = ast.StringTerm("medium")
	levelLowTerm      = ast.StringTerm("low")
	emptyString       = ast.StringTerm("")
)

// bindingSet reads one of the residual's sets.
func bindingSet(b rego.Vars, name string) (ast.Set, error) {
	s, ok := b[name].(ast.Set)
	if !ok {
		return nil, fmt.Errorf("data.pdp.%s is %T, not a set", name, b[name])
	}
	return s, nil
}

// outcomeOf is core_outcome: any deny wins over any challenge over allow.
func outcomeOf(denies, challenges ast.Set) *ast.Term {
	switch {
	case denies.Len() > 0:
		return denyTerm
	case challenges.Len() > 0:
		return challengeTerm
	}
	return allowTerm
}

// enforced is core_enforced_denies and core_enforced_challenges: the
// elements whose code is not report-only (an element without a code is
// left out, as `code := d.code` leaves it).
func (sp *specialised) enforced(xs ast.Set) ast.Set {
	out := ast.NewSet()
	xs.Foreach(func(x *ast.Term) {
		code := field(x, "code")
		if code == nil || sp.reportOnlyCode(code) {
			return
		}
		out.Add(x)
	})
	return out
}

func (sp *specialised) reportOnlyCode(code *ast.Term) bool {
	s, ok := code.Value.(ast.String)
	return ok && sp.reportOnlyCodes[string(s)]
}

// observed is core_observed for one of the two sets.
func (sp *specialised) observed(xs ast.Set) bool {
	if len(sp.reportOnlyCodes) == 0 {
		return false
	}
	found := false
	xs.Foreach(func(x *ast.Term) {
		if code := field(x, "code"); code != nil && sp.reportOnlyCode(code) {
			found = true
		}
	})
	return found
}

// held is core_held: an enforcing obligation held back, every one in
// report-only mode and those a report-only rule asked for.
func (sp *specialised) held(o *ast.Term) bool {
	kind := field(o, "kind")
	if kind == nil || !enforcingKinds.Contains(kind) {
		return false
	}
	if sp.reportOnly {
		return true
	}
	params := field(o, "params")
	if params == nil {
		return false
	}
	reason := field(params, "reason")
	return reason != nil && sp.reportOnlyCode(reason)
}

// reasonList is core_reason_list: the reasons of the denies, then of the
// challenges, then of the notices; nil when there are none.
func (sp *specialised) reasonList(denies, challenges, notices ast.Set) ([]reasonParts, error) {
	var out []reasonParts
	for _, xs := range [...]ast.Set{denies, challenges, notices} {
		rs, err := reasonsOf(xs)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// reasonParts are the fields of one element cut to code, message and
// rule; nil where it has none.
type reasonParts struct{ code, message, rule *ast.Term }

// reasonsOf is core_reasons: each element cut to code, message and rule,
// sorted by code (core_sort_by).
func reasonsOf(xs ast.Set) ([]reasonParts, error) {
	if xs.Len() == 0 {
		return nil, nil
	}
	if out, ok := wholeReasons(xs); ok {
		return out, nil
	}
	return cutReasons(xs)
}

// cutReasons is reasonsOf for any elements: each cut by object.filter,
// the cuts a set.
func cutReasons(xs ast.Set) ([]reasonParts, error) {
	cut := ast.NewSet()
	var err error
	xs.Foreach(func(x *ast.Term) {
		o, ok := x.Value.(ast.Object)
		if !ok {
			err = fmt.Errorf("object.filter: operand 1 must be object but got %s", ast.ValueName(x.Value))
			return
		}
		f, ferr := o.Filter(reasonFilter)
		if ferr != nil {
			err = ferr
			return
		}
		cut.Add(ast.NewTerm(f))
	})
	if err != nil {
		return nil, err
	}
	sorted := sortBy(cut, codeKey)
	out := make([]reasonParts, len(sorted))
	for i, c := range sorted {
		out[i] = reasonParts{field(c, "code"), field(c, "message"), field(c, "rule")}
	}
	return out, nil
}

// wholeReasons is reasonsOf when every element is an object with a code,
// a message and a rule, as the library's are: the cuts then all have
// those three keys, so they order by code, message and rule (as objects
// of the same keys compare, core_sort_by's code first), and equal cuts
// are one element of the set. It is done without making the cuts.
func wholeReasons(xs ast.Set) ([]reasonParts, bool) {
	elems := xs.Slice()
	out := make([]reasonParts, 0, len(elems))
	for _, x := range elems {
		o, ok := x.Value.(ast.Object)
		if !ok {
			return nil, false
		}
		p := reasonParts{o.Get(codeKey), o.Get(messageKey), o.Get(ruleKey)}
		if p.code == nil || p.message == nil || p.rule == nil {
			return nil, false
		}
		out = append(out, p)
	}
	slices.SortFunc(out, compareReasons)
	return slices.CompactFunc(out, func(a, b reasonParts) bool { return compareReasons(a, b) == 0 }), true
}

func compareReasons(a, b reasonParts) int {
	if c := a.code.Value.Compare(b.code.Value); c != 0 {
		return c
	}
	if c := a.message.Value.Compare(b.message.Value); c != 0 {
		return c
	}
	return a.rule.Value.Compare(b.rule.Value)
}

// reasonFilter is object.filter's argument ["code", "message", "rule"].
var reasonFilter = func() ast.Object {
	o := ast.NewObject()
	for _, k := range []string{"code", "message", "rule"} {
		o.Insert(ast.StringTerm(k), ast.NullTerm())
	}
	return o
}()

// sortBy is core_sort_by: the elements ordered by the value under key
// ("" when absent), ties broken by the whole element, as the pairs [key
// value, element] it sorts compare.
func sortBy(xs ast.Set, key *ast.Term) []*ast.Term {
	out := slices.Clone(xs.Slice())
	slices.SortFunc(out, func(a, b *ast.Term) int {
		if c := sortKey(a, key).Compare(sortKey(b, key)); c != 0 {
			return c
		}
		return a.Value.Compare(b.Value)
	})
	return out
}

// sortKey is x[key] when x is an object that has it, else "".
func sortKey(x, key *ast.Term) ast.Value {
	if o, ok := x.Value.(ast.Object); ok {
		if v := o.Get(key); v != nil {
			return v.Value
		}
	}
	return emptyString.Value
}

// sortedTerms are the elements of s in Rego's order; nil when none.
func sortedTerms(s ast.Set) []*ast.Term {
	if s.Len() == 0 {
		return nil
	}
	return s.Slice() // sorted, read only
}

// riskParts are core_risk's fields.
type riskParts struct {
	score, level *ast.Term
	factors      []*ast.Term
}

// risk is core_risk: the score core_score computes (scoreQuery), its
// level (core_risk_level), and the factors sorted by name.
func (sp *specialised) risk(factors ast.Set) (riskParts, error) {
	if factors.Len() == 0 {
		return riskParts{score: zeroTerm, level: sp.zeroLevel()}, nil
	}
	st, err := sp.riskScore(factors)
	if err != nil {
		return riskParts{}, err
	}
	return riskParts{score: st, level: sp.level(st), factors: sortBy(factors, nameKey)}, nil
}

// riskScore is core_score over the factors (scoreOf), taken
// from scores when the same weights were summed before.
func (sp *specialised) riskScore(factors ast.Set) (*ast.Term, error) {
	w, ok := weightsOf(factors)
	if ok {
		if st := scores.get(&w); st != nil {
			return st, nil
		}
	}
	rs, err := sp.scoreOf(factors)
	if err != nil {
		return nil, fmt.Errorf("risk score: %w", err)
	}
	if len(rs) != 1 {
		return nil, errors.New("the risk score is undefined")
	}
	score, ok2 := rs[0].Bindings["score"].(ast.Value)
	if !ok2 {
		return nil, errors.New("the risk score is not a value")
	}
	st := ast.NewTerm(score)
	if ok {
		scores.put(&w, st)
	}
	return st, nil
}

// weights are the weights of a set of factors, in the set's order.
type weights struct {
	n    int
	list [maxScoredWeights]ast.Number
	hash uint64
}

// maxScoredWeights is the most factors whose score scores keeps.
const maxScoredWeights = 16

// weightsOf reads the factors' weights; false when one is not an object
// with a number weight, or there are too many to keep.
func weightsOf(factors ast.Set) (weights, bool) {
	var w weights
	elems := factors.Slice()
	if len(elems) > maxScoredWeights {
		return w, false
	}
	w.hash = 14695981039346656037 // FNV-1a
	for _, f := range elems {
		o, ok := f.Value.(ast.Object)
		if !ok {
			return w, false
		}
		t := o.Get(weightKey)
		if t == nil {
			return w, false
		}
		n, ok := t.Value.(ast.Number)
		if !ok {
			return w, false
		}
		w.list[w.n] = n
		w.n++
		for i := range len(n) {
			w.hash = (w.hash ^ uint64(n[i])) * 1099511628211
		}
		w.hash = (w.hash ^ ',') * 1099511628211
	}
	return w, true
}

// scoreCache keeps core_score by the weights it summed. scoreQuery sums
// `f.weight` over the factors in the set's order and rounds; nothing
// else of a factor counts, so the same weights in the same order always
// give the same score, whichever tenant or factors they came from. Each
// slot holds the last weights that hashed to it.
type scoreCache [256]atomic.Pointer[scoreEntry]

type scoreEntry struct {
	weights []ast.Number
	score   *ast.Term
}

var scores scoreCache

func (c *scoreCache) get(w *weights) *ast.Term {
	e := c[w.hash%uint64(len(c))].Load()
	if e == nil || !slices.Equal(e.weights, w.list[:w.n]) {
		return nil
	}
	return e.score
}

func (c *scoreCache) put(w *weights, score *ast.Term) {
	c[w.hash%uint64(len(c))].Store(&scoreEntry{weights: slices.Clone(w.list[:w.n]), score: score})
}

// level is core_risk_level: low < 0.3 <= medium <= step-up threshold <
// high < deny threshold <= critical, compared as Rego compares.
func (sp *specialised) level(score *ast.Term) *ast.Term {
	switch {
	case ast.Compare(score, sp.denyAt) >= 0:
		return levelCriticalTerm
	case ast.Compare(score, sp.stepUp) > 0:
		return levelHighTerm
	case ast.Compare(score, pointThree) >= 0:
		return levelMediumTerm
	}
	return levelLowTerm
}

// zeroLevel is core_zero_risk_level.
func (sp *specialised) zeroLevel() *ast.Term {
	switch {
	case ast.Compare(zeroTerm, sp.denyAt) >= 0:
		return levelCriticalTerm
	case ast.Compare(zeroTerm, sp.stepUp) > 0:
		return levelHighTerm
	}
	return levelLowTerm
}

// field is x[key] when x is an object that has it, else nil.
func field(x *ast.Term, key string) *ast.Term {
	o, ok := x.Value.(ast.Object)
	if !ok {
		return nil
	}
	return o.Get(ast.StringTerm(key))
}

// iterate calls fn with every value of a collection, as `some v in x`
// does; other values have none.
func iterate(x *ast.Term, fn func(*ast.Term)) {
	switch v := x.Value.(type) {
	case *ast.Array:
		v.Foreach(fn)
	case ast.Set:
		v.Foreach(fn)
	case ast.Object:
		v.Foreach(func(_, val *ast.Term) { fn(val) })
	}
}
