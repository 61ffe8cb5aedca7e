package reload_test

import (
	"context"
	"sync"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

// otherReplica is a Watcher whose changes the test announces.
type otherReplica struct {
	mu      sync.Mutex
	changed func(string)
	stopped bool
}

func (r *otherReplica) WatchPolicies(_ context.Context, changed func(string)) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changed = changed
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stopped = true
	}
}

func TestFollowLoadsWhatAnotherReplicaStored(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		stored = map[string]*pdpv1.TenantPolicy{}
		plans  = make(chan any, 4)
	)
	l := reload.New(engine.New(engine.Options{}), reload.Options{
		TenantsDir: demoTenants,
		OnLoad:     func(s reload.Set) { plans <- s.Tenants["acme"].(map[string]any)["plan"] },
		Stored: func(context.Context) (map[string]*pdpv1.TenantPolicy, error) {
			mu.Lock()
			defer mu.Unlock()
			return stored, nil
		},
	})
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-plans
	w := &otherReplica{}
	stop := l.Follow(w)

	mu.Lock()
	stored["acme"] = &pdpv1.TenantPolicy{Tenant: "acme", Plan: "free", Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}}
	mu.Unlock()
	w.changed("acme")
	select {
	case plan := <-plans:
		if plan != "free" {
			t.Fatalf("acme's plan is %v after the other replica stored free", plan)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the set was not loaded again")
	}
	stop()
	if !w.stopped {
		t.Fatal("stop left the watch running")
	}
}

// lister is a tenant policy store holding list.
type lister []*pdpv1.TenantPolicy

func (l lister) List(context.Context) ([]*pdpv1.TenantPolicy, error) { return l, nil }

func TestCurrentIsTheSetLoadedLast(t *testing.T) {
	t.Parallel()
	l := reload.New(engine.New(engine.Options{}), reload.Options{
		TenantsDir: demoTenants,
		Stored: reload.StoredIn(lister{
			{Tenant: "acme", Plan: "free", Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}},
		}),
	})
	if cur := l.Current(); cur.Revision != "" || cur.Tenants != nil {
		t.Fatalf("Current before a load: %+v", cur)
	}
	rev, err := l.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cur := l.Current()
	if cur.Revision != rev || cur.Sources["acme"] != reload.SourceAPI || cur.Policies["acme"].GetPlan() != "free" {
		t.Fatalf("Current after the load %s: revision %s, acme from %s with plan %s",
			rev, cur.Revision, cur.Sources["acme"], cur.Policies["acme"].GetPlan())
	}
}
