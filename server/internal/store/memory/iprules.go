package memory

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// IPRules is the memory backend of iprules.Store: rules in maps per scope,
// each scope's ids sorted on the first List after a change. Its zero value
// is not usable; call NewIPRules.
type IPRules struct {
	mu     sync.RWMutex
	byID   map[string]string // id → tenant
	scopes map[string]*ruleScope

	stageMu sync.Mutex
	staged  map[string][][]iprules.Rule // import id → its batches, unseen by readers
}

type ruleScope struct {
	rules  map[string]iprules.Rule
	sorted []string // ids in order; nil when stale
}

var (
	_ iprules.Store  = (*IPRules)(nil)
	_ iprules.Stager = (*IPRules)(nil)
)

// NewIPRules returns an empty rule store.
func NewIPRules() *IPRules {
	return &IPRules{byID: map[string]string{}, scopes: map[string]*ruleScope{}, staged: map[string][][]iprules.Rule{}}
}

func (m *IPRules) scope(tenant string) *ruleScope {
	sc := m.scopes[tenant]
	if sc == nil {
		sc = &ruleScope{rules: map[string]iprules.Rule{}}
		m.scopes[tenant] = sc
	}
	return sc
}

// put stores r and reports whether its id was new; m.mu is held.
func (m *IPRules) put(r iprules.Rule, replace bool) bool {
	sc := m.scope(r.Tenant)
	if _, ok := sc.rules[r.ID]; ok {
		if replace {
			sc.rules[r.ID] = r
		}
		return false
	}
	sc.rules[r.ID] = r
	sc.sorted = nil
	m.byID[r.ID] = r.Tenant
	return true
}

// Add implements iprules.Store.
func (m *IPRules) Add(ctx context.Context, r iprules.Rule) (iprules.Rule, error) {
	if err := store.ContextError(ctx); err != nil {
		return iprules.Rule{}, err
	}
	r, err := iprules.Prepare(r)
	if err != nil {
		return iprules.Rule{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(r, true)
	return r, nil
}

// Get implements iprules.Store.
func (m *IPRules) Get(ctx context.Context, id string) (iprules.Rule, error) {
	if err := store.ContextError(ctx); err != nil {
		return iprules.Rule{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	tenant, ok := m.byID[id]
	if !ok {
		return iprules.Rule{}, iprules.NotFound(id)
	}
	return m.scopes[tenant].rules[id], nil
}

// Remove implements iprules.Store.
func (m *IPRules) Remove(ctx context.Context, id string) (iprules.Rule, error) {
	if err := store.ContextError(ctx); err != nil {
		return iprules.Rule{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tenant, ok := m.byID[id]
	if !ok {
		return iprules.Rule{}, iprules.NotFound(id)
	}
	sc := m.scopes[tenant]
	r := sc.rules[id]
	delete(sc.rules, id)
	delete(m.byID, id)
	sc.sorted = nil
	if len(sc.rules) == 0 {
		delete(m.scopes, tenant)
	}
	return r, nil
}

// List implements iprules.Store.
func (m *IPRules) List(ctx context.Context, q iprules.Query) ([]iprules.Rule, string, error) {
	if err := store.ContextError(ctx); err != nil {
		return nil, "", err
	}
	m.mu.Lock() // sorting may write the scope's cache
	defer m.mu.Unlock()
	sc := m.scopes[q.Tenant]
	if sc == nil {
		return nil, "", nil
	}
	if sc.sorted == nil {
		sc.sorted = make([]string, 0, len(sc.rules))
		for id := range sc.rules {
			sc.sorted = append(sc.sorted, id)
		}
		slices.Sort(sc.sorted)
	}
	size := q.PageSize()
	i := sort.SearchStrings(sc.sorted, q.After)
	if i < len(sc.sorted) && sc.sorted[i] == q.After {
		i++
	}
	var page []iprules.Rule
	for ; i < len(sc.sorted); i++ {
		r := sc.rules[sc.sorted[i]]
		if q.List != "" && r.List != q.List {
			continue
		}
		if len(page) == size {
			return page, page[len(page)-1].ID, nil
		}
		page = append(page, r)
	}
	return page, "", nil
}

// Import implements iprules.Store.
func (m *IPRules) Import(ctx context.Context, tenant, list, source string, rules []iprules.Rule) (int, int, error) {
	if err := store.ContextError(ctx); err != nil {
		return 0, 0, err
	}
	prepared, err := iprules.PrepareImport(tenant, list, source, rules)
	if err != nil {
		return 0, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	added := 0
	for _, r := range prepared {
		if m.put(r, false) {
			added++
		}
	}
	return added, len(prepared) - added, nil
}

// Stage implements iprules.Stager: the rules wait in the batches of their
// import, which no reader looks at; a repeated rule is left to Publish to
// count.
func (m *IPRules) Stage(ctx context.Context, id, tenant, list, source string, rules []iprules.Rule) (int, error) {
	if err := store.ContextError(ctx); err != nil {
		return 0, err
	}
	prepared, err := iprules.PrepareImport(tenant, list, source, rules)
	if err != nil {
		return 0, err
	}
	m.stageMu.Lock()
	defer m.stageMu.Unlock()
	m.staged[id] = append(m.staged[id], prepared)
	return 0, nil
}

// Publish implements iprules.Stager: the staged rules become live under
// the store's lock, all at once.
func (m *IPRules) Publish(ctx context.Context, id string) (int, int, error) {
	if err := store.ContextError(ctx); err != nil {
		return 0, 0, err
	}
	m.stageMu.Lock()
	staged := m.staged[id]
	delete(m.staged, id)
	m.stageMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	added, dups := 0, 0
	for _, batch := range staged {
		for _, r := range batch {
			if m.put(r, false) {
				added++
			} else {
				dups++
			}
		}
	}
	return added, dups, nil
}

// Discard implements iprules.Stager.
func (m *IPRules) Discard(_ context.Context, id string) error {
	m.stageMu.Lock()
	defer m.stageMu.Unlock()
	delete(m.staged, id)
	return nil
}

// All implements iprules.Store.
func (m *IPRules) All(ctx context.Context) ([]iprules.Rule, error) {
	if err := store.ContextError(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]iprules.Rule, 0, len(m.byID))
	for _, sc := range m.scopes {
		for _, r := range sc.rules {
			out = append(out, r)
		}
	}
	return out, nil
}
