package iprules_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// replicas is a Watcher whose changes the test makes, as other replicas
// would.
type replicas struct {
	changed func(string)
	resync  func()
	err     error
}

func (r *replicas) WatchRules(_ context.Context, changed func(string), resync func()) error {
	r.changed, r.resync = changed, resync
	return r.err
}

func TestFollowReloadsWhatOtherReplicasChange(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := memory.NewIPRules()
	set := ipset.NewSet(nil)
	a := iprules.NewApplier(set, st)
	w := &replicas{}
	loop, err := a.Follow(ctx, w, func() time.Time { return t0 }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	add := func(tenant, prefix string) {
		t.Helper()
		if _, err := st.Add(ctx, iprules.Rule{Tenant: tenant, List: "deny", Prefix: netip.MustParsePrefix(prefix),
			Source: iprules.SourceAdmin, CreatedAt: t0, CreatedBy: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	denied := func(tenant, ip string) bool { return set.Lookup(tenant, "", addr(ip), t0).Deny.Found() }
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal(what)
			}
		}
	}

	add("acme", "192.0.2.0/24")
	add("beta", "198.51.100.0/24")
	w.changed("acme")
	eventually("the changed scope was not reloaded", func() bool { return denied("acme", "192.0.2.1") })
	if denied("beta", "198.51.100.1") {
		t.Fatal("a scope nobody named was reloaded")
	}
	w.resync()
	eventually("a resync did not reload everything", func() bool { return denied("beta", "198.51.100.1") })

	cancel()
	loop.Wait()
}

func TestFollowSaysWhenTheWatchDidNotStart(t *testing.T) {
	a := iprules.NewApplier(ipset.NewSet(nil), memory.NewIPRules())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.Follow(ctx, &replicas{err: errors.New("no subscription")}, time.Now, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Follow returned without its watch")
	}
}

func TestKeepLoadsTheStoredRulesThenFollowsOtherReplicas(t *testing.T) {
	ctx := context.Background()
	st := memory.NewIPRules()
	if _, err := st.Add(ctx, iprules.Rule{Tenant: "acme", List: "deny", Prefix: netip.MustParsePrefix("192.0.2.0/24"),
		Source: iprules.SourceAdmin, CreatedAt: t0, CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	set := ipset.NewSet(nil)
	w := &replicas{}
	stop, err := iprules.NewApplier(set, st).Keep(w, func() time.Time { return t0 }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !set.Lookup("acme", "", addr("192.0.2.1"), t0).Deny.Found() {
		t.Fatal("the stored rule was not loaded")
	}
	if w.changed == nil || w.resync == nil {
		t.Fatal("Keep returned without watching the other replicas")
	}

	w.err = errors.New("no subscription")
	if _, err := iprules.NewApplier(ipset.NewSet(nil), st).Keep(w, time.Now, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Keep returned without its watch")
	}
}
