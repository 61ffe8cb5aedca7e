package redis

import (
	"context"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
	"github.com/pdp-dev/pdp/server/internal/tenantstore/tenantstoretest"
)

func TestPolicyConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	tenantstoretest.Run(t, func(t *testing.T) tenantstore.Store {
		return openStore(t, srv, Options{}).Policies()
	})
}

func TestPolicyChangesReachOtherReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := openStore(t, srv, Options{})
	b := sameKeys(t, srv, a)
	pa, pb := a.Policies(), b.Policies()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heardB := make(chan string, 4)
	stopB := pb.WatchPolicies(ctx, func(tenant string) { heardB <- tenant })
	defer stopB()
	heardA := make(chan string, 4)
	stopA := pa.WatchPolicies(ctx, func(tenant string) { heardA <- tenant })
	defer stopA()
	// Subscriptions become ready asynchronously; publish until B hears.
	deadline := time.After(10 * time.Second)
	etag := ""
	for i := 0; ; i++ {
		put, err := pa.Put(ctx, tenantstoretest.Policy("acme", 2+i%3), etag)
		if err != nil {
			t.Fatal(err)
		}
		etag = put.GetEtag()
		select {
		case tenant := <-heardB:
			if tenant == "" { // the first subscription's resync
				continue
			}
			if tenant != "acme" {
				t.Fatalf("B heard tenant %q, want acme", tenant)
			}
			got, err := pb.Get(ctx, "acme")
			if err != nil || got.GetEtag() != etag {
				t.Fatalf("B reads %v, %v; want etag %s", got, err, etag)
			}
			for {
				select {
				case tenant := <-heardA:
					if tenant != "" {
						t.Fatalf("A heard its own change for %q", tenant)
					}
				default:
					return
				}
			}
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("B never heard A's change")
		}
	}
}
