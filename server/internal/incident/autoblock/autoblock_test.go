package autoblock

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestBlockerPersistsAutoBlocks(t *testing.T) {
	ctx := context.Background()
	st := memory.NewIPRules()
	b := New(iprules.NewApplier(ipset.NewSet(nil), st))
	ip := addr("::ffff:203.0.113.5")
	for _, ttl := range []time.Duration{time.Hour, 2 * time.Hour} {
		if err := b.Block(ctx, incident.Block{Tenant: "acme", Addr: ip, At: t0, ExpiresAt: t0.Add(ttl), Reason: "incident.suspicious_ip"}); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := st.All(ctx)
	if len(all) != 1 || all[0].Source != iprules.SourceAutoBlock || all[0].List != "deny" ||
		all[0].Prefix.String() != "203.0.113.5/32" || !all[0].ExpiresAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("stored %+v", all)
	}
	if !b.Blocked("acme", addr("203.0.113.5"), t0.Add(90*time.Minute)) {
		t.Fatal("the re-block did not extend the expiry")
	}
	if b.Blocked("acme", addr("203.0.113.5"), t0.Add(2*time.Hour)) || b.Blocked("beta", addr("203.0.113.5"), t0) {
		t.Fatal("blocked after the expiry or for another tenant")
	}

	// A new replica (or a restart) loads the block from the store.
	set := ipset.NewSet(nil)
	fresh := iprules.NewApplier(set, st)
	if _, err := fresh.Load(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if !New(fresh).Blocked("acme", addr("203.0.113.5"), t0) {
		t.Fatal("the block did not survive a reload")
	}
	fresh.Prune(t0.Add(3 * time.Hour))
	if set.Load().Len() != 0 {
		t.Fatalf("prune left %d entries", set.Load().Len())
	}
}
