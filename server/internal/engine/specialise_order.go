package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Partial evaluation sorts each support module's rules by head and body
// (for deterministic output), which loses the library's order of a
// rule's definitions: "the first body for the common case". A complete
// rule whose definitions all give the same value stops at the first that
// holds, so in sorted order the slow exact body of a quiet flag runs on
// every request and the cheap one after it. sourceOrder puts each
// rule's definitions back in the order of the library's source and drops
// those partial evaluation proved can never hold, and duplicates.

// sourceOrder reorders the rules of the support modules of a residual
// made from compiler's policy set.
func sourceOrder(c *ast.Compiler, support []*ast.Module) {
	for _, m := range support {
		spans := map[string][]ruleSpan{}
		keys := make(map[*ast.Rule]orderKey, len(m.Rules))
		for _, r := range m.Rules {
			ref := r.Head.Ref().String()
			if _, ok := spans[ref]; !ok {
				spans[ref] = originalSpans(c, m.Package.Path, r.Head.Ref())
			}
			keys[r] = orderKey{ref, !r.Default, definitionIndex(r, spans[ref]), r.Body.String()}
		}
		dead := map[*ast.Rule]bool{}
		for _, r := range m.Rules {
			dead[r] = !r.Default && neverHolds(r.Body) && hasOther(m.Rules, r)
		}
		m.Rules = slices.DeleteFunc(m.Rules, func(r *ast.Rule) bool { return dead[r] })
		slices.SortFunc(m.Rules, func(a, b *ast.Rule) int { return keys[a].compare(keys[b]) })
		// Two definitions of the same head and body add nothing but a
		// second evaluation.
		seen := map[[2]string]bool{}
		m.Rules = slices.DeleteFunc(m.Rules, func(r *ast.Rule) bool {
			k := [2]string{fmt.Sprint(r.Default, r.Head), keys[r].body}
			if seen[k] {
				return true
			}
			seen[k] = true
			return false
		})
	}
	slices.SortFunc(support, func(a, b *ast.Module) int { return a.Package.Path.Compare(b.Package.Path) })
}

// orderKey orders a support module's rules: by rule, the default first,
// then by the library's definition order; the text of the body breaks
// ties, so that the residual is the same at every load.
type orderKey struct {
	ref        string
	notDefault bool
	definition int
	body       string
}

func (k orderKey) compare(o orderKey) int {
	if c := strings.Compare(k.ref, o.ref); c != 0 {
		return c
	}
	if k.notDefault != o.notDefault {
		if k.notDefault {
			return 1
		}
		return -1
	}
	if c := k.definition - o.definition; c != 0 {
		return c
	}
	return strings.Compare(k.body, o.body)
}

// ruleSpan is where one definition of a rule is in its module's source.
type ruleSpan struct {
	file       string
	start, end int
}

// originalSpans lists, in source order (by file name, then line), the spans of the definitions of
// the rule a support rule stands for: data.partial.X stands for data.X.
func originalSpans(c *ast.Compiler, pkg ast.Ref, head ast.Ref) []ruleSpan {
	if len(pkg) < 2 || !pkg[1].Equal(ast.StringTerm("partial")) {
		return nil
	}
	ref := append(ast.Ref{ast.DefaultRootDocument}, pkg[2:]...)
	for _, t := range head {
		if v, ok := t.Value.(ast.Var); ok {
			t = ast.StringTerm(string(v))
		}
		ref = append(ref, t)
	}
	var out []ruleSpan
	for _, r := range c.GetRules(ref) {
		for ; r != nil; r = r.Else {
			if r.Location == nil || len(r.Body) == 0 {
				continue
			}
			end := r.Location.Row
			if last := r.Body[len(r.Body)-1].Location; last != nil {
				end = last.Row + strings.Count(string(last.Text), "\n")
			}
			out = append(out, ruleSpan{r.Location.File, r.Location.Row, end})
		}
	}
	// GetRules does not list a rule's definitions in a fixed order.
	slices.SortFunc(out, func(a, b ruleSpan) int {
		if c := strings.Compare(a.file, b.file); c != 0 {
			return c
		}
		return a.start - b.start
	})
	return out
}

// definitionIndex is the position among spans of the definition a
// support rule's body came from: the first of its expressions that lies
// within one. A body always true comes first; a body from no known
// definition after every known one.
func definitionIndex(r *ast.Rule, spans []ruleSpan) int {
	if alwaysHolds(r.Body) {
		return -1
	}
	for _, x := range r.Body {
		if x.Location == nil {
			continue
		}
		for i, s := range spans {
			if x.Location.File == s.file && x.Location.Row >= s.start && x.Location.Row <= s.end {
				return i
			}
		}
	}
	return len(spans)
}

// alwaysHolds reports whether every expression of a body is the constant
// true.
func alwaysHolds(b ast.Body) bool {
	for _, x := range b {
		if x.Negated || len(x.With) > 0 || !isTrue(x.Terms) {
			return false
		}
	}
	return true
}

// neverHolds reports whether a body holds the expression "not true".
func neverHolds(b ast.Body) bool {
	for _, x := range b {
		if x.Negated && len(x.With) == 0 && isTrue(x.Terms) {
			return true
		}
	}
	return false
}

func isTrue(terms any) bool {
	t, ok := terms.(*ast.Term)
	return ok && t.Value.Compare(ast.Boolean(true)) == 0
}

// hasOther reports whether another definition of r's rule is left, so
// that dropping r cannot leave a reader with a rule of no definition.
func hasOther(rules []*ast.Rule, r *ast.Rule) bool {
	ref := r.Head.Ref()
	for _, o := range rules {
		if o != r && o.Head.Ref().Equal(ref) && !neverHolds(o.Body) {
			return true
		}
	}
	return false
}
