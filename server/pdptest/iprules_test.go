package pdptest_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// Rules stored in the bolt file are enforced from the start.
func TestStoredIPRulesAreLoadedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pdp.db")
	st, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.IPRules().Add(context.Background(), iprules.Rule{
		Tenant: "so-e2e", List: "deny", Prefix: netip.MustParsePrefix("203.0.113.0/24"), Source: iprules.SourceAdmin, Reason: "stored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv := pdptest.Start(t, pdptest.WithStore("bolt:"+path), pdptest.WithTenant("so-e2e.yaml", soTenant))
	if r := soCheck(t, srv, "so-carol", "203.0.113.9"); !slices.Contains(irCodes(r), "network.ip_denied") {
		t.Fatalf("stored rule not enforced: %v %v", r.GetDecision(), irCodes(r))
	}
}
