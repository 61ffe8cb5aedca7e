package authn_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

// Keys of the tests, one per role.
const (
	adminKey = "pdp_admin-key-for-tests-0000000000000000000000"
	acmeKey  = "pdp_acme-admin-key-for-tests-00000000000000000"
	pepKey   = "pdp_pep-key-for-tests-000000000000000000000000"
	// acmePEPKey is a pep key scoped to tenant acme.
	acmePEPKey = "pdp_acme-pep-key-for-tests-0000000000000000000"
	strangers  = "pdp_not-in-the-file-00000000000000000000000000"
)

// keyFile is a key file holding the test keys.
func keyFile() string {
	return "- name: root\n  key_sha256: " + authn.HashKey(adminKey) + "\n  role: admin\n" +
		"- name: acme-admin\n  key_sha256: " + authn.HashKey(acmeKey) + "\n  role: tenant-admin\n  tenants: [acme, acme-eu]\n" +
		"- name: edge-gateway\n  key_sha256: " + strings.ToUpper(authn.HashKey(pepKey)) + "\n  role: pep\n" +
		"- name: acme-gateway\n  key_sha256: " + authn.HashKey(acmePEPKey) + "\n  role: pep\n  tenants: [acme]\n"
}

func mustKeys(t *testing.T) *authn.KeySet {
	t.Helper()
	set, err := authn.ParseKeys([]byte(keyFile()))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestLookup(t *testing.T) {
	t.Parallel()
	set := mustKeys(t)
	if set.Len() != 4 {
		t.Fatalf("Len = %d", set.Len())
	}
	tests := []struct {
		key  string
		want authn.Entry
		ok   bool
	}{
		{adminKey, authn.Entry{Name: "root", KeySHA256: authn.HashKey(adminKey), Role: authn.RoleAdmin}, true},
		{acmeKey, authn.Entry{Name: "acme-admin", KeySHA256: authn.HashKey(acmeKey), Role: authn.RoleTenantAdmin, Tenants: []string{"acme", "acme-eu"}}, true},
		{pepKey, authn.Entry{Name: "edge-gateway", KeySHA256: authn.HashKey(pepKey), Role: authn.RolePEP}, true},
		{acmePEPKey, authn.Entry{Name: "acme-gateway", KeySHA256: authn.HashKey(acmePEPKey), Role: authn.RolePEP, Tenants: []string{"acme"}}, true},
		{strangers, authn.Entry{}, false},
		{"", authn.Entry{}, false},
		{authn.HashKey(adminKey), authn.Entry{}, false}, // the hash is not the key
	}
	for _, tt := range tests {
		got, ok := set.Lookup(tt.key)
		if ok != tt.ok {
			t.Errorf("Lookup(%.12s...) ok = %v, want %v", tt.key, ok, tt.ok)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Lookup(%.12s...) (-want +got):\n%s", tt.key, diff)
		}
	}
	var nilSet *authn.KeySet
	if _, ok := nilSet.Lookup(adminKey); ok {
		t.Error("a nil KeySet found a key")
	}
}

func TestParseKeysEmpty(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"", "\n", "[]\n"} {
		set, err := authn.ParseKeys([]byte(src))
		if err != nil || set.Len() != 0 {
			t.Errorf("ParseKeys(%q) = %v keys, %v; want none", src, set, err)
		}
	}
}

func TestParseKeysReportsEveryProblem(t *testing.T) {
	t.Parallel()
	h := authn.HashKey(adminKey)
	src := "- name: a\n  key_sha256: " + h + "\n  role: admin\n" +
		"- name: a\n  key_sha256: " + authn.HashKey(pepKey) + "\n  role: pep\n" + // duplicate name
		"- name: b\n  key_sha256: " + h + "\n  role: pep\n" + // duplicate hash
		"- name: c\n  key_sha256: abc\n  role: pep\n" + // short hash
		"- name: d\n  key_sha256: " + authn.HashKey("d") + "\n  role: root\n" + // unknown role
		"- name: e\n  key_sha256: " + authn.HashKey("e") + "\n  role: tenant-admin\n" + // no tenants
		"- name: f\n  key_sha256: " + authn.HashKey("f") + "\n  role: admin\n  tenants: [acme]\n" + // tenants on admin
		"- key_sha256: " + authn.HashKey("g") + "\n  role: pep\n" + // no name
		"- name: h\n  key_sha256: " + authn.HashKey("h") + "\n  role: pep\n  tenants: [acme, \"\"]\n" // empty tenant
	_, err := authn.ParseKeys([]byte(src))
	if err == nil {
		t.Fatal("ParseKeys accepted a broken file")
	}
	for _, want := range []string{
		`key 2 ("a"): name is used by an earlier key`,
		`key 3 ("b"): key_sha256 repeats an earlier key's`,
		`key 4 ("c"): key_sha256 must be 64 hexadecimal digits`,
		`key 5 ("d"): role "root": must be admin, tenant-admin or pep`,
		`key 6 ("e"): a tenant-admin needs at least one tenant`,
		`key 7 ("f"): tenants apply to the tenant-admin and pep roles only`,
		`key 8 (""): name is required`,
		`key 9 ("h"): tenants must not be empty`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), h) {
		t.Errorf("error quotes a hash:\n%v", err)
	}
}

func TestParseKeysRefusesUnknownFieldsAndSyntax(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"- name: a\n  key: " + adminKey + "\n  role: admin\n",
		"name: a\n",
		"- [",
	} {
		if _, err := authn.ParseKeys([]byte(src)); err == nil {
			t.Errorf("ParseKeys(%q) succeeded", src)
		}
	}
	if _, err := authn.ParseKeys([]byte(strings.Repeat("#", authn.MaxKeysFileSize+1))); err == nil {
		t.Error("ParseKeys accepted an oversized file")
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := authn.GenerateKey()
	if a == b {
		t.Fatal("two keys are equal")
	}
	if !strings.HasPrefix(a, authn.KeyPrefix) || len(a) != len(authn.KeyPrefix)+43 || strings.ContainsAny(a, "+/=\n") {
		t.Fatalf("key %q is not pdp_ and 43 base64url characters", a)
	}
	if got := authn.HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashKey(abc) = %s", got)
	}
}
