package tenantdata

import (
	"regexp"
	"testing"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func TestETag(t *testing.T) {
	t.Parallel()
	a := mustParse(t, "a.yaml", "plan: paid\nenvironments:\n  production: {cache_ttl: 4h, key_isolation: true}\n  staging: {}\n")
	b := mustParse(t, "b.json", `{"environments": {"staging": {}, "production": {"keyIsolation": true, "cacheTtl": "240m"}}, "plan": "paid"}`)
	c := mustParse(t, "c.yaml", "plan: paid\nenvironments:\n  production: {cache_ttl: 4h, key_isolation: false}\n  staging: {}\n")

	ea := ETag(a)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(ea) {
		t.Fatalf("ETag = %q, want 32 hex digits", ea)
	}
	for i := range 20 { // map order must not matter
		if got := ETag(proto.Clone(a).(*pdpv1.TenantPolicy)); got != ea {
			t.Fatalf("run %d: ETag changed from %s to %s", i, ea, got)
		}
	}
	if eb := ETag(b); eb != ea {
		t.Errorf("same content, other spelling and order: %s != %s", eb, ea)
	}
	a.Etag = "something old"
	if got := ETag(a); got != ea {
		t.Errorf("the etag field must not count: %s != %s", got, ea)
	}
	if a.Etag != "something old" {
		t.Error("ETag modified its argument")
	}
	if ETag(c) == ea {
		t.Error("different content, same etag")
	}
	if ETag(nil) != ETag(&pdpv1.TenantPolicy{}) {
		t.Error("ETag(nil) differs from the empty policy")
	}
	if ETag(&pdpv1.TenantPolicy{Tenant: "\xff"}) != "" {
		t.Error("an unencodable policy must give an empty etag")
	}
}
