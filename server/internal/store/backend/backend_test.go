package backend

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

var discard = slog.New(slog.DiscardHandler)

func TestEveryBackendProvidesItsStores(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		spec   config.StoreSpec
		shared bool
	}{
		{config.StoreSpec{Kind: config.StoreMemory}, false},
		{config.StoreSpec{Kind: config.StoreBolt, Path: filepath.Join(t.TempDir(), "pdp.db")}, false},
		{config.StoreSpec{Kind: config.StoreRedis, URL: srv.URL(0)}, true},
	} {
		t.Run(tc.spec.Kind, func(t *testing.T) {
			b, err := Open(tc.spec, discard)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.State == nil || b.Audit == nil || b.Policies == nil || b.IPRules == nil {
				t.Fatalf("a store is missing: %+v", b)
			}
			if shared := b.PolicyChanges != nil && b.RuleChanges != nil; shared != tc.shared {
				t.Fatalf("reports other replicas' changes: %v, want %v", shared, tc.shared)
			}
			if _, err := b.Audit.Append(context.Background(), audit.Entry{Actor: "admin", Action: "sso.set", Tenant: "acme"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenRefusesAnUnknownKind(t *testing.T) {
	if _, err := Open(config.StoreSpec{Kind: "tape"}, discard); err == nil {
		t.Fatal("opened a store of kind tape")
	}
}

func TestRedisReportsTheRulesAnotherReplicaChanges(t *testing.T) {
	url := redistest.Start(t).URL(0)
	a, err := Open(config.StoreSpec{Kind: config.StoreRedis, URL: url}, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(config.StoreSpec{Kind: config.StoreRedis, URL: url}, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scopes := make(chan string, 4)
	if err := b.RuleChanges.WatchRules(ctx, func(scope string) { scopes <- scope }, func() {}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rule := iprules.Rule{Tenant: "acme", List: "deny", Prefix: netip.MustParsePrefix("192.0.2.0/24"),
		Source: iprules.SourceAdmin, CreatedAt: now, CreatedBy: "admin"}
	if _, err := a.IPRules.Add(ctx, rule); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-scopes:
		if s != "acme" {
			t.Fatalf("changed scope %q, want acme", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica's change was not reported")
	}
	// Its own changes are not reported back to it.
	if _, err := b.IPRules.Add(ctx, rule); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-scopes:
		t.Fatalf("its own change reported: %q", s)
	case <-time.After(200 * time.Millisecond):
	}
}
