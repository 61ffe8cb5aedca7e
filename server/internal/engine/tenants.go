package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/open-policy-agent/opa/v1/ast"
)

// tenantData is data.tenants of one set in the three forms the engine
// uses: the Go values (the probes read them), the AST object the store
// serves, and each tenant's digest for the revision. A set made by
// LoadTenants shares with the set it replaces the entries of every
// tenant it did not change; none is modified once the set is built.
type tenantData struct {
	values map[string]any
	object ast.Object
	// sums are the SHA-256 of each tenant's data as encoding/json writes
	// it (object keys sorted).
	sums map[string][sha256.Size]byte
}

// newTenantData converts tenants, every one of them.
func newTenantData(tenants map[string]any) (*tenantData, error) {
	d := &tenantData{
		values: make(map[string]any, len(tenants)),
		object: ast.NewObjectWithCapacity(len(tenants)),
		sums:   make(map[string][sha256.Size]byte, len(tenants)),
	}
	for name, v := range tenants {
		if err := d.put(name, v); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// put sets the data of one tenant; d must not be serving yet.
func (d *tenantData) put(name string, v any) error {
	value, err := ast.InterfaceToValue(v)
	if err != nil {
		return fmt.Errorf("tenant data: %w", err)
	}
	encoded, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("tenant data: %w", err)
	}
	d.values[name] = v
	d.object.Insert(ast.StringTerm(name), ast.NewTerm(value))
	d.sums[name] = sha256.Sum256(encoded)
	return nil
}

// with returns the data of d with the tenants of changed replaced, a nil
// value removing its tenant. The other tenants' values are shared.
func (d *tenantData) with(changed map[string]any) (*tenantData, error) {
	next := &tenantData{
		values: maps.Clone(d.values),
		object: ast.NewObjectWithCapacity(d.object.Len() + len(changed)),
		sums:   maps.Clone(d.sums),
	}
	// ast.Object has no delete: copy the entries that stay, term by term.
	d.object.Foreach(func(k, v *ast.Term) {
		if name, ok := k.Value.(ast.String); ok {
			if _, replaced := changed[string(name)]; replaced {
				return
			}
		}
		next.object.Insert(k, v)
	})
	for name, v := range changed {
		if v == nil {
			delete(next.values, name)
			delete(next.sums, name)
			continue
		}
		if err := next.put(name, v); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", name, err)
		}
	}
	return next, nil
}

// errNoSet refuses LoadTenants before a set is loaded.
var errNoSet = errors.New("no policy set is loaded to change: the first set must be loaded whole (Load)")

// LoadTenants serves the set serving now with the data of the tenants in
// changed replaced: a tenant name maps to its new data.tenants entry
// (Bundle.Tenants' form), or to nil to remove the tenant. It is Load for a
// change of tenant data only, at the cost of the tenants changed: the
// compiled modules are kept, the other tenants' data is shared with the
// serving set, and only the probes whose outcome the change can alter run
// again. The new set, its revision included, is the one Load would build
// from the same modules and the whole new data, and it is swapped in
// whole as Load does: decisions are served by the previous set until
// then, and by it still when LoadTenants fails. With nothing in changed
// the serving revision is returned. It fails before the first successful
// Load.
func (e *Engine) LoadTenants(ctx context.Context, changed map[string]any) (string, error) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()

	cur := e.current.Load()
	if cur == nil {
		return "", errNoSet
	}
	if len(changed) == 0 {
		return cur.revision, nil
	}
	p, err := e.update(ctx, cur, changed)
	if err != nil {
		e.logger.LogAttrs(ctx, slog.LevelWarn, "tenant data update failed",
			slog.String("serving_revision", cur.revision), slog.Int("tenants_changed", len(changed)), slog.Any("error", err))
		return "", err
	}
	e.current.Store(p)
	e.remember(p)
	e.warmUp(p)
	e.logger.LogAttrs(ctx, slog.LevelInfo, "tenant data updated",
		slog.String("revision", p.revision),
		slog.Int("tenants_changed", len(changed)),
		slog.Int("tenants", len(p.tenants.values)))
	return p.revision, nil
}

// update builds the set that replaces cur's data of the tenants in
// changed.
func (e *Engine) update(ctx context.Context, cur *prepared, changed map[string]any) (*prepared, error) {
	data, err := cur.tenants.with(changed)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(changed))
	for name := range changed {
		names[name] = true
	}
	return e.assemble(ctx, cur.modules, data, tenantChange{previous: cur, tenants: names})
}
