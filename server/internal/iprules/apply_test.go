package iprules_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// stores are the stores the applier is tested over: memory returns rule
// slices, bolt is an iprules.Scanner.
func stores(t *testing.T) map[string]iprules.Store {
	b, err := bolt.Open(filepath.Join(t.TempDir(), "pdp.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return map[string]iprules.Store{"memory": memory.NewIPRules(), "bolt": b.IPRules()}
}

func TestApplierLoadsScopesAndKeepsTenantPolicies(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) { testApplierLoadsScopes(t, st) })
	}
}

func testApplierLoadsScopes(t *testing.T, st iprules.Store) {
	ctx := context.Background()
	set := ipset.NewSet(nil)
	if err := set.SetTenantPolicies(map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_denylist": []any{"192.0.2.0/24"}},
	}}}); err != nil {
		t.Fatal(err)
	}
	a := iprules.NewApplier(set, st)
	global, _ := st.Add(ctx, iprules.Rule{List: "deny", Prefix: netip.MustParsePrefix("198.51.100.0/24"), Source: iprules.SourceAdmin})
	expired, _ := st.Add(ctx, iprules.Rule{Tenant: "acme", List: "suspicious", Prefix: netip.MustParsePrefix("203.0.113.1/32"),
		Source: iprules.SourceAdmin, ExpiresAt: t0.Add(-time.Second)})
	if _, _, err := st.Import(ctx, "acme", "suspicious", "import:feed", []iprules.Rule{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}); err != nil {
		t.Fatal(err)
	}
	n, err := a.Load(ctx, t0)
	if err != nil || n != 2 {
		t.Fatalf("Load = %d, %v; want the 2 live rules", n, err)
	}
	if m := set.Lookup("beta", "", addr("198.51.100.1"), t0).Deny; m.Source != ipset.AdminRuleSource(global.ID) {
		t.Fatalf("global rule: %+v", m)
	}
	if m := set.Lookup("acme", "", addr("10.1.2.3"), t0).Suspicious; m.Source != "import:feed" {
		t.Fatalf("import: %+v", m)
	}
	if m := set.Lookup("acme", "", addr("203.0.113.1"), t0).Suspicious; m.Found() {
		t.Fatalf("expired rule listed: %+v (%s)", m, expired.ID)
	}

	// Another replica removes the import and adds a rule: reloading the
	// scope follows, and the tenant policy's entries stay.
	page, _, _ := st.List(ctx, iprules.Query{Tenant: "acme", List: "suspicious"})
	for _, r := range page {
		if r.Source == "import:feed" {
			if _, err := st.Remove(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.Add(ctx, iprules.Rule{Tenant: "acme", List: "allow", Prefix: netip.MustParsePrefix("2001:db8::/32"), Source: iprules.SourceAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadScope(ctx, "acme", t0); err != nil {
		t.Fatal(err)
	}
	r := set.Lookup("acme", "production", addr("10.1.2.3"), t0)
	if r.Suspicious.Found() {
		t.Fatal("removed import still listed")
	}
	if !set.Lookup("acme", "production", addr("2001:db8::1"), t0).Allow.Found() {
		t.Fatal("new rule not listed")
	}
	if m := set.Lookup("acme", "production", addr("192.0.2.9"), t0).Deny; m.Source != ipset.SourceTenantPolicy {
		t.Fatalf("tenant policy entry lost: %+v", m)
	}
	if !set.Lookup("acme", "", addr("198.51.100.1"), t0).Deny.Found() {
		t.Fatal("reloading a tenant dropped a global rule")
	}
}

func TestExpireDeletesExpiredRulesFromTheStore(t *testing.T) {
	ctx := context.Background()
	st := memory.NewIPRules()
	set := ipset.NewSet(nil)
	a := iprules.NewApplier(set, st)
	add := func(cidr string, expires time.Time) iprules.Rule {
		r, err := st.Add(ctx, iprules.Rule{Tenant: "acme", List: "deny", Prefix: netip.MustParsePrefix(cidr),
			Source: iprules.SourceAutoBlock, ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		a.Added(r)
		return r
	}
	add("192.0.2.1/32", t0.Add(time.Minute))
	add("192.0.2.3/32", time.Time{})
	extended := add("192.0.2.2/32", t0.Add(time.Minute))
	// Another replica blocks .2 again for longer; this one has not heard yet.
	extended.ExpiresAt = t0.Add(time.Hour)
	if _, err := st.Add(ctx, extended); err != nil {
		t.Fatal(err)
	}
	n, err := a.Expire(ctx, t0.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	all, _ := st.All(ctx)
	if len(all) != 2 {
		t.Fatalf("left %d rules, want the extended one and the one without expiry", len(all))
	}
	if set.Lookup("acme", "", addr("192.0.2.1"), t0).Deny.Found() {
		t.Fatal("the expired entry is still listed")
	}
	if n, _ := a.Expire(ctx, t0.Add(2*time.Hour)); n != 1 {
		t.Fatalf("the extended rule was not expired at its new expiry: %d", n)
	}
}

func TestLoadScopeFollowsAChangedExpiry(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) { testLoadScopeFollowsAChangedExpiry(t, st) })
	}
}

func testLoadScopeFollowsAChangedExpiry(t *testing.T, st iprules.Store) {
	ctx := context.Background()
	set := ipset.NewSet(nil)
	a := iprules.NewApplier(set, st)
	r, err := st.Add(ctx, iprules.Rule{Tenant: "acme", List: "deny", Prefix: netip.MustParsePrefix("192.0.2.7/32"),
		Source: iprules.SourceAutoBlock, ExpiresAt: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadScope(ctx, "acme", t0); err != nil {
		t.Fatal(err)
	}
	r.ExpiresAt = t0.Add(time.Hour)
	if _, err := st.Add(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadScope(ctx, "acme", t0); err != nil {
		t.Fatal(err)
	}
	if m := set.Lookup("acme", "", addr("192.0.2.7"), t0.Add(30*time.Minute)).Deny; !m.Found() || !m.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after the reload: %+v", m)
	}
	if set.Load().Len() != 1 {
		t.Fatalf("%d entries, want 1", set.Load().Len())
	}
}

func TestLoadTracksExpiries(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := st.Add(ctx, iprules.Rule{List: "deny", Prefix: netip.MustParsePrefix("192.0.2.1/32"),
				Source: iprules.SourceAutoBlock, ExpiresAt: t0.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.Import(ctx, "", "deny", "import:feed", []iprules.Rule{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}); err != nil {
				t.Fatal(err)
			}
			set := ipset.NewSet(nil)
			a := iprules.NewApplier(set, st)
			if n, err := a.Load(ctx, t0); err != nil || n != 2 {
				t.Fatalf("Load = %d, %v; want 2", n, err)
			}
			if n, err := a.Expire(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
				t.Fatalf("Expire = %d, %v; want the loaded auto-block deleted", n, err)
			}
			if all, _ := st.All(ctx); len(all) != 1 || all[0].Source != "import:feed" {
				t.Fatalf("left %+v, want the import", all)
			}
			if set.Load().Len() != 1 {
				t.Fatalf("%d entries listed, want the import's", set.Load().Len())
			}
		})
	}
}
