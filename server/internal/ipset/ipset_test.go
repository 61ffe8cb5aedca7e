package ipset

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

var cmpNet = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	global = Scope{}
	acme   = Scope{Tenant: "acme"}
	prod   = Scope{Tenant: "acme", Environment: "production"}
)

func build(t testing.TB, entries ...Entry) *Snapshot {
	t.Helper()
	b := NewBuilder()
	for _, e := range entries {
		if err := b.Add(e); err != nil {
			t.Fatalf("Add(%+v): %v", e, err)
		}
	}
	return b.Snapshot()
}

func TestLookup(t *testing.T) {
	t.Parallel()
	s := build(t,
		Entry{Scope: global, List: Deny, Prefix: pfx("203.0.113.0/24"), Source: "import:firehol"},
		Entry{Scope: acme, List: Deny, Prefix: pfx("203.0.113.128/25"), Source: "admin rule r-2"},
		Entry{Scope: acme, List: Deny, Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1"},
		Entry{Scope: prod, List: Allow, Prefix: pfx("10.0.0.0/8"), Source: SourceTenantPolicy},
		Entry{Scope: prod, List: Allow, Prefix: pfx("2001:db8:a::/48"), Source: SourceTenantPolicy},
		Entry{Scope: global, List: Suspicious, Prefix: pfx("2001:db8::/32"), Source: "import:spamhaus"},
		Entry{Scope: global, List: Suspicious, Prefix: pfx("192.0.2.0/24"), Source: "import:spamhaus"},
		Entry{Scope: prod, List: Suspicious, Prefix: pfx("192.0.2.0/24"), Source: "admin rule r-3"},
	)
	tests := []struct {
		name, tenant, env, ip string
		want                  Result
	}{
		{"environment allow list", "acme", "production", "10.1.2.3",
			Result{Allow: Match{Prefix: pfx("10.0.0.0/8"), Source: SourceTenantPolicy, Scope: prod}}},
		{"other environment", "acme", "staging", "10.1.2.3", Result{}},
		{"tenant deny list", "acme", "staging", "198.51.100.9",
			Result{Deny: Match{Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1", Scope: acme}}},
		{"other tenant", "globex", "production", "198.51.100.9", Result{}},
		{"global deny list", "globex", "production", "203.0.113.5",
			Result{Deny: Match{Prefix: pfx("203.0.113.0/24"), Source: "import:firehol", Scope: global}}},
		{"no tenant sees global lists", "", "", "203.0.113.5",
			Result{Deny: Match{Prefix: pfx("203.0.113.0/24"), Source: "import:firehol", Scope: global}}},
		{"longest prefix across scopes", "acme", "production", "203.0.113.200",
			Result{Deny: Match{Prefix: pfx("203.0.113.128/25"), Source: "admin rule r-2", Scope: acme}}},
		{"shorter prefix of wider scope", "acme", "production", "203.0.113.5",
			Result{Deny: Match{Prefix: pfx("203.0.113.0/24"), Source: "import:firehol", Scope: global}}},
		{"equal prefix: narrowest scope", "acme", "production", "192.0.2.7",
			Result{Suspicious: Match{Prefix: pfx("192.0.2.0/24"), Source: "admin rule r-3", Scope: prod}}},
		{"ipv6 on two lists", "acme", "production", "2001:db8:a::1",
			Result{
				Allow:      Match{Prefix: pfx("2001:db8:a::/48"), Source: SourceTenantPolicy, Scope: prod},
				Suspicious: Match{Prefix: pfx("2001:db8::/32"), Source: "import:spamhaus", Scope: global},
			}},
		{"ipv4-mapped ipv6", "globex", "", "::ffff:203.0.113.5",
			Result{Deny: Match{Prefix: pfx("203.0.113.0/24"), Source: "import:firehol", Scope: global}}},
		{"zoned ipv6", "globex", "", "2001:db8::1%eth0",
			Result{Suspicious: Match{Prefix: pfx("2001:db8::/32"), Source: "import:spamhaus", Scope: global}}},
		{"unlisted", "acme", "production", "8.8.8.8", Result{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := s.Lookup(tc.tenant, tc.env, addr(tc.ip), now)
			if d := cmp.Diff(tc.want, got, cmpNet); d != "" {
				t.Errorf("Lookup(%s, %s, %s) mismatch (-want +got):\n%s", tc.tenant, tc.env, tc.ip, d)
			}
		})
	}
	if got := s.Lookup("acme", "production", netip.Addr{}, now); got != (Result{}) {
		t.Errorf("an invalid address matched: %+v", got)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	exp := now.Add(time.Hour)
	s := build(t,
		Entry{Scope: acme, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: SourceAutoBlock, ExpiresAt: exp},
		Entry{Scope: acme, List: Deny, Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1"},
		Entry{Scope: acme, List: Deny, Prefix: pfx("192.0.2.1/32"), Source: SourceAutoBlock, ExpiresAt: exp},
		Entry{Scope: acme, List: Deny, Prefix: pfx("192.0.2.1/32"), Source: "admin rule r-9"},
		Entry{Scope: acme, List: Suspicious, Prefix: pfx("2001:db8::/64"), Source: "import:x", ExpiresAt: exp},
	)
	tests := []struct {
		name string
		ip   string
		at   time.Time
		want Match
	}{
		{"live auto-block", "198.51.100.7", exp.Add(-time.Nanosecond),
			Match{Prefix: pfx("198.51.100.7/32"), Source: SourceAutoBlock, Scope: acme, ExpiresAt: exp}},
		{"expired auto-block falls back to the covering rule", "198.51.100.7", exp,
			Match{Prefix: pfx("198.51.100.0/24"), Source: "admin rule r-1", Scope: acme}},
		{"first live source of a prefix", "192.0.2.1", now,
			Match{Prefix: pfx("192.0.2.1/32"), Source: SourceAutoBlock, Scope: acme, ExpiresAt: exp}},
		{"expired source of a prefix, the other stays", "192.0.2.1", exp,
			Match{Prefix: pfx("192.0.2.1/32"), Source: "admin rule r-9", Scope: acme}},
	}
	for _, tc := range tests {
		got := s.Lookup("acme", "production", addr(tc.ip), tc.at)
		if d := cmp.Diff(tc.want, got.Deny, cmpNet); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	if m := s.Lookup("acme", "", addr("2001:db8::5"), exp); m.Suspicious.Found() {
		t.Errorf("an expired entry without a fallback matched: %+v", m.Suspicious)
	}

	b := s.Edit()
	b.Prune(exp)
	pruned := b.Snapshot()
	if pruned.Len() != 2 {
		t.Errorf("after Prune: %d prefixes, want 2", pruned.Len())
	}
	for e := range pruned.All() {
		if !e.ExpiresAt.IsZero() {
			t.Errorf("Prune kept %+v", e)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Prune changed the old snapshot: %d prefixes", s.Len())
	}
}

func TestDescription(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    Match
		want string
	}{
		{Match{}, ""},
		{Match{Prefix: pfx("203.0.113.0/24"), Source: "admin rule r-123"}, "203.0.113.0/24 (admin rule r-123)"},
		{Match{Prefix: pfx("2001:db8::/32")}, "2001:db8::/32"},
	}
	for _, tc := range tests {
		if got := tc.m.Description(); got != tc.want {
			t.Errorf("Description() = %q, want %q", got, tc.want)
		}
	}
}

func TestAddValidates(t *testing.T) {
	t.Parallel()
	b := NewBuilder()
	err := b.Add(Entry{Scope: Scope{Environment: "production"}, List: 7, Source: ""})
	var f *fault.Error
	if !errors.As(err, &f) || f.Code != fault.InvalidArgument {
		t.Fatalf("Add = %v, want InvalidArgument", err)
	}
	var fields []string
	for _, v := range f.Fields {
		fields = append(fields, v.Field)
	}
	if d := cmp.Diff([]string{"cidr", "list", "source", "tenant"}, fields); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if b.Snapshot().Len() != 0 {
		t.Error("an invalid entry was added")
	}
}

func TestLists(t *testing.T) {
	t.Parallel()
	for _, l := range []List{Allow, Deny, Suspicious} {
		got, ok := ParseList(l.String())
		if !ok || got != l {
			t.Errorf("ParseList(%q) = %v, %v", l.String(), got, ok)
		}
	}
	if _, ok := ParseList("block"); ok {
		t.Error(`ParseList("block") succeeded`)
	}
	for scope, want := range map[Scope]string{global: "global", acme: "acme", prod: "acme/production"} {
		if got := scope.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", scope, got, want)
		}
	}
}
