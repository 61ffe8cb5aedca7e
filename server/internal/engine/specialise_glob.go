package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// OPA's rule index reads a rule's glob.match with a constant pattern as a
// list of the pattern's parts, and it keeps an escape ("a\\.b") in the
// part where glob.match itself matches the escaped character, or, split
// on a delimiter that is a glob metacharacter (["*"]), takes what is left
// for literals: the index then drops a rule whose body would hold. The
// library reads its patterns from the tenants' data, which the index
// never sees; partial evaluation writes them into the residual as
// constants, where it would.

// escapedGlob returns the first glob.match in x whose pattern is a
// constant string holding an escape or whose delimiters hold a glob
// metacharacter, and "" when there is none.
func escapedGlob(x any) string {
	found := ""
	ast.WalkExprs(x, func(e *ast.Expr) bool {
		if found != "" || !e.IsCall() || !e.Operator().Equal(ast.GlobMatch.Ref()) {
			return found != ""
		}
		if misread(e.Operand(0), e.Operand(1)) {
			found = e.String()
			if e.Location != nil {
				found = fmt.Sprintf("%s:%d: %s", e.Location.File, e.Location.Row, found)
			}
		}
		return found != ""
	})
	return found
}

// misread: the index would read this pattern and these delimiters unlike
// glob.match.
func misread(pattern, delimiters *ast.Term) bool {
	if s, ok := pattern.Value.(ast.String); ok && strings.Contains(string(s), `\`) {
		return true
	}
	arr, ok := delimiters.Value.(*ast.Array)
	if !ok {
		return false
	}
	bad := false
	arr.Foreach(func(d *ast.Term) {
		if s, ok := d.Value.(ast.String); ok && strings.ContainsAny(string(s), `*?[]{}\`) {
			bad = true
		}
	})
	return bad
}

// literalEscapedGlob is why no tenant environment of a policy set whose
// own rules match a literal escaped pattern can be specialised: the
// reference is decided through the index there, and a residual would not
// be; "" when no module does.
func literalEscapedGlob(c *ast.Compiler) string {
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		if g := escapedGlob(c.Modules[name]); g != "" {
			return fmt.Sprintf("%s matches a literal glob pattern with an escape, or with a glob metacharacter as a delimiter, which OPA's rule index reads unlike glob.match", g)
		}
	}
	return ""
}
