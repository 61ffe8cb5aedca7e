package ipset

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

func tenantsDoc() map[string]any {
	return map[string]any{
		"acme": map[string]any{
			"plan": "enterprise",
			"environments": map[string]any{
				"production": map[string]any{
					"ip_allowlist": []any{"203.0.113.0/24", "2001:db8::/32"},
					"ip_denylist":  []any{"198.51.100.7"},
				},
				"staging": map[string]any{
					"ip_allowlist": []string{"10.0.0.0/8"},
					"ip_denylist":  []any{},
				},
			},
		},
		"globex": map[string]any{
			"environments": map[string]any{"production": map[string]any{}},
		},
	}
}

func TestTenantPolicyEntries(t *testing.T) {
	t.Parallel()
	got, err := TenantPolicyEntries(tenantsDoc())
	if err != nil {
		t.Fatal(err)
	}
	staging := Scope{Tenant: "acme", Environment: "staging"}
	want := []Entry{
		{Scope: prod, List: Allow, Prefix: pfx("203.0.113.0/24"), Source: SourceTenantPolicy},
		{Scope: prod, List: Allow, Prefix: pfx("2001:db8::/32"), Source: SourceTenantPolicy},
		{Scope: prod, List: Deny, Prefix: pfx("198.51.100.7/32"), Source: SourceTenantPolicy},
		{Scope: staging, List: Allow, Prefix: pfx("10.0.0.0/8"), Source: SourceTenantPolicy},
	}
	if d := cmp.Diff(want, got, cmpNet); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
}

func TestTenantPolicyEntriesNamesBadCIDRs(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_denylist": []any{"192.0.2.0/24", "192.0.2.0/33", 42}},
	}}}
	got, err := TenantPolicyEntries(doc)
	var f *fault.Error
	if !errors.As(err, &f) || f.Code != fault.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
	var fields []string
	for _, v := range f.Fields {
		fields = append(fields, v.Field)
	}
	wantFields := []string{
		"tenants.acme.environments.production.ip_denylist[1]",
		"tenants.acme.environments.production.ip_denylist[2]",
	}
	if d := cmp.Diff(wantFields, fields); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if len(got) != 1 {
		t.Errorf("%d valid entries, want 1", len(got))
	}
	if _, err := FromTenantPolicies(doc); err == nil {
		t.Error("FromTenantPolicies accepted a bad CIDR")
	}
}

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"203.0.113.9/24", "203.0.113.0/24", true},
		{" 203.0.113.9 ", "203.0.113.9/32", true},
		{"2001:db8::1", "2001:db8::1/128", true},
		{"::ffff:203.0.113.0/120", "203.0.113.0/24", true},
		{"::ffff:203.0.113.7", "203.0.113.7/32", true},
		{"::ffff:0.0.0.0/64", "", false},
		{"fe80::1%eth0", "", false},
		{"example.com", "", false},
		{"10.0.0.0/33", "", false},
	}
	for _, tc := range tests {
		got, err := ParsePrefix(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParsePrefix(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got.String() != tc.want {
			t.Errorf("ParsePrefix(%q) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSetTenantPolicies(t *testing.T) {
	t.Parallel()
	set := NewSet(nil)
	if err := set.SetTenantPolicies(tenantsDoc()); err != nil {
		t.Fatal(err)
	}
	err := set.Update(func(b *Builder) error {
		return b.Add(Entry{Scope: prod, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: AdminRuleSource("r-1")})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !set.Lookup("acme", "production", addr("203.0.113.5"), now).Allow.Found() {
		t.Fatal("the policy allow list is not loaded")
	}

	// The new policy drops production's lists and staging altogether.
	doc := map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_allowlist": []any{"198.51.100.0/24"}},
	}}}
	if err := set.SetTenantPolicies(doc); err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Scope: prod, List: Allow, Prefix: pfx("198.51.100.0/24"), Source: SourceTenantPolicy},
		{Scope: prod, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: "admin rule r-1"},
	}
	if d := cmp.Diff(want, entries(set.Load()), cmpNet); d != "" {
		t.Errorf("entries after the new policy (-want +got):\n%s", d)
	}

	bad := map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_allowlist": []any{"nonsense"}},
	}}}
	if err := set.SetTenantPolicies(bad); err == nil {
		t.Fatal("a bad CIDR was accepted")
	}
	if d := cmp.Diff(want, entries(set.Load()), cmpNet); d != "" {
		t.Errorf("a refused policy changed the set (-want +got):\n%s", d)
	}
	if ImportSource("firehol") != "import:firehol" {
		t.Errorf("ImportSource = %q", ImportSource("firehol"))
	}
}

func TestSetTenantPoliciesOfChangesOnlyTheTenantsNamed(t *testing.T) {
	t.Parallel()
	set := NewSet(nil)
	if err := set.SetTenantPolicies(tenantsDoc()); err != nil {
		t.Fatal(err)
	}
	rule := Entry{Scope: prod, List: Deny, Prefix: pfx("192.0.2.0/24"), Source: AdminRuleSource("r-1")}
	if err := set.Update(func(b *Builder) error { return b.Add(rule) }); err != nil {
		t.Fatal(err)
	}

	// acme drops staging and changes production; globex gets a list;
	// initech comes.
	doc := tenantsDoc()
	doc["acme"] = map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_allowlist": []any{"198.51.100.0/24"}},
	}}
	doc["globex"] = map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_denylist": []any{"203.0.113.9"}},
	}}
	doc["initech"] = map[string]any{"environments": map[string]any{
		"development": map[string]any{"ip_allowlist": []any{"10.1.0.0/16"}},
	}}
	changed := map[string]bool{"acme": true, "globex": true, "initech": true}
	if err := set.SetTenantPoliciesOf(doc, changed); err != nil {
		t.Fatal(err)
	}
	whole := NewSet(nil)
	if err := whole.SetTenantPolicies(doc); err != nil {
		t.Fatal(err)
	}
	if err := whole.Update(func(b *Builder) error { return b.Add(rule) }); err != nil {
		t.Fatal(err)
	}
	want := entries(whole.Load())
	if d := cmp.Diff(want, entries(set.Load()), cmpNet); d != "" {
		t.Errorf("entries (-whole +of the changed tenants):\n%s", d)
	}

	// A tenant removed loses its lists; a tenant not named keeps its own,
	// even one the document no longer agrees with.
	delete(doc, "initech")
	doc["globex"] = map[string]any{}
	if err := set.SetTenantPoliciesOf(doc, map[string]bool{"initech": true}); err != nil {
		t.Fatal(err)
	}
	got := entries(set.Load())
	if slices.ContainsFunc(got, func(e Entry) bool { return e.Scope.Tenant == "initech" }) {
		t.Errorf("initech, removed, still has entries: %v", got)
	}
	if !slices.ContainsFunc(got, func(e Entry) bool { return e.Scope.Tenant == "globex" }) {
		t.Errorf("globex, not named, lost its entries: %v", got)
	}

	bad := map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"ip_allowlist": []any{"nonsense"}},
	}}}
	before := entries(set.Load())
	if err := set.SetTenantPoliciesOf(bad, map[string]bool{"acme": true}); err == nil {
		t.Fatal("a bad CIDR was accepted")
	}
	if d := cmp.Diff(before, entries(set.Load()), cmpNet); d != "" {
		t.Errorf("a refused policy changed the set (-want +got):\n%s", d)
	}
}
