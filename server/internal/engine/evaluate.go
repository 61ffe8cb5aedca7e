package engine

import (
	"context"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// remember keeps p among the recent sets, dropping the oldest past
// Options.RecentSets; a revision loaded again moves to the end. loadMu is held.
func (e *Engine) remember(p *prepared) {
	e.recent = slices.DeleteFunc(e.recent, func(q *prepared) bool { return q.revision == p.revision })
	e.recent = append(e.recent, p)
	if n := len(e.recent) - e.recentSets; n > 0 {
		e.recent = slices.Delete(e.recent, 0, n)
	}
}

// set returns the recent set of a revision, or nil.
func (e *Engine) set(revision string) *prepared {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	for _, p := range e.recent {
		if p.revision == revision {
			return p
		}
	}
	return nil
}

// Knows reports whether the set of revision is still held, so that
// Evaluate would use it.
func (e *Engine) Knows(revision string) bool { return revision != "" && e.set(revision) != nil }

// Evaluate decides a recorded input document (the input of rego/README.md
// as InputJSON returns it, numbers as json.Number or float64) with the
// policy set of revision when the engine still holds it (one of the last
// sets it served), else with the one serving now. The decision's
// PolicyRevision tells which; the time is the input's. The errors are
// Decide's.
func (e *Engine) Evaluate(ctx context.Context, input map[string]any, revision string) (*decision.Decision, error) {
	p := e.set(revision)
	if p == nil {
		p = e.current.Load()
	}
	if p == nil {
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	}
	if err := ctx.Err(); err != nil {
		return nil, contextFault(err)
	}
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, fault.Invalid(fault.FieldViolation{Field: "input", Description: err.Error()})
	}
	return e.decide(ctx, p, v)
}
