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
// part where glob.match itself matches the escaped character: the index
// then drops a rule whose body would hold. The library reads its patterns
// from the tenants' data, which the index never sees; partial evaluation
// writes them into the residual as constants, where it would.

// escapedGlob returns the first glob.match in x whose pattern is a
// constant string holding an escape, and "" when there is none.
func escapedGlob(x any) string {
	found := ""
	ast.WalkExprs(x, func(e *ast.Expr) bool {
		if found != "" || !e.IsCall() || !e.Operator().Equal(ast.GlobMatch.Ref()) {
			return found != ""
		}
		if s, ok := e.Operand(0).Value.(ast.String); ok && strings.Contains(string(s), `\`) {
			found = e.String()
			if e.Location != nil {
				found = fmt.Sprintf("%s:%d: %s", e.Location.File, e.Location.Row, found)
			}
		}
		return found != ""
	})
	return found
}

// literalEscapedGlob is why no tenant environment of a policy set whose
// own rules match a literal escaped pattern can be specialised: the
// reference is decided through the index there, and a residual would not
// be; "" when no module does.
func literalEscapedGlob(c *ast.Compiler) string {
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		if g := escapedGlob(c.Modules[name]); g != "" {
			return fmt.Sprintf("%s matches a literal glob pattern with an escape, which OPA's rule index reads unlike glob.match", g)
		}
	}
	return ""
}
