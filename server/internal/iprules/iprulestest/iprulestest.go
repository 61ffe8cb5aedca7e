// Package iprulestest is the conformance suite every iprules.Store
// backend runs:
//
//	func TestIPRulesConformance(t *testing.T) {
//		iprulestest.Run(t, func(t *testing.T) iprules.Store { return memory.NewIPRules() })
//	}
package iprulestest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/iprules"
)

// Open returns a fresh, empty store for one test.
type Open func(t *testing.T) iprules.Store

// Run runs every conformance test against the stores open returns.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s iprules.Store)
	}{
		{"AddGetRemove", testAddGetRemove},
		{"InvalidRules", testInvalid},
		{"ListPagesInIDOrder", testListPaging},
		{"ListFiltersByList", testListFilter},
		{"ImportCountsDuplicates", testImport},
		{"AllSpansScopes", testAll},
		{"LargeImport", testLargeImport},
		{"ScanMatchesAll", testScan},
		{"StagedRulesAreUnseenUntilPublished", testStageUnseen},
		{"PublishIntoAScopeWithRulesCountsDuplicates", testPublishMerge},
		{"DiscardDropsTheStaging", testDiscard},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func rule(tenant, list, cidr, source string) iprules.Rule {
	return iprules.Rule{
		Tenant: tenant, List: list, Prefix: netip.MustParsePrefix(cidr), Source: source,
		Reason: "test", CreatedAt: t0, CreatedBy: "tester",
	}
}

func same(a, b iprules.Rule) bool {
	return a.ID == b.ID && a.Tenant == b.Tenant && a.List == b.List && a.Prefix == b.Prefix &&
		a.Reason == b.Reason && a.ExpiresAt.Equal(b.ExpiresAt) && a.CreatedAt.Equal(b.CreatedAt) &&
		a.CreatedBy == b.CreatedBy && a.Source == b.Source
}

func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != code {
		t.Fatalf("error %v, want a %s fault", err, code)
	}
}

func testAddGetRemove(t *testing.T, s iprules.Store) {
	ctx := context.Background()
	in := rule("acme", "deny", "203.0.113.7/24", iprules.SourceAdmin)
	in.ExpiresAt = t0.Add(time.Hour)
	got, err := s.Add(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.Prefix != netip.MustParsePrefix("203.0.113.0/24") {
		t.Fatalf("added %+v: want an id and the masked prefix", got)
	}
	back, err := s.Get(ctx, got.ID)
	if err != nil || !same(back, got) {
		t.Fatalf("Get = %+v, %v; want %+v", back, err, got)
	}
	in.Reason, in.ExpiresAt = "longer", t0.Add(2*time.Hour)
	again, err := s.Add(ctx, in)
	if err != nil || again.ID != got.ID {
		t.Fatalf("re-add = %+v, %v; want the same id %s", again, err, got.ID)
	}
	if back, _ = s.Get(ctx, got.ID); back.Reason != "longer" || !back.ExpiresAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("re-add did not replace: %+v", back)
	}
	if page, _, _ := s.List(ctx, iprules.Query{Tenant: "acme"}); len(page) != 1 {
		t.Fatalf("re-add listed %d rules, want 1", len(page))
	}
	removed, err := s.Remove(ctx, got.ID)
	if err != nil || removed.Reason != "longer" {
		t.Fatalf("Remove = %+v, %v", removed, err)
	}
	_, err = s.Get(ctx, got.ID)
	wantCode(t, err, fault.NotFound)
	_, err = s.Remove(ctx, got.ID)
	wantCode(t, err, fault.NotFound)
	if page, next, err := s.List(ctx, iprules.Query{Tenant: "acme"}); err != nil || len(page) != 0 || next != "" {
		t.Fatalf("after removal List = %v, %q, %v", page, next, err)
	}
}

func testInvalid(t *testing.T, s iprules.Store) {
	ctx := context.Background()
	_, err := s.Add(ctx, rule("acme", "maybe", "192.0.2.1/32", iprules.SourceAdmin))
	wantCode(t, err, fault.InvalidArgument)
	_, err = s.Add(ctx, iprules.Rule{List: "deny", Source: iprules.SourceAdmin})
	wantCode(t, err, fault.InvalidArgument)
	_, _, err = s.Import(ctx, "acme", "nope", "feed", nil)
	wantCode(t, err, fault.InvalidArgument)
}

func testListPaging(t *testing.T, s iprules.Store) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		r, err := s.Add(ctx, rule("acme", "deny", fmt.Sprintf("198.51.100.%d/32", i), iprules.SourceAdmin))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID)
	}
	for i := range 3 {
		if _, err := s.Add(ctx, rule("", "deny", fmt.Sprintf("192.0.2.%d/32", i), iprules.SourceAdmin)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(ctx, rule("other", "deny", fmt.Sprintf("192.0.2.%d/32", i), iprules.SourceAdmin)); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := s.List(ctx, iprules.Query{Tenant: "acme", Limit: 10, After: token})
		if err != nil {
			t.Fatal(err)
		}
		if pages > 5 || len(page) > 10 {
			t.Fatalf("page %d has %d rules", pages, len(page))
		}
		for _, r := range page {
			if r.Tenant != "acme" {
				t.Fatalf("tenant acme listed %+v", r)
			}
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged ids %v, want %v", got, want)
	}
	global, _, err := s.List(ctx, iprules.Query{})
	if err != nil || len(global) != 3 {
		t.Fatalf("global rules %d, %v; want 3", len(global), err)
	}
}

func testListFilter(t *testing.T, s iprules.Store) {
	ctx := context.Background()
	for i := range 12 {
		list := []string{"allow", "deny", "suspicious"}[i%3]
		if _, err := s.Add(ctx, rule("acme", list, fmt.Sprintf("2001:db8::%x/128", i), iprules.SourceAdmin)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	token := ""
	for {
		page, next, err := s.List(ctx, iprules.Query{Tenant: "acme", List: "suspicious", Limit: 3, After: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if r.List != "suspicious" {
				t.Fatalf("filter let %+v through", r)
			}
		}
		n += len(page)
		if token = next; token == "" {
			break
		}
	}
	if n != 4 {
		t.Fatalf("listed %d suspicious rules, want 4", n)
	}
}

func testImport(t *testing.T, s iprules.Store) {
	ctx := context.Background()
	var in []iprules.Rule
	for i := range 500 {
		in = append(in, iprules.Rule{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))})
	}
	in = append(in, in[:10]...)     // ten repeated lines
	in = append(in, iprules.Rule{}) // an invalid prefix is skipped
	added, dups, err := s.Import(ctx, "acme", "suspicious", "import:feed", in)
	if err != nil || added != 500 || dups != 10 {
		t.Fatalf("Import = %d added, %d duplicates, %v; want 500, 10", added, dups, err)
	}
	added, dups, err = s.Import(ctx, "acme", "suspicious", "import:feed", in[:100])
	if err != nil || added != 0 || dups != 100 {
		t.Fatalf("re-import = %d added, %d duplicates, %v; want 0, 100", added, dups, err)
	}
	added, _, err = s.Import(ctx, "acme", "suspicious", "import:other", in[:100])
	if err != nil || added != 100 {
		t.Fatalf("another source = %d added, %v; want 100", added, err)
	}
	page, _, err := s.List(ctx, iprules.Query{Tenant: "acme", Limit: 1})
	if err != nil || len(page) != 1 {
		t.Fatal(page, err)
	}
	r := page[0]
	if r.Tenant != "acme" || r.List != "suspicious" || (r.Source != "import:feed" && r.Source != "import:other") {
		t.Fatalf("imported rule %+v", r)
	}
	if got, err := s.Get(ctx, r.ID); err != nil || !same(got, r) {
		t.Fatalf("Get of an imported rule = %+v, %v", got, err)
	}
}

func testAll(t *testing.T, s iprules.Store) {
	ctx := context.Background()
	if all, err := s.All(ctx); err != nil || len(all) != 0 {
		t.Fatalf("empty store All = %d, %v", len(all), err)
	}
	a, _ := s.Add(ctx, rule("", "deny", "192.0.2.0/24", iprules.SourceAdmin))
	b, _ := s.Add(ctx, rule("acme", "allow", "2001:db8::/32", iprules.SourceAdmin))
	c, _ := s.Add(ctx, rule("acme", "deny", "203.0.113.9/32", iprules.SourceAutoBlock))
	if _, _, err := s.Import(ctx, "beta", "deny", "import:x", []iprules.Rule{{Prefix: netip.MustParsePrefix("198.51.100.0/24")}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.All(ctx)
	if err != nil || len(all) != 4 {
		t.Fatalf("All = %d rules, %v; want 4", len(all), err)
	}
	for _, want := range []iprules.Rule{a, b, c} {
		if !slices.ContainsFunc(all, func(r iprules.Rule) bool { return same(r, want) }) {
			t.Errorf("All lacks %+v", want)
		}
	}
}

func testLargeImport(t *testing.T, s iprules.Store) {
	const n = 100_000
	in := make([]iprules.Rule, n)
	for i := range in {
		in[i].Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	start := time.Now()
	added, _, err := s.Import(context.Background(), "", "deny", "import:big", in)
	if err != nil || added != n {
		t.Fatalf("Import = %d, %v; want %d", added, err, n)
	}
	t.Logf("imported %d rules in %s", n, time.Since(start))
	all, err := s.All(context.Background())
	if err != nil || len(all) != n {
		t.Fatalf("All = %d, %v; want %d", len(all), err, n)
	}
}

// testScan checks a store that is an iprules.Scanner: ScanAll yields what
// All returns (but the ids), ScanScope one scope's rules in id order, and
// both stop at fn's first error.
func testScan(t *testing.T, s iprules.Store) {
	sc, ok := s.(iprules.Scanner)
	if !ok {
		t.Skip("not an iprules.Scanner")
	}
	ctx := context.Background()
	if _, err := s.Add(ctx, rule("", "deny", "192.0.2.0/24", iprules.SourceAdmin)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, rule("acme", "allow", "2001:db8::/32", iprules.SourceAdmin)); err != nil {
		t.Fatal(err)
	}
	var feed []iprules.Rule
	for i := range 300 {
		feed = append(feed, iprules.Rule{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32), Reason: "feed"})
	}
	if _, _, err := s.Import(ctx, "acme", "deny", "import:x", feed); err != nil {
		t.Fatal(err)
	}
	all, err := s.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var scanned []iprules.Rule
	if err := sc.ScanAll(ctx, func(r iprules.Rule) error { scanned = append(scanned, r.WithID()); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(scanned) != len(all) {
		t.Fatalf("ScanAll yields %d rules, All returns %d", len(scanned), len(all))
	}
	for _, want := range all {
		if !slices.ContainsFunc(scanned, func(r iprules.Rule) bool { return same(r, want) && r.Reason == want.Reason }) {
			t.Errorf("ScanAll lacks %+v", want)
		}
	}
	var acme []string
	if err := sc.ScanScope(ctx, "acme", func(r iprules.Rule) error {
		if r.Tenant != "acme" {
			t.Errorf("ScanScope(acme) yields %+v", r)
		}
		acme = append(acme, r.WithID().ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(acme) != 301 || !slices.IsSorted(acme) {
		t.Errorf("ScanScope(acme) yields %d rules (sorted: %t), want 301 in id order", len(acme), slices.IsSorted(acme))
	}
	stop := errors.New("stop")
	n := 0
	if err := sc.ScanAll(ctx, func(iprules.Rule) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanAll went on after an error: %d calls, %v", n, err)
	}
	if err := sc.ScanScope(ctx, "nobody", func(r iprules.Rule) error { return fmt.Errorf("rule %s of no scope", r.Prefix) }); err != nil {
		t.Error(err)
	}
}

// stager returns s as an iprules.Stager, or skips the test.
func stager(t *testing.T, s iprules.Store) iprules.Stager {
	t.Helper()
	st, ok := s.(iprules.Stager)
	if !ok {
		t.Skip("not an iprules.Stager")
	}
	return st
}

// feedOf returns n /32 rules of 10.<k>.x.y.
func feedOf(k byte, n int) []iprules.Rule {
	in := make([]iprules.Rule, n)
	for i := range in {
		in[i].Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, k, byte(i >> 8), byte(i)}), 32)
	}
	return in
}

// visible counts the rules of every reader: All, List of the scope, and
// ScanAll when the store has it.
func visible(t *testing.T, s iprules.Store, tenant string) (all, listed, scanned int) {
	t.Helper()
	ctx := context.Background()
	rs, err := s.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for q := (iprules.Query{Tenant: tenant, Limit: iprules.MaxPageSize}); ; {
		page, next, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(page)
		if next == "" {
			break
		}
		q.After = next
	}
	if sc, ok := s.(iprules.Scanner); ok {
		if err := sc.ScanAll(ctx, func(iprules.Rule) error { scanned++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return len(rs), listed, scanned
}

// testStageUnseen stages an import in batches (one line repeated across
// them), checks no reader sees any of it, then publishes it.
func testStageUnseen(t *testing.T, s iprules.Store) {
	st := stager(t, s)
	ctx := context.Background()
	feed := feedOf(1, 3000)
	feed[2999] = feed[0]                // a line repeated in a later batch
	feed = append(feed, iprules.Rule{}) // an invalid prefix is dropped
	repeats := 0
	for batch := range slices.Chunk(feed, 1000) {
		n, err := st.Stage(ctx, "imp-1", "acme", "deny", "import:feed", batch)
		if err != nil {
			t.Fatal(err)
		}
		repeats += n
	}
	if repeats > 1 {
		t.Errorf("Stage counted %d repeated lines, want at most 1", repeats)
	}
	if all, listed, scanned := visible(t, s, "acme"); all+listed+scanned != 0 {
		t.Fatalf("staged rules are seen: All %d, List %d, ScanAll %d; want none", all, listed, scanned)
	}
	id := iprules.Rule{Tenant: "acme", List: "deny", Prefix: feed[1].Prefix, Source: "import:feed"}.WithID().ID
	if _, err := s.Get(ctx, id); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("Get of a staged rule = %v, want NOT_FOUND", err)
	}
	added, dups, err := st.Publish(ctx, "imp-1")
	if err != nil || added != 2999 || repeats+dups != 1 {
		t.Fatalf("Publish = %d added, %d duplicates, %v (Stage counted %d repeats); want 2999 added and the repeat counted once", added, dups, err, repeats)
	}
	if all, listed, _ := visible(t, s, "acme"); all != 2999 || listed != 2999 {
		t.Fatalf("after Publish: All %d, List %d; want 2999", all, listed)
	}
	if r, err := s.Get(ctx, id); err != nil || r.Source != "import:feed" || r.Tenant != "acme" || r.List != "deny" {
		t.Fatalf("Get of a published rule = %+v, %v", r, err)
	}
	if added, dups, err := st.Publish(ctx, "imp-1"); err != nil || added+dups != 0 {
		t.Fatalf("a second Publish = %d added, %d duplicates, %v; want nothing", added, dups, err)
	}
}

// testPublishMerge publishes into a scope that holds an admin rule and
// part of the same feed: what is stored already counts as duplicates and
// keeps its stored form.
func testPublishMerge(t *testing.T, s iprules.Store) {
	st := stager(t, s)
	ctx := context.Background()
	admin, err := s.Add(ctx, rule("acme", "allow", "192.0.2.0/24", iprules.SourceAdmin))
	if err != nil {
		t.Fatal(err)
	}
	feed := feedOf(2, 500)
	if _, _, err := s.Import(ctx, "acme", "deny", "import:feed", feed[:100]); err != nil {
		t.Fatal(err)
	}
	for i := range feed {
		feed[i].Reason = "restaged"
	}
	if _, err := st.Stage(ctx, "imp-2", "acme", "deny", "import:feed", feed); err != nil {
		t.Fatal(err)
	}
	added, dups, err := st.Publish(ctx, "imp-2")
	if err != nil || added != 400 || dups != 100 {
		t.Fatalf("Publish = %d added, %d duplicates, %v; want 400, 100", added, dups, err)
	}
	if all, listed, _ := visible(t, s, "acme"); all != 501 || listed != 501 {
		t.Fatalf("after Publish: All %d, List %d; want 501", all, listed)
	}
	if got, err := s.Get(ctx, admin.ID); err != nil || !same(got, admin) {
		t.Fatalf("the admin rule after Publish = %+v, %v", got, err)
	}
	kept := iprules.Rule{Tenant: "acme", List: "deny", Prefix: feed[0].Prefix, Source: "import:feed"}.WithID().ID
	if got, err := s.Get(ctx, kept); err != nil || got.Reason == "restaged" {
		t.Fatalf("a rule stored before = %+v, %v; want it kept as it was", got, err)
	}
}

func testDiscard(t *testing.T, s iprules.Store) {
	st := stager(t, s)
	ctx := context.Background()
	if _, err := st.Stage(ctx, "imp-3", "acme", "deny", "import:feed", feedOf(3, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stage(ctx, "imp-4", "acme", "deny", "import:other", feedOf(4, 10)); err != nil {
		t.Fatal(err)
	}
	if err := st.Discard(ctx, "imp-3"); err != nil {
		t.Fatal(err)
	}
	if err := st.Discard(ctx, "imp-3"); err != nil {
		t.Fatalf("a second Discard = %v, want nothing to do", err)
	}
	if added, dups, err := st.Publish(ctx, "imp-3"); err != nil || added+dups != 0 {
		t.Fatalf("Publish of a discarded import = %d added, %d duplicates, %v; want nothing", added, dups, err)
	}
	if added, _, err := st.Publish(ctx, "imp-4"); err != nil || added != 10 {
		t.Fatalf("Publish of the other import = %d added, %v; want 10", added, err)
	}
	if all, _, _ := visible(t, s, "acme"); all != 10 {
		t.Fatalf("All = %d rules, want the other import's 10", all)
	}
}
