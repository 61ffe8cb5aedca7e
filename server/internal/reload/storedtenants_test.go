package reload_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// countedStore is a real policy store that counts what the loader reads
// of it, and can fail the next Get.
type countedStore struct {
	*memory.Policies
	lists, gets atomic.Int32
	failGet     atomic.Bool
}

func (s *countedStore) List(ctx context.Context) ([]*pdpv1.TenantPolicy, error) {
	s.lists.Add(1)
	return s.Policies.List(ctx)
}

func (s *countedStore) Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error) {
	s.gets.Add(1)
	if s.failGet.Swap(false) {
		return nil, errors.New("store down")
	}
	return s.Policies.Get(ctx, tenant)
}

// put stores a policy of tenant with plan over whatever is stored.
func (s *countedStore) put(t *testing.T, tenant, plan string) {
	t.Helper()
	etag := ""
	if p, err := s.Policies.Get(context.Background(), tenant); err == nil {
		etag = p.GetEtag()
	}
	p := &pdpv1.TenantPolicy{Tenant: tenant, Plan: plan, Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}}
	if _, err := s.Put(context.Background(), p, etag); err != nil {
		t.Fatal(err)
	}
}

// storedLoader loads the demo tenant files and st's stored policies.
func storedLoader(st *countedStore, onLoad func(reload.Set)) *reload.Loader {
	return reload.New(engine.New(engine.Options{}), reload.Options{
		TenantsDir:   demoTenants,
		OnLoad:       onLoad,
		Stored:       reload.StoredIn(st),
		StoredTenant: reload.StoredTenantIn(st),
	})
}

// wholeLoad is the data.tenants document a fresh loader reads from st.
func wholeLoad(t *testing.T, st *countedStore) map[string]any {
	t.Helper()
	var set reload.Set
	if _, err := storedLoader(st, func(s reload.Set) { set = s }).Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return set.Tenants
}

func TestAStoredChangeOfOneTenantReadsThatTenantAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countedStore{Policies: memory.NewPolicies()}
	for _, tenant := range []string{"acme", "hooli", "umbrella"} {
		st.put(t, tenant, "free")
	}
	var set reload.Set
	l := storedLoader(st, func(s reload.Set) { set = s })
	if _, err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	st.put(t, "hooli", "enterprise")
	st.put(t, "initech", "paid") // a tenant of the files, stored from now on
	lists, gets := st.lists.Load(), st.gets.Load()
	if _, err := l.LoadStoredTenants(ctx, "hooli", "initech"); err != nil {
		t.Fatal(err)
	}
	if n := st.lists.Load() - lists; n != 0 {
		t.Errorf("the store was listed %d times for two tenants' changes", n)
	}
	if n := st.gets.Load() - gets; n != 2 {
		t.Errorf("%d tenants read, want the 2 that changed", n)
	}
	if set.Sources["initech"] != reload.SourceAPI || set.Sources["acme"] != reload.SourceAPI || set.Sources["globex"] != reload.SourceFile {
		t.Errorf("sources %v", set.Sources)
	}
	if !reflect.DeepEqual(set.Tenants, wholeLoad(t, st)) {
		t.Error("the set differs from the one a whole load gives")
	}
	if plan := set.Tenants["hooli"].(map[string]any)["plan"]; plan != "enterprise" {
		t.Errorf("hooli's plan %v, want the stored enterprise", plan)
	}
}

func TestAfterAFailedLoadTheNextReadsEveryStoredPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countedStore{Policies: memory.NewPolicies()}
	st.put(t, "hooli", "free")
	var set reload.Set
	l := storedLoader(st, func(s reload.Set) { set = s })
	if _, err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// hooli's change is stored, its load fails: the set keeps the old one.
	st.put(t, "hooli", "enterprise")
	st.failGet.Store(true)
	if _, err := l.LoadStoredTenants(ctx, "hooli"); err == nil {
		t.Fatal("a load served without reading the changed tenant")
	}
	// The next change, of another tenant, serves hooli's too.
	st.put(t, "umbrella", "paid")
	lists := st.lists.Load()
	if _, err := l.LoadStoredTenants(ctx, "umbrella"); err != nil {
		t.Fatal(err)
	}
	if st.lists.Load() == lists {
		t.Error("the load after a failed one did not read every stored policy")
	}
	if plan := set.Tenants["hooli"].(map[string]any)["plan"]; plan != "enterprise" {
		t.Errorf("hooli's plan %v: its change was lost with the failed load", plan)
	}
	if !reflect.DeepEqual(set.Tenants, wholeLoad(t, st)) {
		t.Error("the set differs from the one a whole load gives")
	}
}

func TestFollowReadsTheNamedTenantsAndEverythingWhenChangesWereMissed(t *testing.T) {
	t.Parallel()
	st := &countedStore{Policies: memory.NewPolicies()}
	st.put(t, "hooli", "free")
	sets := make(chan reload.Set, 4)
	l := storedLoader(st, func(s reload.Set) { sets <- s })
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-sets
	w := &otherReplica{}
	stop := l.Follow(w)
	defer stop()
	next := func() reload.Set {
		t.Helper()
		select {
		case s := <-sets:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no load followed the change")
			return reload.Set{}
		}
	}
	st.put(t, "hooli", "enterprise")
	lists := st.lists.Load()
	w.changed("hooli")
	if s := next(); s.Tenants["hooli"].(map[string]any)["plan"] != "enterprise" || st.lists.Load() != lists {
		t.Errorf("hooli's change: plan %v, store listed %d times", s.Tenants["hooli"].(map[string]any)["plan"], st.lists.Load()-lists)
	}
	st.put(t, "umbrella", "paid")
	w.changed("") // changes may have been missed
	if s := next(); s.Sources["umbrella"] != reload.SourceAPI || st.lists.Load() != lists+1 {
		t.Errorf("after missed changes: umbrella from %q, store listed %d times, want once", s.Sources["umbrella"], st.lists.Load()-lists)
	}
}
