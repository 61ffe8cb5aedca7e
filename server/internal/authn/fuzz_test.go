package authn

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	yaml "go.yaml.in/yaml/v3"
)

// fuzzKeys are keys whose hashes the seeds hold.
var fuzzKeys = []string{"pdp_fuzz-admin-key", "pdp_fuzz-pep-key", "pdp_fuzz-tenant-admin-key"}

// hashValues reads data as YAML and returns the key_sha256 values that
// look like hashes (32 hex digits or more: shorter text may be part of the
// messages themselves) and that no other string of the document, a name,
// role or tenant, which errors may quote, contains.
func hashValues(data []byte) []string {
	var doc any
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var hashes, others []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "key_sha256" {
					if s = strings.TrimSpace(s); len(s) >= 32 && strings.Trim(s, "0123456789abcdefABCDEF") == "" {
						hashes = append(hashes, s)
					}
					continue
				}
				others = append(others, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			others = append(others, x)
		}
	}
	walk(doc)
	return slices.DeleteFunc(hashes, func(h string) bool {
		return slices.ContainsFunc(others, func(o string) bool { return strings.Contains(o, h) })
	})
}

// FuzzParseKeys feeds key files to ParseKeys. It must never panic; a
// refusal must not quote a key's hash; an accepted file holds only
// complete, unique entries, finds exactly its own keys, and reads back the
// same after being written out again.
func FuzzParseKeys(f *testing.F) {
	h := func(i int) string { return HashKey(fuzzKeys[i]) }
	for _, s := range []string{
		"- name: root\n  key_sha256: " + h(0) + "\n  role: admin\n- name: gw\n  key_sha256: " + h(1) + "\n  role: pep\n",
		"- name: acme-admins\n  key_sha256: " + strings.ToUpper(h(2)) + "\n  role: tenant-admin\n  tenants: [acme, globex]\n",
		`[{"name": "gw", "key_sha256": "` + h(1) + `", "role": "pep"}]`,
		"- name: gw\n  key_sha256: " + h(1) + "\n  role: pep\n- name: gw\n  key_sha256: " + h(1) + "\n  role: superuser\n",
		"- name: x\n  key_sha256: " + h(0)[:63] + "\n  role: tenant-admin\n  tenants: ['']\n",
		"- name: x\n  key_sha256: " + h(0) + "\n  role: pep\n  tenants: [a]\n  extra: 1\n",
		"- name: edge\n  key_sha256: " + h(1) + "\n  role: pep\n  tenants: [acme]\n- name: all\n  key_sha256: " + h(0) + "\n  role: admin\n  tenants: [acme]\n",
		"- name: x\n  key_sha256: [" + h(0) + "]\n  role: pep\n",
		"- &a {name: x, key_sha256: " + h(0) + ", role: admin}\n- *a\n",
		"name: not a list\n",
		"",
		"[]",
		"- ~\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseKeys(data)
		if err != nil {
			for _, hash := range hashValues(data) {
				if strings.Contains(err.Error(), hash) {
					t.Fatalf("the refusal quotes a key hash: %v", err)
				}
			}
			return
		}
		checkKeySet(t, set)
		out, err := yaml.Marshal(set.entries)
		if err != nil {
			t.Fatalf("writing the accepted keys: %v", err)
		}
		again, err := ParseKeys(out)
		if err != nil {
			t.Fatalf("the keys written out do not parse:\n%s\n%v", out, err)
		}
		if d := cmp.Diff(set.entries, again.entries, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("keys changed on a round trip (-first +again):\n%s", d)
		}
	})
}

// checkKeySet holds an accepted set to ParseKeys' rules.
func checkKeySet(t *testing.T, set *KeySet) {
	t.Helper()
	names := map[string]bool{}
	hashes := map[string]bool{}
	for i, e := range set.entries {
		raw, err := hex.DecodeString(e.KeySHA256)
		switch {
		case e.Name == "" || names[e.Name]:
			t.Fatalf("entry %d: empty or repeated name %q", i, e.Name)
		case err != nil || len(raw) != 32 || strings.ToLower(e.KeySHA256) != e.KeySHA256 || hashes[e.KeySHA256]:
			t.Fatalf("entry %d: hash %q is not 64 lowercase hex digits of its own", i, e.KeySHA256)
		case !slices.Contains(Roles, e.Role):
			t.Fatalf("entry %d: role %q", i, e.Role)
		case e.Role == RoleAdmin && len(e.Tenants) > 0, e.Role == RoleTenantAdmin && len(e.Tenants) == 0, slices.Contains(e.Tenants, ""):
			t.Fatalf("entry %d: role %s with tenants %q", i, e.Role, e.Tenants)
		case hex.EncodeToString(set.hashes[i][:]) != e.KeySHA256:
			t.Fatalf("entry %d: compared hash differs from %s", i, e.KeySHA256)
		}
		names[e.Name], hashes[e.KeySHA256] = true, true
	}
	for _, k := range fuzzKeys {
		e, ok := set.Lookup(k)
		if ok != hashes[HashKey(k)] || ok && e.KeySHA256 != HashKey(k) {
			t.Fatalf("Lookup(%s) = %+v, %v; the file holds its hash: %v", k, e, ok, hashes[HashKey(k)])
		}
	}
}
