// Package ipset holds the IP lists the PDP consults for every request with
// an address: "allow", "deny" and "suspicious", each global, per tenant and
// per tenant environment, fed by tenant policies, admin rules, imported
// threat feeds and auto-blocks.
//
// Lists are prefix tables (github.com/gaissmai/bart): a lookup costs a few
// memory reads per address byte whatever the size of the list, for IPv4
// and IPv6 alike. Imported feeds, which may hold millions of prefixes, are
// instead kept as sorted arrays of integers per prefix length, which the
// garbage collector never has to scan (feed.go); a lookup binary-searches
// the lengths a feed holds. Tables and feeds are immutable once published
// in a Snapshot; a Builder derives a new snapshot from an old one (copying
// only the tables and feed arrays it changes, and for a handful of table
// changes only the paths it touches), and a Set publishes snapshots
// through an atomic pointer, so readers never lock.
//
// Every entry carries its source ("tenant policy", "admin rule r-123",
// "import:firehol", "auto-block") and an optional expiry. The same prefix
// may come from several sources; it stays listed until the last of them is
// removed or expires. Expired entries are ignored by lookups at once and
// dropped from memory by Builder.Prune.
package ipset

import (
	"net/netip"
	"strings"
	"time"
)

// List names one of the three lists.
type List uint8

// The lists.
const (
	// Allow lists addresses a tenant lets in.
	Allow List = iota
	// Deny lists addresses that are refused.
	Deny
	// Suspicious lists addresses of poor reputation, a risk factor.
	Suspicious
	numLists
)

// String returns the list's name as the admin API spells it.
func (l List) String() string {
	switch l {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case Suspicious:
		return "suspicious"
	}
	return "unknown"
}

// ParseList maps "allow", "deny" or "suspicious" to a List.
func ParseList(s string) (List, bool) {
	for l := range numLists {
		if l.String() == s {
			return l, true
		}
	}
	return 0, false
}

// Scope says whom an entry applies to. The zero Scope is global (every
// tenant); a Scope with only Tenant applies to every environment of that
// tenant; with both, to one environment.
type Scope struct {
	// Tenant is the tenant; empty for every tenant.
	Tenant string
	// Environment is the tenant environment; empty for all of them.
	Environment string
}

// String renders the scope for messages: "global", "acme", "acme/production".
func (s Scope) String() string {
	switch {
	case s.Tenant == "":
		return "global"
	case s.Environment == "":
		return s.Tenant
	}
	return s.Tenant + "/" + s.Environment
}

// Entry is one listed prefix.
type Entry struct {
	// Scope is whom it applies to.
	Scope Scope
	// List is the list it is on.
	List List
	// Prefix is the listed network; a single address is a /32 or /128.
	Prefix netip.Prefix
	// Source names where it came from, such as "admin rule r-123".
	Source string
	// ExpiresAt is when it stops applying; zero for never.
	ExpiresAt time.Time
}

// Match is the entry that matched an address on one list.
type Match struct {
	// Prefix is the matching prefix; invalid when nothing matched.
	Prefix netip.Prefix
	// Source is the matching entry's source.
	Source string
	// Scope is the scope of the list it was found on.
	Scope Scope
	// ExpiresAt is when the entry expires; zero for never.
	ExpiresAt time.Time
}

// Found reports whether the list matched.
func (m Match) Found() bool { return m.Prefix.IsValid() }

// Description names the evidence, such as "203.0.113.0/24 (admin rule
// r-123)"; empty when nothing matched.
func (m Match) Description() string {
	if !m.Found() {
		return ""
	}
	var b strings.Builder
	b.Grow(len(m.Source) + 48)
	b.WriteString(m.Prefix.String())
	if m.Source != "" {
		b.WriteString(" (")
		b.WriteString(m.Source)
		b.WriteByte(')')
	}
	return b.String()
}

// Result is the outcome of looking an address up on every list.
type Result struct {
	// Allow is the match on the allow lists.
	Allow Match
	// Deny is the match on the deny lists.
	Deny Match
	// Suspicious is the match on the suspicious lists.
	Suspicious Match
}

// Get returns the match on list l.
func (r *Result) Get(l List) Match {
	switch l {
	case Allow:
		return r.Allow
	case Deny:
		return r.Deny
	case Suspicious:
		return r.Suspicious
	}
	return Match{}
}

func (r *Result) slot(l List) *Match {
	switch l {
	case Allow:
		return &r.Allow
	case Deny:
		return &r.Deny
	}
	return &r.Suspicious
}
