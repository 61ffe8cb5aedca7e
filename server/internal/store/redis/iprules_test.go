package redis

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/iprules/iprulestest"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

func TestIPRulesConformance(t *testing.T) {
	srv := redistest.Start(t)
	iprulestest.Run(t, func(t *testing.T) iprules.Store {
		s := openStore(t, srv, Options{})
		return s.IPRules(s.Notifier())
	})
}

func TestIPRulesAnnounceChanges(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	other := sameKeys(t, srv, s)
	got := make(chan Change, 8)
	sub := other.Notifier().Subscribe(context.Background(), func(c Change) { got <- c })
	defer sub.Close()
	<-sub.Ready()
	rules := s.IPRules(s.Notifier())
	r, err := rules.Add(context.Background(), iprules.Rule{
		Tenant: "acme", List: "deny", Prefix: netip.MustParsePrefix("192.0.2.1/32"), Source: iprules.SourceAdmin,
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.Kind != KindIPRules || c.Tenant != "acme" {
			t.Fatalf("change %+v", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced")
	}
	v, err := other.IPRules(nil).Version(context.Background(), "acme")
	if err != nil || v != 1 {
		t.Fatalf("version %d, %v; want 1", v, err)
	}
	if _, err := rules.Remove(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if v, _ = rules.Version(context.Background(), "acme"); v != 2 {
		t.Fatalf("version after removal %d, want 2", v)
	}
}

// An import cut short by a crash leaves its staging to expire.
func TestAStagedImportExpires(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	r := s.IPRules(nil)
	ctx := context.Background()
	if _, err := r.Stage(ctx, "crashed", "acme", "deny", "import:feed", iprulestest.FeedRules(100)); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.client.Do(ctx, s.client.B().Pttl().Key(r.stagingKey("acme", "crashed")).Build()).AsInt64()
	if err != nil || ttl <= 0 || ttl > stagingTTL.Milliseconds() {
		t.Fatalf("the staging's PTTL is %d ms (%v), want it to expire within %s", ttl, err, stagingTTL)
	}
}
