package redis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/internal/store/storetest"
)

var (
	t0  = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ipA = netip.MustParseAddr("198.51.100.7")
	ipB = netip.MustParseAddr("2001:db8::42")
)

// prefixes keeps the stores of one server apart.
var prefixes atomic.Int64

// openStore opens a store with a key prefix of its own on srv.
func openStore(t testing.TB, srv *redistest.Server, opts Options) *Store {
	t.Helper()
	u := fmt.Sprintf("%s?prefix=t%d", srv.URL(0), prefixes.Add(1))
	s, err := Open(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sameKeys opens a second store on the keys of s, as another replica.
func sameKeys(t testing.TB, srv *redistest.Server, s *Store) *Store {
	t.Helper()
	o, err := Open(context.Background(), srv.URL(0)+"?prefix="+s.cfg.Prefix, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		u := fmt.Sprintf("%s?prefix=t%d", srv.URL(0), prefixes.Add(1))
		s, err := Open(context.Background(), u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func event(kind decision.EventKind, tenant, user string, at time.Time, ip netip.Addr) *decision.Event {
	e := &decision.Event{Tenant: tenant, Kind: kind, Subject: decision.Subject{ID: user}, Time: at}
	e.Network.IP = ip
	e.Network.Country = "PT"
	e.Device.ID = "d-" + user
	e.Action.Name = "login"
	return e
}

func mustApply(t testing.TB, s store.Store, e *decision.Event) store.Outcome {
	t.Helper()
	out, err := s.ApplyEvent(context.Background(), e, store.Settings{})
	if err != nil {
		t.Fatalf("ApplyEvent: %v", err)
	}
	return out
}

// keys lists the keys under the store's prefix.
func keys(t *testing.T, s *Store) []string {
	t.Helper()
	out, err := s.client.Do(context.Background(), s.client.B().Keys().Pattern(s.cfg.Prefix+":*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKeysAreTenantScopedAndShareOneSlotPerTenant(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	ctx := context.Background()
	tricky := "a}:u:x{%" // braces and '%' are escaped, so the tag ends where the tenant does
	for _, tenant := range []string{"acme", tricky} {
		mustApply(t, s, event(decision.EventLoginFailed, tenant, "u1", t0, ipA))
		if err := s.SetSSOStatus(ctx, tenant, store.SSOStatus{Available: true, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	got := keys(t, s)
	if len(got) != 8 {
		t.Fatalf("keys %q, want a profile, an IP record, an IP index and an SSO status per tenant", got)
	}
	tags := map[string]int{}
	for _, k := range got {
		tags[hashTag(k)]++
		if !strings.HasPrefix(k, s.cfg.Prefix+":{") {
			t.Errorf("key %q does not start with the prefix and a hash tag", k)
		}
	}
	want := map[string]int{"acme": 4, "a%7D:u:x%7B%25": 4}
	if fmt.Sprint(tags) != fmt.Sprint(want) {
		t.Errorf("hash tags %v, want %v", tags, want)
	}
}

func TestKeysExpireAfterTheRetention(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opts := Options{ProfileRetention: 10 * time.Second, IPRetention: time.Second}
	s := openStore(t, srv, opts)
	ctx := context.Background()
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "idle", t0, ipA))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "suspended", t0, ipB))
	if err := s.SetSuspension(ctx, "acme", "suspended", store.Suspension{Suspended: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	pttl := func(key string) time.Duration {
		ms, err := s.client.Do(ctx, s.client.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(ms) * time.Millisecond
	}
	for _, tc := range []struct {
		key      string
		min, max time.Duration
	}{
		{s.userKey("acme", "idle"), 5 * time.Second, 10 * time.Second},
		{s.ipKey("acme", ipA.String()), 1, time.Second},
		{s.indexKey("acme", "idle"), time.Second, s.indexTTL},
		{s.userKey("acme", "suspended"), -time.Millisecond, -time.Millisecond}, // no expiry while suspended
	} {
		if d := pttl(tc.key); d < tc.min || d > tc.max {
			t.Errorf("TTL of %s = %v, want %v..%v", tc.key, d, tc.min, tc.max)
		}
	}
	time.Sleep(1200 * time.Millisecond)
	var v store.View
	if err := s.Read(ctx, store.Query{Tenant: "acme", UserID: "idle", IP: ipA, At: t0}, &v); err != nil {
		t.Fatal(err)
	}
	if !v.HasProfile || v.IPFailedLogins != 0 {
		t.Errorf("after the IP retention: profile %v, %d IP failures; want the profile and no IP record", v.HasProfile, v.IPFailedLogins)
	}
	// Lifting the suspension gives the profile its retention back.
	if err := s.SetSuspension(ctx, "acme", "suspended", store.Suspension{At: t0}); err != nil {
		t.Fatal(err)
	}
	if d := pttl(s.userKey("acme", "suspended")); d <= 0 {
		t.Errorf("TTL after lifting the suspension = %v, want the retention", d)
	}
}

func TestErasureRemovesEveryKeyOfTheUser(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	ctx := context.Background()
	mustApply(t, s, event(decision.EventLoginSucceeded, "acme", "u1", t0, ipA))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0, ipA))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0, ipB))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "u2", t0, ipA))
	if found, err := s.DeleteUser(ctx, "acme", "u1"); err != nil || !found {
		t.Fatalf("DeleteUser = %v, %v", found, err)
	}
	left := keys(t, s)
	for _, k := range left {
		if strings.HasSuffix(k, ":u1") || strings.Contains(k, ipB.String()) {
			t.Errorf("key %s survived the erasure", k)
		}
	}
	if len(left) != 3 {
		t.Errorf("keys left %q, want u2's profile, index and the record of %v", left, ipA)
	}
	d, err := s.client.Do(ctx, s.client.B().Hget().Key(s.ipKey("acme", ipA.String())).Field("d").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d, "u1") {
		t.Errorf("the record of %v still names u1: %s", ipA, d)
	}
}

func TestReplicasShareState(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := openStore(t, srv, Options{})
	b := sameKeys(t, srv, a)
	for i := range 5 {
		mustApply(t, a, event(decision.EventLoginFailed, "acme", "u1", t0.Add(time.Duration(i)*time.Second), ipA))
	}
	out := mustApply(t, b, event(decision.EventLoginFailed, "acme", "u1", t0.Add(5*time.Second), ipA))
	if out.UserFailedLogins != 6 || out.IPFailedLogins != 6 {
		t.Errorf("replica B counts %d user and %d IP failures, want 6 and 6", out.UserFailedLogins, out.IPFailedLogins)
	}
	var v store.View
	if err := a.Read(context.Background(), store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: t0.Add(6 * time.Second)}, &v); err != nil {
		t.Fatal(err)
	}
	if v.UserFailedLogins != 6 {
		t.Errorf("replica A reads %d failures, want 6", v.UserFailedLogins)
	}
}

func TestStoreRecoversAfterTheServerRestarts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0, ipA))
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.ApplyEvent(context.Background(), event(decision.EventLoginFailed, "acme", "u1", t0, ipA), store.Settings{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ApplyEvent still fails after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The client may hold more than one connection; each reconnects on its
	// next use, so Ping too recovers within the deadline.
	for {
		err := s.Ping(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still fails after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Stop() // a port nobody listens on
	_, err := Open(context.Background(), "redis://user:secret@"+addr+"/0", Options{DialTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a dead server: %v; want an error naming %s without the password", err, addr)
	}
	if _, err := Open(context.Background(), "redis://"+addr+"/x", Options{}); err == nil || !strings.Contains(err.Error(), "database number") {
		t.Errorf("Open of a bad URL: %v", err)
	}
}

func TestRedisErrorsAreUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Read(ctx, store.Query{Tenant: "acme", UserID: "u1", At: t0}, new(store.View))
	if d := time.Since(start); d > time.Second {
		t.Errorf("Read took %v to report a stopped server, want well under a second", d)
	}
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Read from a stopped server: %v, want Unavailable", err)
	}
	_, err = s.ApplyEvent(ctx, event(decision.EventLoginFailed, "acme", "u1", t0, ipA), store.Settings{})
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("ApplyEvent on a stopped server: %v, want Unavailable", err)
	}
}
