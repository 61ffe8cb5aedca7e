package ipset

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func notPolicy(source string) bool { return source != SourceTenantPolicy }

func ruleScopes(s Scope) bool { return s.Environment == "" }

func synced(t *testing.T, base, want *Snapshot) *Snapshot {
	t.Helper()
	b := base.Edit()
	b.Sync(want, ruleScopes, notPolicy)
	return b.Snapshot()
}

func TestSyncFollowsWant(t *testing.T) {
	t.Parallel()
	policy := Entry{Scope: prod, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: SourceTenantPolicy}
	kept := Entry{List: Deny, Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1"}
	gone := Entry{Scope: acme, List: Allow, Prefix: pfx("203.0.113.0/24"), Source: "admin rule r-2"}
	moved := Entry{Scope: acme, List: Deny, Prefix: pfx("203.0.113.7/32"), Source: SourceAutoBlock, ExpiresAt: now}
	base := build(t, policy, kept, gone, moved)

	extended := moved
	extended.ExpiresAt = now.Add(time.Hour)
	added := Entry{Scope: Scope{Tenant: "globex"}, List: Suspicious, Prefix: pfx("2001:db8::/32"), Source: "import:feed"}
	// want's environment entries are ignored: the environment scope is not synced.
	stray := Entry{Scope: prod, List: Allow, Prefix: pfx("10.0.0.0/8"), Source: "admin rule r-9"}
	got := synced(t, base, build(t, kept, extended, added, stray))

	want := []Entry{kept, extended, policy, added}
	if diff := cmp.Diff(want, entries(got), cmpNet); diff != "" {
		t.Fatalf("entries (-want +got):\n%s", diff)
	}
	if got.Len() != 4 {
		t.Fatalf("Len = %d, want 4", got.Len())
	}
}

func TestSyncMixedListChangesOnlyRuleEntries(t *testing.T) {
	t.Parallel()
	// A list holding entries of a source Sync leaves alone (here a tenant
	// policy entry in a rule scope) gets the differences one by one; many
	// of them take the clone route.
	policy := Entry{Scope: acme, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: SourceTenantPolicy}
	shared := Entry{Scope: acme, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "import:feed"}
	old := hostEntries(acme, Deny, 10, "import:old")
	base := build(t, append([]Entry{policy, shared}, old...)...)
	next := hostEntries(acme, Deny, 2*persistLimit, "import:new")
	got := synced(t, base, build(t, append([]Entry{shared}, next...)...))

	want := append([]Entry{}, next...)
	want = append(want, policy, shared)
	sortEntries(want)
	have := entries(got)
	sortEntries(have)
	if diff := cmp.Diff(want, have, cmpNet); diff != "" {
		t.Fatalf("entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append(old, policy, shared), entries(base), cmpNet); diff != "" {
		t.Fatalf("the base snapshot changed (-want +got):\n%s", diff)
	}
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		if c := a.Prefix.Bits() - b.Prefix.Bits(); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
}

func TestSyncSharesWantsTableAndKeepsAnUnchangedOne(t *testing.T) {
	t.Parallel()
	for _, source := range []string{"import:feed", "admin rule r-1"} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			// An imported list is a feed, any other a table: both are shared.
			list := func(s *Snapshot) any {
				if isImport(source) {
					if len(s.global.feeds[Deny]) == 0 {
						return (*feed)(nil)
					}
					return s.global.feeds[Deny][0]
				}
				return s.global.bart[Deny]
			}
			entries := hostEntries(Scope{}, Deny, 1000, source)
			want := build(t, entries...)

			loaded := synced(t, Empty(), want)
			if list(loaded) != list(want) {
				t.Fatal("loading into an empty list copied want's list instead of sharing it")
			}
			again := synced(t, loaded, build(t, entries...))
			if list(again) != list(loaded) {
				t.Fatal("syncing an unchanged list replaced it")
			}
			if again.Len() != 1000 {
				t.Fatalf("Len = %d, want 1000", again.Len())
			}
			emptied := synced(t, again, Empty())
			if emptied.Len() != 0 || !emptied.global.empty() {
				t.Fatalf("syncing to nothing left %d entries", emptied.Len())
			}
			if again.Len() != 1000 {
				t.Fatal("syncing changed the snapshot it started from")
			}
		})
	}
}
