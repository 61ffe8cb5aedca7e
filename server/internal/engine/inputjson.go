package engine

import (
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// InputJSON returns the input document Decide would evaluate for req, as
// plain Go values (map[string]any, []any, string, bool, json.Number) that
// encoding/json writes unchanged. It builds the input exactly as Decide
// does, so a benchmark or a debugging tool can hand the same input to
// another Rego evaluator (OPA's REST API). now is the clock for a request
// without a time; nil means time.Now. Errors are those of Decide's input
// step: fault.InvalidArgument when the attributes are not JSON-like.
func InputJSON(req *decision.Request, now func() time.Time) (map[string]any, error) {
	if now == nil {
		now = time.Now
	}
	v, err := buildInput(req, now)
	if err != nil {
		return nil, err
	}
	j, err := ast.JSON(v)
	if err != nil {
		return nil, fmt.Errorf("input to JSON: %w", err)
	}
	m, ok := j.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("input to JSON: got %T, want an object", j)
	}
	return m, nil
}
