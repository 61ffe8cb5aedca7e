// Package iprules keeps the IP rules admins and feeds add to the lists
// "allow", "deny" and "suspicious": admin rules, imported lists and the
// auto-blocks of incident response. Store is their persistence, with one
// implementation per store backend (memory, bolt, redis) checked by the
// iprulestest conformance suite, and Stager the way a backend makes an
// import live at once, with its audit record; Applier turns stored rules
// into entries of the in-memory ipset.Set the enricher reads, and Follow
// keeps them in step with what other replicas change (package
// incident/autoblock makes incident auto-blocks persisted rules).
//
// A rule's id is derived from what it lists (tenant, list, prefix and
// source), so adding the same rule twice updates it instead of listing it
// twice, an import counts entries already present as duplicates, and
// blocking an address again only moves the expiry.
package iprules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ipset"
)

// Sources of rules.
const (
	// SourceAdmin marks a rule added through AddIPRule.
	SourceAdmin = "admin"
	// SourceAutoBlock marks an auto-block of incident response.
	SourceAutoBlock = "auto-block"
	// ImportPrefix starts the source of an imported rule: "import:NAME".
	ImportPrefix = "import:"
)

// The bounds of List.
const (
	// DefaultPageSize is the page size of a Query without Limit.
	DefaultPageSize = 100
	// MaxPageSize is the largest page List returns.
	MaxPageSize = 1000
)

// Rule is one stored IP rule.
type Rule struct {
	// ID identifies the rule; see RuleID.
	ID string `json:"id"`
	// Tenant is whom it applies to; empty for every tenant.
	Tenant string `json:"tenant,omitempty"`
	// List is "allow", "deny" or "suspicious".
	List string `json:"list"`
	// Prefix is the listed network, masked; a single address is a /32 or
	// a /128.
	Prefix netip.Prefix `json:"cidr"`
	// Reason is why the rule exists.
	Reason string `json:"reason,omitempty"`
	// ExpiresAt is when the rule lapses; zero for never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// CreatedAt is when the rule was stored.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// CreatedBy names who added it.
	CreatedBy string `json:"created_by,omitempty"`
	// Source is SourceAdmin, SourceAutoBlock or ImportPrefix+name.
	Source string `json:"source"`
}

// RuleID derives the id of the rule listing prefix on list for tenant
// from source: the prefix's address and length in hex ("4" and 8 digits for
// IPv4, "6" and 32 for IPv6, then 2 for the length) and 16 hex digits of a
// SHA-256 of the tenant, list and source. Ids sort by address, so a feed
// sorted by address (as feeds are) is stored in key order.
func RuleID(tenant, list string, prefix netip.Prefix, source string) string {
	h := sha256.New()
	for _, s := range []string{tenant, list, source} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	prefix = prefix.Masked()
	a := prefix.Addr()
	b := make([]byte, 0, 64)
	b = append(b, 'r')
	if a.Is4() {
		a4 := a.As4()
		b = append(b, '4')
		b = hex.AppendEncode(b, a4[:])
	} else {
		a16 := a.As16()
		b = append(b, '6')
		b = hex.AppendEncode(b, a16[:])
	}
	b = hex.AppendEncode(b, []byte{byte(prefix.Bits())})
	b = append(b, '-')
	return string(hex.AppendEncode(b, h.Sum(nil)[:8]))
}

// WithID returns r with its prefix masked and its id derived by RuleID.
func (r Rule) WithID() Rule {
	r.Prefix = r.Prefix.Masked()
	r.ID = RuleID(r.Tenant, r.List, r.Prefix, r.Source)
	return r
}

// Live reports whether r applies at now.
func (r Rule) Live(now time.Time) bool { return r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt) }

// Entry is the ipset entry r becomes: scoped to its tenant (every
// environment), with source ipset.AdminRuleSource(id) for an admin rule,
// ipset.ImportSource(name) for an import and ipset.SourceAutoBlock for an
// auto-block.
func (r Rule) Entry() ipset.Entry { return r.entry(r.EntrySource()) }

// entry is r's entry with source (r.EntrySource(), or an equal string).
func (r Rule) entry(source string) ipset.Entry {
	l, _ := ipset.ParseList(r.List)
	return ipset.Entry{
		Scope:     ipset.Scope{Tenant: r.Tenant},
		List:      l,
		Prefix:    r.Prefix,
		Source:    source,
		ExpiresAt: r.ExpiresAt,
	}
}

// EntrySource is the ipset source of r's entry.
func (r Rule) EntrySource() string {
	switch {
	case r.Source == SourceAutoBlock:
		return ipset.SourceAutoBlock
	case strings.HasPrefix(r.Source, ImportPrefix):
		return ipset.ImportSource(strings.TrimPrefix(r.Source, ImportPrefix))
	}
	return ipset.AdminRuleSource(r.ID)
}

// Validate checks what every store needs of a rule: a known list, a valid
// prefix and a source. It returns an InvalidArgument fault naming each bad
// field.
func (r Rule) Validate() error {
	var v fault.Violations
	if _, ok := ipset.ParseList(r.List); !ok {
		v.Add("list", "must be allow, deny or suspicious, not %q", r.List)
	}
	if !r.Prefix.IsValid() {
		v.Add("cidr", "not a valid CIDR")
	}
	if r.Source == "" {
		v.Add("source", "required")
	}
	return v.Err()
}

// Query selects one page of one scope's rules, in id order.
type Query struct {
	// Tenant is the scope; empty for the global rules.
	Tenant string
	// List keeps only rules of this list; empty keeps all.
	List string
	// Limit is the page size: DefaultPageSize when zero or less, at most
	// MaxPageSize.
	Limit int
	// After lists rules whose id sorts after it: the next token of the
	// previous page.
	After string
}

// PageSize is q.Limit with the default and the bound applied.
func (q Query) PageSize() int {
	switch {
	case q.Limit <= 0:
		return DefaultPageSize
	case q.Limit > MaxPageSize:
		return MaxPageSize
	}
	return q.Limit
}

// Store persists IP rules. Implementations are safe for concurrent use and
// return *fault.Error values like store.Store.
type Store interface {
	// Add stores r under r.WithID()'s id, replacing a rule of that id, and
	// returns the stored rule.
	Add(ctx context.Context, r Rule) (Rule, error)
	// Get returns the rule with id, or a NotFound fault.
	Get(ctx context.Context, id string) (Rule, error)
	// Remove deletes the rule with id and returns it, or a NotFound fault.
	Remove(ctx context.Context, id string) (Rule, error)
	// List returns one page of a scope's rules in id order and the token
	// of the next page, empty at the end.
	List(ctx context.Context, q Query) ([]Rule, string, error)
	// Import stores rules (each stored under its WithID id, the tenant,
	// list and source overridden by the arguments) that are not stored
	// yet, and counts those added and those already present.
	Import(ctx context.Context, tenant, list, source string, rules []Rule) (added, duplicates int, err error)
	// All returns every rule of every scope, in no particular order.
	All(ctx context.Context) ([]Rule, error)
}

// Stager is a Store that imports atomically: an import's rules are
// staged in batches under an import id, where no reader sees them (not
// Get, List, All, a scan, nor the rules of another import), then made live
// at once by Publish, which an audited change runs so that the rules and
// the import's audit record are committed together (audit.Committer).
type Stager interface {
	// Stage stores rules (prepared as Import prepares them, rules with an
	// invalid prefix dropped) under the import id, and returns how many of
	// them it found staged under it already; a store may leave those to
	// Publish instead.
	Stage(ctx context.Context, id, tenant, list, source string, rules []Rule) (repeats int, err error)
	// Publish makes the rules staged under id live (those not stored yet)
	// and removes the staging, counting the rules added and the others:
	// the rules already stored, and the repeats Stage did not count.
	// Inside an audited change its writes are the change's.
	Publish(ctx context.Context, id string) (added, duplicates int, err error)
	// Discard removes what is staged under id, if anything.
	Discard(ctx context.Context, id string) error
}

// Prepare validates r and returns it with its id, for Add.
func Prepare(r Rule) (Rule, error) {
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r.WithID(), nil
}

// PrepareImport validates the import's arguments and returns rules with
// them filled in and ids derived, for Import. Rules with an invalid prefix
// are dropped.
func PrepareImport(tenant, list, source string, rules []Rule) ([]Rule, error) {
	var v fault.Violations
	if _, ok := ipset.ParseList(list); !ok {
		v.Add("list", "must be allow, deny or suspicious, not %q", list)
	}
	if source == "" {
		v.Add("source", "required")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	out := make([]Rule, 0, len(rules))
	for _, r := range rules {
		if !r.Prefix.IsValid() {
			continue
		}
		r.Tenant, r.List, r.Source = tenant, list, source
		out = append(out, r.WithID())
	}
	return out, nil
}

// NotFound is the fault of a missing rule.
func NotFound(id string) error {
	return fault.New(fault.NotFound, "no IP rule %q", id)
}
