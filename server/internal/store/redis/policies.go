package redis

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Policies is the Redis tenantstore.Store. Tenant policies set through the
// API are few and small, so they live in one hash and pending changes in
// another, both under one hash tag that no tenant name can spell ('!' is
// not allowed in tenant names):
//
//	pdp:{!policies}:tenants   hash: tenant -> etag "\n" policy (protobuf)
//	pdp:{!policies}:pending   hash: change id -> pending change (protobuf)
//
// Put checks the stored etag and writes with one script guarded by the
// value it read (txn), so an audited change commits it with its record.
// After every Put it publishes a KindTenantPolicy Change on the store's
// Notifier, so other replicas reload the policy set (WatchPolicies) within
// a second.
type Policies struct {
	s *Store

	once     sync.Once
	notifier *Notifier
}

var (
	_ tenantstore.Store   = (*Policies)(nil)
	_ tenantstore.Watcher = (*Policies)(nil)
)

// Policies returns the policy store kept in s's Redis. Call it once per
// replica: its notifier's origin tells this replica's changes from others'.
func (s *Store) Policies() *Policies { return &Policies{s: s} }

func (p *Policies) policiesKey() string { return p.s.cfg.Prefix + ":{!policies}:tenants" }
func (p *Policies) pendingKey() string  { return p.s.cfg.Prefix + ":{!policies}:pending" }

// Notifier is the notifier Put publishes on.
func (p *Policies) Notifier() *Notifier {
	p.once.Do(func() { p.notifier = p.s.Notifier() })
	return p.notifier
}

func decodePolicyValue(v []byte) (*pdpv1.TenantPolicy, error) {
	i := bytes.IndexByte(v, '\n')
	if i < 0 {
		return nil, fault.Wrap(fmt.Errorf("stored policy without etag"), fault.Internal, "a stored policy is damaged")
	}
	return tenantstore.UnmarshalPolicy(v[i+1:])
}

// Get implements tenantstore.Store.
func (p *Policies) Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error) {
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	v, ok, err := p.s.hget(ctx, p.policiesKey(), tenant)
	if err != nil {
		return nil, p.s.fail(ctx, err, "get tenant policy")
	}
	if !ok {
		return nil, tenantstore.NoPolicy(tenant)
	}
	return decodePolicyValue([]byte(v))
}

// Put implements tenantstore.Store.
func (p *Policies) Put(ctx context.Context, pol *pdpv1.TenantPolicy, expectedEtag string) (*pdpv1.TenantPolicy, error) {
	if err := tenantstore.CheckPolicy(pol); err != nil {
		return nil, err
	}
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	next := tenantstore.Stamp(pol)
	data, err := tenantstore.Marshal(next)
	if err != nil {
		return nil, err
	}
	value := next.GetEtag() + "\n" + string(data)
	key, tenant := p.policiesKey(), pol.GetTenant()
	err = p.s.write(ctx, "put tenant policy", func(t *txn) error {
		cur, _, err := p.s.hget(ctx, key, tenant)
		if err != nil {
			return p.s.fail(ctx, err, "put tenant policy")
		}
		etag, _, _ := strings.Cut(cur, "\n")
		if etag != expectedEtag {
			return tenantstore.Stale(tenant, expectedEtag, etag)
		}
		t.hset(key, tenant, cur, value)
		return nil
	}, func(ctx context.Context) error {
		// Delivery is best effort: a replica that misses it resyncs when
		// its subscription comes back, and the policy is stored either way.
		_ = p.Notifier().Publish(ctx, Change{Kind: KindTenantPolicy, Tenant: tenant})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

// List implements tenantstore.Store.
func (p *Policies) List(ctx context.Context) ([]*pdpv1.TenantPolicy, error) {
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	c := p.s.client
	all, err := c.Do(ctx, c.B().Hgetall().Key(p.policiesKey()).Build()).AsStrMap()
	if err != nil {
		return nil, p.s.fail(ctx, err, "list tenant policies")
	}
	out := make([]*pdpv1.TenantPolicy, 0, len(all))
	for _, v := range all {
		pol, err := decodePolicyValue([]byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, pol)
	}
	tenantstore.SortPolicies(out)
	return out, nil
}

// PutPending implements tenantstore.Store.
func (p *Policies) PutPending(ctx context.Context, ch *pdpv1.PendingChange) error {
	if err := tenantstore.CheckPending(ch); err != nil {
		return err
	}
	if err := p.s.check(ctx); err != nil {
		return err
	}
	data, err := tenantstore.Marshal(ch)
	if err != nil {
		return err
	}
	key, id := p.pendingKey(), ch.GetId()
	return p.s.write(ctx, "put pending change", func(t *txn) error {
		_, exists, err := p.s.hget(ctx, key, id)
		if err != nil {
			return p.s.fail(ctx, err, "put pending change")
		}
		if exists {
			return tenantstore.DuplicatePending(id)
		}
		t.hset(key, id, "", string(data))
		return nil
	}, nil)
}

// GetPending implements tenantstore.Store.
func (p *Policies) GetPending(ctx context.Context, id string) (*pdpv1.PendingChange, error) {
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	v, ok, err := p.s.hget(ctx, p.pendingKey(), id)
	if err != nil {
		return nil, p.s.fail(ctx, err, "get pending change")
	}
	if !ok {
		return nil, tenantstore.NoPending(id)
	}
	return tenantstore.UnmarshalPending([]byte(v))
}

// ListPending implements tenantstore.Store.
func (p *Policies) ListPending(ctx context.Context) ([]*pdpv1.PendingChange, error) {
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	c := p.s.client
	all, err := c.Do(ctx, c.B().Hgetall().Key(p.pendingKey()).Build()).AsStrMap()
	if err != nil {
		return nil, p.s.fail(ctx, err, "list pending changes")
	}
	out := make([]*pdpv1.PendingChange, 0, len(all))
	for _, v := range all {
		ch, err := tenantstore.UnmarshalPending([]byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	tenantstore.SortPending(out)
	return out, nil
}

// DeletePending implements tenantstore.Store.
func (p *Policies) DeletePending(ctx context.Context, id string) error {
	if err := p.s.check(ctx); err != nil {
		return err
	}
	key := p.pendingKey()
	return p.s.write(ctx, "delete pending change", func(t *txn) error {
		cur, exists, err := p.s.hget(ctx, key, id)
		if err != nil {
			return p.s.fail(ctx, err, "delete pending change")
		}
		if !exists {
			return tenantstore.NoPending(id)
		}
		t.hdel(key, id, cur)
		return nil
	}, nil)
}

// WatchPolicies implements tenantstore.Watcher: it subscribes to the
// store's notifications and calls changed with the tenant of every
// KindTenantPolicy change another replica published, and with "" once the
// subscription is first in place (what was stored before it may have been
// missed) and after every reconnect (KindResync), until ctx ends or stop
// is called. Calls are serialised.
func (p *Policies) WatchPolicies(ctx context.Context, changed func(tenant string)) (stop func()) {
	n := p.Notifier()
	handle := func(c Change) {
		switch {
		case c.Kind == KindResync:
			changed("")
		case c.Kind == KindTenantPolicy && c.Origin != n.Origin():
			changed(c.Tenant)
		}
	}
	sub := n.Subscribe(ctx, handle)
	go func() {
		select {
		case <-sub.Ready():
			sub.deliver(handle, Change{Kind: KindResync, At: time.Now().UTC()})
		case <-sub.Done():
		}
	}()
	return sub.Close
}
