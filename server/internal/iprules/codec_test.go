package iprules_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/iprules"
)

func TestStoredFormRoundTrips(t *testing.T) {
	for _, r := range []iprules.Rule{
		{List: "deny", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: "import:feed"},
		{Tenant: "acmé", List: "allow", Prefix: netip.MustParsePrefix("2001:db8::/32"), Reason: "office; VPN",
			ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, CreatedBy: "root", Source: iprules.SourceAdmin},
	} {
		r = r.WithID()
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back iprules.Rule
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if back.ID != r.ID || back.Tenant != r.Tenant || back.Prefix != r.Prefix || back.Reason != r.Reason ||
			!back.ExpiresAt.Equal(r.ExpiresAt) || !back.CreatedAt.Equal(r.CreatedAt) || back.CreatedBy != r.CreatedBy || back.Source != r.Source {
			t.Fatalf("round trip %+v → %+v", r, back)
		}
		for i := range b {
			if err := new(iprules.Rule).UnmarshalBinary(b[:i]); err == nil {
				t.Fatalf("a stored form cut at %d bytes decoded", i)
			}
		}
	}
}

func TestRuleIDs(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.0/24")
	a := iprules.RuleID("acme", "deny", p, "admin")
	if a != iprules.RuleID("acme", "deny", netip.MustParsePrefix("192.0.2.77/24"), "admin") {
		t.Error("the id depends on host bits")
	}
	for _, other := range []string{
		iprules.RuleID("beta", "deny", p, "admin"),
		iprules.RuleID("acme", "allow", p, "admin"),
		iprules.RuleID("acme", "deny", p, "import:x"),
		iprules.RuleID("acme", "deny", netip.MustParsePrefix("192.0.2.0/25"), "admin"),
	} {
		if other == a {
			t.Errorf("two rules share the id %s", a)
		}
	}
	var ids []string
	for _, s := range []string{"10.0.0.1/32", "10.0.0.2/32", "10.0.1.0/24", "192.0.2.1/32"} {
		ids = append(ids, iprules.RuleID("", "deny", netip.MustParsePrefix(s), "import:f"))
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids of ascending addresses do not sort: %v", ids)
	}
}

func TestDecodingARunReusesRepeatedStrings(t *testing.T) {
	var stored [][]byte
	for _, s := range []string{"192.0.2.1/32", "192.0.2.2/32", "2001:db8::/64"} {
		r := iprules.Rule{List: "deny", Prefix: netip.MustParsePrefix(s), Source: "import:feed", Reason: "feed"}.WithID()
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b)
	}
	other := iprules.Rule{Tenant: "acme", List: "allow", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: iprules.SourceAdmin}.WithID()
	ob, _ := other.MarshalBinary()
	stored = append(stored, ob)

	var r iprules.Rule
	for i, b := range stored {
		var want iprules.Rule
		if err := want.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := r.UnmarshalBinaryReusing(b, &r); err != nil {
			t.Fatal(err)
		}
		if r != want {
			t.Fatalf("rule %d: %+v, want %+v", i, r, want)
		}
	}
	var prev iprules.Rule
	_ = prev.UnmarshalBinary(stored[0])
	if n := testing.AllocsPerRun(100, func() {
		var r iprules.Rule
		_ = r.UnmarshalBinaryReusing(stored[1], &prev)
	}); n != 1 {
		t.Errorf("decoding the next rule of an import allocates %v times, want 1 (its id)", n)
	}
	var noID iprules.Rule
	if n := testing.AllocsPerRun(100, func() {
		_ = noID.UnmarshalBinaryWithoutID(stored[1], &prev)
	}); n != 0 || noID.ID != "" || noID.WithID().ID != func() string { var r iprules.Rule; _ = r.UnmarshalBinary(stored[1]); return r.ID }() {
		t.Errorf("without the id: %v allocations, rule %+v", n, noID)
	}
}
