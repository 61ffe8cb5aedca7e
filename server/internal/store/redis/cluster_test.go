package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/internal/store/storetest"
)

// TestCluster runs the conformance suite and the notifier against a
// one-node Redis Cluster: the client takes the cluster path, and the
// server refuses any multi-key command or script whose keys are not in one
// slot (CROSSSLOT), so this proves the hash tags.
func TestCluster(t *testing.T) {
	t.Parallel()
	srv := redistest.StartWith(t, redistest.Options{Cluster: true})
	ctx := context.Background()
	s, err := Open(ctx, srv.URL(0)+"?prefix=cl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !s.Cluster() {
		t.Fatal("the client did not detect the cluster")
	}
	if _, err := Open(ctx, srv.URL(1), Options{}); err == nil || !strings.Contains(err.Error(), "database 0") {
		t.Errorf("Open of database 1 of a cluster: %v, want an error saying a cluster has database 0 only", err)
	}

	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s, err := Open(ctx, fmt.Sprintf("%s?prefix=c%d", srv.URL(0), prefixes.Add(1)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})

	t.Run("ErasureAcrossRecords", func(t *testing.T) {
		mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0, ipA))
		mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0, ipB))
		if found, err := s.DeleteUser(ctx, "acme", "u1"); err != nil || !found {
			t.Fatalf("DeleteUser = %v, %v", found, err)
		}
	})

	t.Run("Notifier", func(t *testing.T) {
		other, err := Open(ctx, srv.URL(0)+"?prefix=cl", Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Close() })
		ch, _ := collect(t, other.Notifier())
		if err := s.Notifier().Publish(ctx, Change{Kind: KindIPRules, Tenant: "acme", At: t0}); err != nil {
			t.Fatal(err)
		}
		if c := next(t, ch); c.Kind != KindIPRules || c.Tenant != "acme" {
			t.Errorf("got %+v", c)
		}
	})

	var v store.View
	if err := s.Read(ctx, store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: t0.Add(time.Second)}, &v); err != nil {
		t.Fatal(err)
	}
	if v.HasProfile || v.IPFailedLogins != 0 {
		t.Errorf("after erasure on the cluster: %+v", v)
	}
}
