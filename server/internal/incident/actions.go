package incident

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ipset"
)

// Block is one auto-block of an address for a tenant.
type Block struct {
	// Tenant is whom the block applies to (every environment of it).
	Tenant string
	// Addr is the blocked address; it is listed as a /32 or a /128.
	Addr netip.Addr
	// At is when the block was decided, by the wall clock.
	At time.Time
	// ExpiresAt is when it stops applying.
	ExpiresAt time.Time
	// Reason says why.
	Reason string
}

// Blocker lists and looks up auto-blocks.
type Blocker interface {
	// Block denies b.Addr to b.Tenant until b.ExpiresAt. Blocking an
	// address again replaces the expiry.
	Block(ctx context.Context, b Block) error
	// Blocked reports whether an auto-block of addr for tenant is live at
	// now.
	Blocked(tenant string, addr netip.Addr, now time.Time) bool
}

// IPSetBlocker keeps auto-blocks in the in-memory IP lists the enricher
// reads, as deny entries with source ipset.SourceAutoBlock scoped to the
// tenant. Lookups ignore an expired block at once; the entry itself is
// dropped from memory by the next Block. It is safe for concurrent use.
type IPSetBlocker struct {
	set *ipset.Set

	mu      sync.Mutex
	expires map[blockKey]time.Time
}

type blockKey struct {
	tenant string
	prefix netip.Prefix
}

// NewIPSetBlocker returns a Blocker writing to set.
func NewIPSetBlocker(set *ipset.Set) *IPSetBlocker {
	return &IPSetBlocker{set: set, expires: make(map[blockKey]time.Time)}
}

// Block lists the address on the tenant's deny list and drops the blocks
// this Blocker made that have expired at b.At.
func (s *IPSetBlocker) Block(_ context.Context, b Block) error {
	addr := b.Addr.Unmap().WithZone("")
	key := blockKey{tenant: b.Tenant, prefix: netip.PrefixFrom(addr, addr.BitLen())}
	s.mu.Lock()
	defer s.mu.Unlock()
	var expired []blockKey
	for k, at := range s.expires {
		if k != key && !b.At.Before(at) {
			expired = append(expired, k)
		}
	}
	err := s.set.Update(func(bu *ipset.Builder) error {
		for _, k := range expired {
			bu.Remove(ipset.Scope{Tenant: k.tenant}, ipset.Deny, k.prefix, ipset.SourceAutoBlock)
		}
		return bu.Add(ipset.Entry{
			Scope:     ipset.Scope{Tenant: key.tenant},
			List:      ipset.Deny,
			Prefix:    key.prefix,
			Source:    ipset.SourceAutoBlock,
			ExpiresAt: b.ExpiresAt,
		})
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		delete(s.expires, k)
	}
	s.expires[key] = b.ExpiresAt
	return nil
}

// Blocked reports whether the tenant's deny list holds a live auto-block
// for addr.
func (s *IPSetBlocker) Blocked(tenant string, addr netip.Addr, now time.Time) bool {
	m := s.set.Lookup(tenant, "", addr, now).Deny
	return m.Found() && m.Source == ipset.SourceAutoBlock && m.Scope.Tenant == tenant
}

// AuditEntry is one incident action for the audit trail (docs/api.md,
// section Audit events and checkpoints: the audit log adds the id and the hash chain).
type AuditEntry struct {
	// Time is when the action was taken.
	Time time.Time
	// Actor is who took it: Actor.
	Actor string
	// Action is "incident.block_ip", "incident.suspend_user" or
	// "incident.notify".
	Action string
	// Tenant is the tenant acted for.
	Tenant string
	// Target is the user id or the address acted on.
	Target string
	// Reason says why.
	Reason string
	// Details carry the evidence: the decision or event id, the expiry,
	// the notification id, an error.
	Details map[string]string
}

// Auditor records incident actions in the audit trail.
type Auditor interface {
	// Record appends one entry.
	Record(ctx context.Context, e AuditEntry) error
}

// CommitAuditor is an Auditor that records an action together with it:
// Commit runs act and appends e in one commit of the store both live in,
// so the action stays only if its record does. act's error is returned as
// it is, with nothing recorded.
type CommitAuditor interface {
	Auditor
	Commit(ctx context.Context, e AuditEntry, act func(ctx context.Context) error) error
}

// NopAuditor records nothing. It is the Auditor until the hash-chained
// audit log is wired in; meanwhile the structured log line "incident"
// written for every action is the record.
type NopAuditor struct{}

// Record does nothing.
func (NopAuditor) Record(context.Context, AuditEntry) error { return nil }
