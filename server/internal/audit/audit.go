// Package audit is the hash-chained audit log: every admin change and every
// security event (policy change, IP rule, import, SSO status, MFA reset,
// suspension, auto-block, emergency access, approvals) is appended with its
// actor, time, reason, tenant and target, and linked to the previous record
// by hash, so that `pdp audit verify` finds the first broken link.
package audit

import (
	"context"
	"errors"
	"time"
)

// Entry is what a caller records; the log assigns the id, the time when
// zero, and the hashes.
type Entry struct {
	// Time is when it happened; the log's clock when zero.
	Time time.Time
	// Actor is who did it: an API key name, a certificate identity or
	// "system" for automatic actions.
	Actor string
	// Action is what was done, such as "tenant_policy.put" or "ip_rule.add".
	Action string
	// Tenant is the tenant affected; empty for global changes.
	Tenant string
	// Target is the object affected: a user id, a rule id, an address.
	Target string
	// Reason is why, as the actor gave it.
	Reason string
	// Before is the state before the change, as a JSON-like value; nil when
	// there was none.
	Before map[string]any
	// After is the state after the change; nil when it was removed.
	After map[string]any
}

// Event is one appended record.
type Event struct {
	Entry
	// ID is unique and sortable by append order.
	ID string
	// Seq is the position in the chain, from 1.
	Seq uint64
	// PrevHash is the Hash of the previous event; empty for the first.
	PrevHash string
	// Hash covers every field above, PrevHash included.
	Hash string
}

// Query selects events to list.
type Query struct {
	// Tenant keeps only events of this tenant; empty keeps all. Callers
	// restricted to some tenants pass Tenants instead.
	Tenant string
	// Tenants, when not nil, keeps only events of these tenants.
	Tenants []string
	// Since keeps events at or after this time.
	Since time.Time
	// Target keeps events of this target; empty keeps all.
	Target string
	// After is a page token: list events after this sequence number.
	After uint64
	// Limit is the page size.
	Limit int
}

// Log is the audit log. Every store backend provides one.
type Log interface {
	// Append links e to the chain and stores it durably before returning.
	Append(ctx context.Context, e Entry) (Event, error)
	// List returns events in append order and the sequence number to pass
	// as Query.After for the next page (0 at the end).
	List(ctx context.Context, q Query) ([]Event, uint64, error)
}

// Committer is implemented by logs that commit a change and its record as
// one: Commit runs change with a context under which the same backend's
// stores (state, tenant policies, IP rules) write inside the commit, then
// appends the entry change leaves in e, so that the change's writes and
// the record are committed together or not at all. change may fill in
// what only it learns (e.After); e must pass Check before change runs,
// or Commit fails without running it. When change fails, its error is
// returned as it is and nothing is appended; when the record cannot be
// appended, nothing of the change stays, except where the error is
// ErrLinkPending.
type Committer interface {
	Commit(ctx context.Context, e Entry, change func(ctx context.Context, e *Entry) error) (Event, error)
}

// ErrLinkPending is matched (errors.Is) by a Commit error whose change and
// record are both stored durably, the record not yet linked into the
// chain: a backend that links afterwards (Redis, through its outbox) links
// it later by itself. The caller must not report the change as undone.
var ErrLinkPending = errors.New("the change and its audit record are stored; the record is linked into the chain once the audit log answers")
