package redis

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/policystore"
)

// Policies is the Redis policystore.Store. Tenant policies set through the
// API are few and small, so they live in one hash and pending changes in
// another, both under one hash tag that no tenant name can spell ('!' is
// not allowed in tenant names):
//
//	pdp:{!policies}:tenants   hash: tenant -> etag "\n" policy (protobuf)
//	pdp:{!policies}:pending   hash: change id -> pending change (protobuf)
//
// Put is one Lua compare-and-set on the stored etag. After every Put it
// publishes a KindTenantPolicy Change on the store's Notifier, so other
// replicas reload the policy set (WatchPolicies) within a second.
type Policies struct {
	s *Store

	once     sync.Once
	notifier *Notifier
}

var (
	_ policystore.Store   = (*Policies)(nil)
	_ policystore.Watcher = (*Policies)(nil)
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

// putScript stores a policy only if the stored etag is the expected one.
//
//	KEYS[1]  the policies hash
//	ARGV[1]  tenant, ARGV[2] expected etag ("" when none), ARGV[3] new value
//
// It returns "" when it wrote and otherwise "=" followed by the stored etag.
var putScript = rueidis.NewLuaScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local etag = ''
if cur then
  local i = string.find(cur, '\n', 1, true)
  if i then etag = string.sub(cur, 1, i - 1) end
end
if etag ~= ARGV[2] then return '=' .. etag end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return ''
`)

func decodePolicyValue(v []byte) (*pdpv1.TenantPolicy, error) {
	i := bytes.IndexByte(v, '\n')
	if i < 0 {
		return nil, fault.Wrap(fmt.Errorf("stored policy without etag"), fault.Internal, "a stored policy is damaged")
	}
	return policystore.UnmarshalPolicy(v[i+1:])
}

// Get implements policystore.Store.
func (p *Policies) Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error) {
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	c := p.s.client
	v, err := c.Do(ctx, c.B().Hget().Key(p.policiesKey()).Field(tenant).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, policystore.NoPolicy(tenant)
	}
	if err != nil {
		return nil, p.s.fail(ctx, err, "get tenant policy")
	}
	return decodePolicyValue(v)
}

// Put implements policystore.Store.
func (p *Policies) Put(ctx context.Context, pol *pdpv1.TenantPolicy, expectedEtag string) (*pdpv1.TenantPolicy, error) {
	if err := policystore.CheckPolicy(pol); err != nil {
		return nil, err
	}
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	next := policystore.Stamp(pol)
	data, err := policystore.Marshal(next)
	if err != nil {
		return nil, err
	}
	value := next.GetEtag() + "\n" + string(data)
	res, err := putScript.Exec(ctx, p.s.client, []string{p.policiesKey()}, []string{pol.GetTenant(), expectedEtag, value}).ToString()
	if err != nil {
		return nil, p.s.fail(ctx, err, "put tenant policy")
	}
	if res != "" {
		return nil, policystore.Stale(pol.GetTenant(), expectedEtag, res[1:])
	}
	// Delivery is best effort: a replica that misses it resyncs when its
	// subscription comes back, and the policy is stored either way.
	_ = p.Notifier().Publish(ctx, Change{Kind: KindTenantPolicy, Tenant: pol.GetTenant()})
	return next, nil
}

// List implements policystore.Store.
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
	policystore.SortPolicies(out)
	return out, nil
}

// PutPending implements policystore.Store.
func (p *Policies) PutPending(ctx context.Context, ch *pdpv1.PendingChange) error {
	if err := policystore.CheckPending(ch); err != nil {
		return err
	}
	if err := p.s.check(ctx); err != nil {
		return err
	}
	data, err := policystore.Marshal(ch)
	if err != nil {
		return err
	}
	c := p.s.client
	ok, err := c.Do(ctx, c.B().Hsetnx().Key(p.pendingKey()).Field(ch.GetId()).Value(rueidis.BinaryString(data)).Build()).AsBool()
	if err != nil {
		return p.s.fail(ctx, err, "put pending change")
	}
	if !ok {
		return policystore.DuplicatePending(ch.GetId())
	}
	return nil
}

// GetPending implements policystore.Store.
func (p *Policies) GetPending(ctx context.Context, id string) (*pdpv1.PendingChange, error) {
	if err := p.s.check(ctx); err != nil {
		return nil, err
	}
	c := p.s.client
	v, err := c.Do(ctx, c.B().Hget().Key(p.pendingKey()).Field(id).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, policystore.NoPending(id)
	}
	if err != nil {
		return nil, p.s.fail(ctx, err, "get pending change")
	}
	return policystore.UnmarshalPending(v)
}

// ListPending implements policystore.Store.
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
		ch, err := policystore.UnmarshalPending([]byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	policystore.SortPending(out)
	return out, nil
}

// DeletePending implements policystore.Store.
func (p *Policies) DeletePending(ctx context.Context, id string) error {
	if err := p.s.check(ctx); err != nil {
		return err
	}
	c := p.s.client
	n, err := c.Do(ctx, c.B().Hdel().Key(p.pendingKey()).Field(id).Build()).AsInt64()
	if err != nil {
		return p.s.fail(ctx, err, "delete pending change")
	}
	if n == 0 {
		return policystore.NoPending(id)
	}
	return nil
}

// WatchPolicies implements policystore.Watcher: it subscribes to the
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
