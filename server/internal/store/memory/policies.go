package memory

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Policies is the in-memory tenantstore.Store: tenant policies and pending
// changes in maps behind one mutex, lost on exit. Its zero value is not
// usable; call NewPolicies.
type Policies struct {
	mu       sync.Mutex
	policies map[string]*pdpv1.TenantPolicy
	pending  map[string]*pdpv1.PendingChange
}

var _ tenantstore.Store = (*Policies)(nil)

// NewPolicies returns an empty policy store.
func NewPolicies() *Policies {
	return &Policies{policies: map[string]*pdpv1.TenantPolicy{}, pending: map[string]*pdpv1.PendingChange{}}
}

// Get implements tenantstore.Store.
func (s *Policies) Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error) {
	if err := store.ContextError(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[tenant]
	if !ok {
		return nil, tenantstore.NoPolicy(tenant)
	}
	return proto.Clone(p).(*pdpv1.TenantPolicy), nil
}

// Put implements tenantstore.Store.
func (s *Policies) Put(ctx context.Context, p *pdpv1.TenantPolicy, expectedEtag string) (*pdpv1.TenantPolicy, error) {
	if err := tenantstore.CheckPolicy(p); err != nil {
		return nil, err
	}
	if err := store.ContextError(ctx); err != nil {
		return nil, err
	}
	next := tenantstore.Stamp(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.policies[p.GetTenant()].GetEtag()
	if current != expectedEtag {
		return nil, tenantstore.Stale(p.GetTenant(), expectedEtag, current)
	}
	s.policies[p.GetTenant()] = next
	return proto.Clone(next).(*pdpv1.TenantPolicy), nil
}

// List implements tenantstore.Store.
func (s *Policies) List(ctx context.Context) ([]*pdpv1.TenantPolicy, error) {
	if err := store.ContextError(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := make([]*pdpv1.TenantPolicy, 0, len(s.policies))
	for _, p := range s.policies {
		out = append(out, proto.Clone(p).(*pdpv1.TenantPolicy))
	}
	s.mu.Unlock()
	tenantstore.SortPolicies(out)
	return out, nil
}

// PutPending implements tenantstore.Store.
func (s *Policies) PutPending(ctx context.Context, c *pdpv1.PendingChange) error {
	if err := tenantstore.CheckPending(c); err != nil {
		return err
	}
	if err := store.ContextError(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.pending[c.GetId()]; dup {
		return tenantstore.DuplicatePending(c.GetId())
	}
	s.pending[c.GetId()] = proto.Clone(c).(*pdpv1.PendingChange)
	return nil
}

// GetPending implements tenantstore.Store.
func (s *Policies) GetPending(ctx context.Context, id string) (*pdpv1.PendingChange, error) {
	if err := store.ContextError(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.pending[id]
	if !ok {
		return nil, tenantstore.NoPending(id)
	}
	return proto.Clone(c).(*pdpv1.PendingChange), nil
}

// ListPending implements tenantstore.Store.
func (s *Policies) ListPending(ctx context.Context) ([]*pdpv1.PendingChange, error) {
	if err := store.ContextError(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := make([]*pdpv1.PendingChange, 0, len(s.pending))
	for _, c := range s.pending {
		out = append(out, proto.Clone(c).(*pdpv1.PendingChange))
	}
	s.mu.Unlock()
	tenantstore.SortPending(out)
	return out, nil
}

// DeletePending implements tenantstore.Store.
func (s *Policies) DeletePending(ctx context.Context, id string) error {
	if err := store.ContextError(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[id]; !ok {
		return tenantstore.NoPending(id)
	}
	delete(s.pending, id)
	return nil
}
