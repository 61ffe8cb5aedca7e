// Package tenantstore keeps the tenant policies set through the admin API
// and the policy changes waiting for approval. Every store backend (memory,
// bolt, Redis) provides one, with the semantics the tenantstoretest
// conformance suite checks.
//
// Tenant files (--tenants DIR) are the baseline; a policy stored here
// overrides the file of the same tenant (see package reload), because the
// API is the newer, audited path.
//
// Put is a compare-and-set on the policy's etag (tenantdata.ETag of its
// content): a writer names the etag it read, and loses with fault.Aborted
// when someone wrote in between. An empty expected etag creates the
// policy only if the tenant has none stored.
package tenantstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Store keeps tenant policies and pending changes. Implementations are
// safe for concurrent use and never keep or return the caller's messages:
// what goes in and what comes out are copies. Errors are *fault.Error
// values: InvalidArgument for a malformed call, NotFound for a missing
// policy or change, Aborted for a lost compare-and-set, AlreadyExists for a
// duplicate change id, Unavailable when the backend cannot be reached.
type Store interface {
	// Get returns the tenant's stored policy, or NotFound.
	Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error)
	// Put stores p when the stored policy's etag is expectedEtag (empty:
	// when none is stored) and returns it with its new etag, the
	// tenantdata.ETag of its content. Otherwise it fails with Aborted.
	Put(ctx context.Context, p *pdpv1.TenantPolicy, expectedEtag string) (*pdpv1.TenantPolicy, error)
	// List returns every stored policy, sorted by tenant.
	List(ctx context.Context) ([]*pdpv1.TenantPolicy, error)
	// PutPending stores a new pending change; AlreadyExists when its id is
	// taken.
	PutPending(ctx context.Context, c *pdpv1.PendingChange) error
	// GetPending returns a pending change by id, or NotFound.
	GetPending(ctx context.Context, id string) (*pdpv1.PendingChange, error)
	// ListPending returns every pending change, oldest first (ties by id).
	ListPending(ctx context.Context) ([]*pdpv1.PendingChange, error)
	// DeletePending removes a pending change, or fails with NotFound.
	DeletePending(ctx context.Context, id string) error
}

// Watcher is implemented by stores shared between replicas (Redis): it
// calls changed whenever another replica changed a tenant's stored policy
// (tenant names it) or when changes may have been missed (tenant is
// empty: reread everything), until ctx ends or stop is called.
type Watcher interface {
	WatchPolicies(ctx context.Context, changed func(tenant string)) (stop func())
}

// CheckPolicy checks what Put needs: a policy with a tenant name.
func CheckPolicy(p *pdpv1.TenantPolicy) error {
	if p == nil {
		return fault.Invalid(fault.FieldViolation{Field: "policy", Description: "required"})
	}
	if p.GetTenant() == "" {
		return fault.Invalid(fault.FieldViolation{Field: "policy.tenant", Description: "required"})
	}
	return nil
}

// CheckPending checks what PutPending needs: an id, a tenant and a policy
// of that tenant.
func CheckPending(c *pdpv1.PendingChange) error {
	if c == nil {
		return fault.Invalid(fault.FieldViolation{Field: "change", Description: "required"})
	}
	var v fault.Violations
	if c.GetId() == "" {
		v.Add("id", "required")
	}
	if c.GetTenant() == "" {
		v.Add("tenant", "required")
	}
	if c.GetPolicy() == nil {
		v.Add("policy", "required")
	} else if c.GetPolicy().GetTenant() != c.GetTenant() {
		v.Add("policy.tenant", "%q differs from the change's tenant %q", c.GetPolicy().GetTenant(), c.GetTenant())
	}
	return v.Err()
}

// Stamp returns a copy of p carrying the etag of its content.
func Stamp(p *pdpv1.TenantPolicy) *pdpv1.TenantPolicy {
	c := proto.Clone(p).(*pdpv1.TenantPolicy)
	c.Etag = tenantdata.ETag(c)
	return c
}

// Stale is the error of a lost compare-and-set: current is the stored etag
// ("" when none is stored).
func Stale(tenant, expected, current string) error {
	switch {
	case current == "":
		return fault.New(fault.Aborted, "tenant %q has no stored policy to replace: send an empty etag to create it", tenant)
	case expected == "":
		return fault.New(fault.Aborted, "tenant %q already has a policy: read it and send its etag", tenant)
	}
	return fault.New(fault.Aborted, "tenant %q policy changed since it was read (etag %s, now %s): read it again", tenant, expected, current)
}

// NoPolicy is the NotFound error of Get.
func NoPolicy(tenant string) error {
	return fault.New(fault.NotFound, "no stored policy for tenant %q", tenant)
}

// NoPending is the NotFound error of GetPending and DeletePending.
func NoPending(id string) error {
	return fault.New(fault.NotFound, "no pending change %q", id)
}

// DuplicatePending is the AlreadyExists error of PutPending.
func DuplicatePending(id string) error {
	return fault.New(fault.AlreadyExists, "pending change %q already exists", id)
}

// SortPolicies sorts policies by tenant.
func SortPolicies(list []*pdpv1.TenantPolicy) {
	slices.SortFunc(list, func(a, b *pdpv1.TenantPolicy) int { return strings.Compare(a.GetTenant(), b.GetTenant()) })
}

// SortPending sorts changes oldest first, ties by id.
func SortPending(list []*pdpv1.PendingChange) {
	slices.SortFunc(list, func(a, b *pdpv1.PendingChange) int {
		if c := a.GetCreatedAt().AsTime().Compare(b.GetCreatedAt().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.GetId(), b.GetId())
	})
}

// Marshal encodes a policy or a change for a backend.
func Marshal(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot encode a stored policy")
	}
	return b, nil
}

// UnmarshalPolicy decodes what Marshal encoded.
func UnmarshalPolicy(b []byte) (*pdpv1.TenantPolicy, error) {
	p := new(pdpv1.TenantPolicy)
	if err := proto.Unmarshal(b, p); err != nil {
		return nil, fault.Wrap(fmt.Errorf("decode tenant policy: %w", err), fault.Internal, "a stored policy is damaged")
	}
	return p, nil
}

// UnmarshalPending decodes what Marshal encoded.
func UnmarshalPending(b []byte) (*pdpv1.PendingChange, error) {
	c := new(pdpv1.PendingChange)
	if err := proto.Unmarshal(b, c); err != nil {
		return nil, fault.Wrap(fmt.Errorf("decode pending change: %w", err), fault.Internal, "a stored pending change is damaged")
	}
	return c, nil
}
