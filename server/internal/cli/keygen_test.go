package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

func TestKeygenPrintsAKeyAndItsEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want authn.Entry
	}{
		{[]string{"keygen", "edge-gateway", "pep"}, authn.Entry{Name: "edge-gateway", Role: authn.RolePEP}},
		{[]string{"keygen", "root", "admin"}, authn.Entry{Name: "root", Role: authn.RoleAdmin}},
		{[]string{"keygen", "acme-gateway", "pep", "--tenants", "acme,acme-eu"},
			authn.Entry{Name: "acme-gateway", Role: authn.RolePEP, Tenants: []string{"acme", "acme-eu"}}},
		{[]string{"keygen", "acme admins", "tenant-admin", "--tenants", "acme, acme-eu"},
			authn.Entry{Name: "acme admins", Role: authn.RoleTenantAdmin, Tenants: []string{"acme", "acme-eu"}}},
		{[]string{"keygen", "--tenants=acme", "a: tricky # name", "tenant-admin"},
			authn.Entry{Name: "a: tricky # name", Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}}},
	}
	for _, tt := range tests {
		r := runPDP(t, nil, tt.args...)
		if r.code != ExitOK {
			t.Fatalf("%v: exit %d: %s", tt.args, r.code, r.stderr)
		}
		key, entry, _ := strings.Cut(r.stdout, "\n")
		if !strings.HasPrefix(key, authn.KeyPrefix) {
			t.Fatalf("%v: first line %q is not a key", tt.args, key)
		}
		set, err := authn.ParseKeys([]byte(entry))
		if err != nil {
			t.Fatalf("%v: the printed entry does not load: %v\n%s", tt.args, err, entry)
		}
		got, ok := set.Lookup(key)
		if !ok {
			t.Fatalf("%v: the printed key does not match its entry", tt.args)
		}
		tt.want.KeySHA256 = authn.HashKey(key)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v: entry (-want +got):\n%s", tt.args, diff)
		}
	}
	a, b := runPDP(t, nil, "keygen", "x", "pep"), runPDP(t, nil, "keygen", "x", "pep")
	if a.stdout == b.stdout {
		t.Fatal("two runs printed the same key")
	}
}

func TestKeygenRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen"}, "usage: pdp keygen NAME ROLE"},
		{[]string{"keygen", "x"}, "usage: pdp keygen NAME ROLE"},
		{[]string{"keygen", "x", "pep", "extra"}, "usage: pdp keygen NAME ROLE"},
		{[]string{"keygen", "x", "root"}, `ROLE: role "root": must be admin, tenant-admin or pep`},
		{[]string{"keygen", "x", "tenant-admin"}, "a tenant-admin key needs --tenants"},
		{[]string{"keygen", "x", "admin", "--tenants", "acme"}, "--tenants applies to tenant-admin and pep keys only, not admin"},
		{[]string{"keygen", "", "pep"}, "NAME"},
		{[]string{"keygen", "a\nb", "pep"}, "NAME"},
	} {
		r := runPDP(t, nil, tt.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want usage error with %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

func TestKeygenTransmitterNeedsStreamsAndItsEntryLoads(t *testing.T) {
	t.Parallel()
	r := runPDP(t, nil, "keygen", "okta", "transmitter", "--streams", "okta,okta-eu")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	key, entry, _ := strings.Cut(r.stdout, "\n")
	set, err := authn.ParseKeys([]byte(entry))
	if err != nil {
		t.Fatalf("the printed entry does not load: %v\n%s", err, entry)
	}
	if got, ok := set.Lookup(key); !ok || got.Role != authn.RoleTransmitter || len(got.Streams) != 2 {
		t.Fatalf("entry %+v, want a transmitter of two streams", got)
	}
	for _, args := range [][]string{{"keygen", "okta", "transmitter"}, {"keygen", "gw", "pep", "--streams", "okta"}} {
		if r := runPDP(t, nil, args...); r.code != ExitUsage {
			t.Errorf("%v: exit %d, want usage: %s", args, r.code, r.stderr)
		}
	}
}
