package tenantdata

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
)

// FuzzParse checks that Parse never panics, whatever the bytes, and that a
// policy Parse and Validate accept survives a protojson round trip through
// Parse unchanged, with the same etag, and expands without panicking.
func FuzzParse(f *testing.F) {
	for _, path := range []string{examplePath, "testdata/acme-camel.json"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(path), data)
	}
	for _, seed := range []struct{ name, src string }{
		{"a.yaml", "plan: free\nenvironments: {production: {}}\n"},
		{"a.yaml", "tenant: a\nplan: Enterprise\nenvironments:\n  production:\n    inactivity_timeout: 1h30m\n    mfa: {mode: off, max_age: 90m}\n    countries: {allowed: [NO]}\n"},
		{"a.json", `{"tenant":"a","plan":"paid","environments":{"staging":{"keyIsolation":false,"cacheTtl":"14400s"}}}`},
		{"a.yaml", "plan: [paid\n"},
		{"a.yaml", "- a\n- b\n"},
		{"a.yaml", "a: &x [*x]\n"},
		{"a.yaml", "plan: paid\n---\nplan: free\n"},
		{"a.json", `{"plan":"paid","plan":"free"}`},
		{"a.json", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"},
		{"", "environments:\n  production:\n    role_inactivity_timeouts: {admin: 99999999999h}\n"},
		{"", "environments: {production: {mfa: {enforced_from: 9999-12-31T23:59:59-01:00}}}"},
		{"", ""},
	} {
		f.Add(seed.name, []byte(seed.src))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		p, err := Parse(name, data)
		if err != nil {
			return
		}
		_ = CheckPlan(p)
		if p.Tenant == "" {
			p.Tenant = "fuzz"
		}
		if Validate(p) != nil {
			return
		}
		js, err := protojson.Marshal(p)
		if err != nil {
			t.Fatalf("marshal of a valid policy: %v", err)
		}
		again, err := Parse("roundtrip.json", js)
		if err != nil {
			t.Fatalf("parse of %s: %v", js, err)
		}
		if diff := cmp.Diff(p, again, protocmp.Transform()); diff != "" {
			t.Fatalf("round trip changed the policy (-before +after):\n%s", diff)
		}
		if ETag(p) != ETag(again) {
			t.Fatal("round trip changed the etag")
		}
		if err := Validate(again); err != nil {
			t.Fatalf("round trip made the policy invalid: %v", err)
		}
		_ = Effective(p)
	})
}
