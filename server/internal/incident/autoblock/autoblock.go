// Package autoblock makes the auto-blocks of incident response stored IP
// rules: deny rules of source iprules.SourceAutoBlock with an expiry, so they
// survive restarts and (with the Redis backend) reach every replica.
package autoblock

import (
	"context"
	"net/netip"
	"time"

	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
)

// BlockedBy names who auto-blocks in CreatedBy.
const BlockedBy = "incident response"

// Blocker is the incident.Blocker of a replicated deployment: an
// auto-block is a stored deny rule with source iprules.SourceAutoBlock and an
// expiry, so it survives restarts and (with the Redis backend) reaches
// every replica; it is listed locally at once. Blocking an address again
// replaces the rule, and so its expiry.
type Blocker struct {
	applier *iprules.Applier
}

var _ incident.Blocker = (*Blocker)(nil)

// New returns a Blocker storing through a's store and listing
// through a.
func New(a *iprules.Applier) *Blocker { return &Blocker{applier: a} }

// Block implements incident.Blocker.
func (b *Blocker) Block(ctx context.Context, blk incident.Block) error {
	addr := blk.Addr.Unmap().WithZone("")
	r, err := b.applier.Store().Add(ctx, iprules.Rule{
		Tenant:    blk.Tenant,
		List:      ipset.Deny.String(),
		Prefix:    netip.PrefixFrom(addr, addr.BitLen()),
		Reason:    blk.Reason,
		ExpiresAt: blk.ExpiresAt,
		CreatedAt: blk.At,
		CreatedBy: BlockedBy,
		Source:    iprules.SourceAutoBlock,
	})
	if err != nil {
		return err
	}
	b.applier.Added(r)
	return nil
}

// Blocked implements incident.Blocker: the tenant's deny list holds a
// live auto-block of addr.
func (b *Blocker) Blocked(tenant string, addr netip.Addr, now time.Time) bool {
	m := b.applier.Set().Lookup(tenant, "", addr, now).Deny
	return m.Found() && m.Source == ipset.SourceAutoBlock && m.Scope.Tenant == tenant
}
