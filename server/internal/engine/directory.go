package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Directory is what a loaded policy set knows a tenant environment has:
// the candidates an AuthZEN search decides. Authors list subjects,
// resources and actions in package pdp.custom (rego/README.md); the
// actions also include every action a role of the tenant environment
// names without a wildcard.
type Directory struct {
	// Subjects and Resources are typed entities, sorted by type and id.
	Subjects  []Entity
	Resources []Entity
	// Actions are action names, sorted, each once.
	Actions []string
}

// Entity is a subject or a resource of the directory.
type Entity struct {
	Type       string
	ID         string
	Properties map[string]any
}

// directoryQuery evaluates the authors' sets for input {tenant,
// environment}, and the roles of the tenant environment; a set no module
// defines is empty.
var directoryQuery = ast.MustParseBody(`
	subjects := [x | some x in data.pdp.custom.subjects]
	resources := [x | some x in data.pdp.custom.resources]
	actions := [x | some x in data.pdp.custom.actions]
	roles := object.get(data.tenants, [input.tenant, "environments", input.environment, "roles"], {})
`)

// directorySet prepares the directory query of one policy set on first
// use, so that a reload pays nothing for it.
type directorySet struct {
	compiler *ast.Compiler
	store    storage.Store

	mu    sync.Mutex // serialises preparation
	ready atomic.Pointer[rego.PreparedEvalQuery]
}

func (d *directorySet) query(ctx context.Context) (*rego.PreparedEvalQuery, error) {
	if q := d.ready.Load(); q != nil {
		return q, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.ready.Load(); q != nil {
		return q, nil
	}
	q, err := rego.New(
		rego.ParsedQuery(directoryQuery),
		rego.Compiler(d.compiler),
		rego.Store(d.store),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot prepare the directory query")
	}
	d.ready.Store(&q)
	return &q, nil
}

// Directory evaluates the directory of a tenant environment against the
// loaded policy set. Errors: fault.Unavailable before the first Load,
// fault.DeadlineExceeded when ctx ends first, fault.Internal when
// evaluation fails or an author's module lists a malformed entry.
func (e *Engine) Directory(ctx context.Context, tenant, environment string) (*Directory, error) {
	p := e.current.Load()
	if p == nil {
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	}
	q, err := p.directory.query(ctx)
	if err != nil {
		return nil, err
	}
	input := ast.NewObject(
		ast.Item(ast.StringTerm("tenant"), ast.StringTerm(tenant)),
		ast.Item(ast.StringTerm("environment"), ast.StringTerm(environment)),
	)
	rs, err := q.Eval(ctx, rego.EvalParsedInput(input), p.builtins)
	if err != nil {
		return nil, evalFault(ctx, err, "directory")
	}
	if len(rs) != 1 {
		return nil, fault.New(fault.Internal, "the directory query returned %d results", len(rs))
	}
	b := rs[0].Bindings
	var dir Directory
	var errs []string
	if dir.Subjects, err = entities(b["subjects"], "data.pdp.custom.subjects"); err != nil {
		errs = append(errs, err.Error())
	}
	if dir.Resources, err = entities(b["resources"], "data.pdp.custom.resources"); err != nil {
		errs = append(errs, err.Error())
	}
	for _, a := range asList(b["actions"]) {
		name, ok := a.(string)
		if !ok || name == "" {
			errs = append(errs, fmt.Sprintf("data.pdp.custom.actions: %v is not an action name", a))
			continue
		}
		dir.Actions = append(dir.Actions, name)
	}
	if len(errs) > 0 {
		return nil, fault.New(fault.Internal, "the directory of the policy set is malformed: %s", strings.Join(errs, "; "))
	}
	roles, _ := b["roles"].(map[string]any)
	for _, r := range roles {
		role, _ := r.(map[string]any)
		for _, a := range asList(role["actions"]) {
			if name, ok := a.(string); ok && name != "" && !strings.Contains(name, "*") {
				dir.Actions = append(dir.Actions, name)
			}
		}
	}
	slices.Sort(dir.Actions)
	dir.Actions = slices.Compact(dir.Actions)
	return &dir, nil
}

// entities reads a list of {type, id, properties?} objects.
func entities(v any, what string) ([]Entity, error) {
	var out []Entity
	for _, x := range asList(v) {
		m, ok := x.(map[string]any)
		typ, _ := m["type"].(string)
		id, _ := m["id"].(string)
		if !ok || typ == "" || id == "" {
			return nil, fmt.Errorf("%s: %v is not an object with a string type and id", what, x)
		}
		e := Entity{Type: typ, ID: id}
		if p, present := m["properties"]; present {
			if e.Properties, ok = p.(map[string]any); !ok {
				return nil, fmt.Errorf("%s: the properties of %s %q are not an object", what, typ, id)
			}
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Entity) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// evalFault maps an evaluation error to a domain error.
func evalFault(ctx context.Context, err error, what string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextFault(ctxErr)
	}
	return fault.Wrap(err, fault.Internal, what+": policy evaluation failed")
}
