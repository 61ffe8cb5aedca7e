package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Buckets of the policy store, created on first write.
var (
	bucketPolicies = []byte("tenant_policies")
	bucketPending  = []byte("pending_changes")
)

// Policies is the bbolt tenantstore.Store, kept in the store's file next
// to the profiles: tenant policies by tenant name and pending changes by
// id, each the protobuf encoding of its message. Policy writes are rare,
// so each is its own transaction (read, compare, write), durable before
// Put returns; reads open a read transaction rather than keeping a cache.
type Policies struct {
	s *Store
}

var _ tenantstore.Store = (*Policies)(nil)

// Policies returns the policy store kept in s's file. It shares s's life:
// once s is closed every call fails with store.ErrClosed.
func (s *Store) Policies() *Policies { return &Policies{s: s} }

// view runs fn in a read transaction; b is nil while the bucket was never
// written.
func (p *Policies) view(ctx context.Context, bucket []byte, fn func(b *bbolt.Bucket) error) error {
	if t := txnOf(ctx); t != nil {
		return fn(t.tx.Bucket(bucket))
	}
	leave, err := p.s.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return p.s.view(func(tx *bbolt.Tx) error { return fn(tx.Bucket(bucket)) })
}

// update runs fn in a write transaction with the bucket created: the
// audited change's transaction ctx carries (see txn), else one of its own.
func (p *Policies) update(ctx context.Context, op string, bucket []byte, fn func(b *bbolt.Bucket) error) error {
	if t := txnOf(ctx); t != nil {
		b, err := t.tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return store.Unavailable(fmt.Errorf("%s: %w", p.s.path, err), op)
		}
		return fn(b)
	}
	leave, err := p.s.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	var refusal error // a domain refusal rolls back without being an I/O failure
	err = p.s.update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		if refusal = fn(b); refusal != nil {
			return refusal
		}
		return nil
	})
	if refusal != nil {
		return refusal
	}
	if err != nil {
		return store.Unavailable(fmt.Errorf("%s: %w", p.s.path, err), op)
	}
	return nil
}

// Get implements tenantstore.Store.
func (p *Policies) Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error) {
	var out *pdpv1.TenantPolicy
	err := p.view(ctx, bucketPolicies, func(b *bbolt.Bucket) error {
		var v []byte
		if b != nil {
			v = b.Get([]byte(tenant))
		}
		if v == nil {
			return tenantstore.NoPolicy(tenant)
		}
		var err error
		out, err = tenantstore.UnmarshalPolicy(v)
		return err
	})
	return out, err
}

// Put implements tenantstore.Store.
func (p *Policies) Put(ctx context.Context, pol *pdpv1.TenantPolicy, expectedEtag string) (*pdpv1.TenantPolicy, error) {
	if err := tenantstore.CheckPolicy(pol); err != nil {
		return nil, err
	}
	next := tenantstore.Stamp(pol)
	data, err := tenantstore.Marshal(next)
	if err != nil {
		return nil, err
	}
	key := []byte(pol.GetTenant())
	err = p.update(ctx, "put tenant policy", bucketPolicies, func(b *bbolt.Bucket) error {
		current := ""
		if v := b.Get(key); v != nil {
			old, err := tenantstore.UnmarshalPolicy(v)
			if err != nil {
				return err
			}
			current = old.GetEtag()
		}
		if current != expectedEtag {
			return tenantstore.Stale(pol.GetTenant(), expectedEtag, current)
		}
		return b.Put(key, data)
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

// List implements tenantstore.Store.
func (p *Policies) List(ctx context.Context) ([]*pdpv1.TenantPolicy, error) {
	var out []*pdpv1.TenantPolicy
	err := p.view(ctx, bucketPolicies, func(b *bbolt.Bucket) error {
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			pol, err := tenantstore.UnmarshalPolicy(v)
			if err == nil {
				out = append(out, pol)
			}
			return err
		})
	})
	tenantstore.SortPolicies(out)
	return out, err
}

// PutPending implements tenantstore.Store.
func (p *Policies) PutPending(ctx context.Context, c *pdpv1.PendingChange) error {
	if err := tenantstore.CheckPending(c); err != nil {
		return err
	}
	data, err := tenantstore.Marshal(c)
	if err != nil {
		return err
	}
	return p.update(ctx, "put pending change", bucketPending, func(b *bbolt.Bucket) error {
		if b.Get([]byte(c.GetId())) != nil {
			return tenantstore.DuplicatePending(c.GetId())
		}
		return b.Put([]byte(c.GetId()), data)
	})
}

// GetPending implements tenantstore.Store.
func (p *Policies) GetPending(ctx context.Context, id string) (*pdpv1.PendingChange, error) {
	var out *pdpv1.PendingChange
	err := p.view(ctx, bucketPending, func(b *bbolt.Bucket) error {
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return tenantstore.NoPending(id)
		}
		var err error
		out, err = tenantstore.UnmarshalPending(v)
		return err
	})
	return out, err
}

// ListPending implements tenantstore.Store.
func (p *Policies) ListPending(ctx context.Context) ([]*pdpv1.PendingChange, error) {
	var out []*pdpv1.PendingChange
	err := p.view(ctx, bucketPending, func(b *bbolt.Bucket) error {
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			c, err := tenantstore.UnmarshalPending(v)
			if err == nil {
				out = append(out, c)
			}
			return err
		})
	})
	tenantstore.SortPending(out)
	return out, err
}

// DeletePending implements tenantstore.Store.
func (p *Policies) DeletePending(ctx context.Context, id string) error {
	return p.update(ctx, "delete pending change", bucketPending, func(b *bbolt.Bucket) error {
		if b.Get([]byte(id)) == nil {
			return tenantstore.NoPending(id)
		}
		return b.Delete([]byte(id))
	})
}
