// Package ssftest is the conformance suite every ssf.Store runs:
//
//	func TestSSFConformance(t *testing.T) {
//		ssftest.Run(t, func(t *testing.T) ssf.Store { return memory.NewSSF() })
//	}
//
// It checks the replay window, what a bucket keeps (a newer state replaces
// an older one, never the other way round; expiry; the bound), tenant
// isolation, invalid effects, and that of many concurrent applications of
// one jti exactly one succeeds.
package ssftest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ssf"
)

// Open returns a fresh, empty store for one test; the caller cleans it up.
type Open func(t *testing.T) ssf.Store

// Run runs every conformance test against the stores open returns, in
// parallel.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s ssf.Store)
	}{
		{"AppliedEffectIsRead", testApplyRead},
		{"ReplayedJTIIsRefusedWithinTheWindow", testReplay},
		{"NewerStateReplacesOlder", testNewerState},
		{"EffectsExpire", testExpiry},
		{"BucketsAreBounded", testBound},
		{"TenantsAreIsolated", testTenants},
		{"InvalidEffectIsRefused", testInvalid},
		{"ConcurrentReplaysOneWins", testConcurrent},
		{"DeletedUsersEffectsGoWithThem", testDeleteUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// t0 is the base time of every test.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// effect returns a session-revoked effect of acme's user u1 received at t0.
func effect(jti string) ssf.Effect {
	return ssf.Effect{
		Tenant: "acme", Stream: "idp", JTI: jti, Event: "session-revoked",
		Subject: ssf.Subject{User: "u1"}, At: t0.Add(-time.Minute), Received: t0, Until: t0.Add(24 * time.Hour),
	}
}

func read(t *testing.T, s ssf.Store, tenant string, r ssf.Request, now time.Time) []ssf.Effect {
	t.Helper()
	got, err := s.Read(context.Background(), tenant, ssf.Keys(r), now, nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return got
}

func apply(t *testing.T, s ssf.Store, e ssf.Effect, replayUntil time.Time) {
	t.Helper()
	if err := s.Apply(context.Background(), e, replayUntil); err != nil {
		t.Fatalf("Apply(%s): %v", e.JTI, err)
	}
}

func testApplyRead(t *testing.T, s ssf.Store) {
	e := effect("j1")
	e.Reason, e.Level, e.Status = "policy", "HIGH", "x"
	apply(t, s, e, t0.Add(time.Hour))
	got := read(t, s, "acme", ssf.Request{User: "u1"}, t0)
	if len(got) != 1 || got[0].JTI != "j1" || got[0].Reason != "policy" || got[0].Level != "HIGH" ||
		!got[0].At.Equal(e.At) || !got[0].Until.Equal(e.Until) || got[0].Subject != e.Subject {
		t.Fatalf("read %+v, want the applied effect", got)
	}
	if got := read(t, s, "acme", ssf.Request{User: "u2"}, t0); len(got) != 0 {
		t.Fatalf("another user reads %+v", got)
	}
}

func testReplay(t *testing.T, s ssf.Store) {
	apply(t, s, effect("j1"), t0.Add(time.Hour))
	again := effect("j1")
	again.Received = t0.Add(59 * time.Minute)
	if err := s.Apply(context.Background(), again, t0.Add(2*time.Hour)); !errors.Is(err, ssf.ErrReplay) {
		t.Fatalf("replay within the window: %v, want ErrReplay", err)
	}
	other := effect("j1")
	other.Stream = "other-idp"
	apply(t, s, other, t0.Add(time.Hour)) // jtis are per stream
	late := effect("j1")
	late.Received = t0.Add(time.Hour)
	apply(t, s, late, t0.Add(2*time.Hour)) // the window ended
}

func testNewerState(t *testing.T, s ssf.Store) {
	dev := func(jti, status string, at time.Duration) ssf.Effect {
		e := effect(jti)
		e.Event, e.Status, e.Subject, e.At = "device-compliance-change", status, ssf.Subject{Device: "d1"}, t0.Add(at)
		return e
	}
	apply(t, s, dev("a", "not-compliant", -2*time.Minute), t0.Add(time.Hour))
	apply(t, s, dev("b", "compliant", -time.Minute), t0.Add(time.Hour))
	got := read(t, s, "acme", ssf.Request{Device: "d1"}, t0)
	if len(got) != 1 || got[0].JTI != "b" {
		t.Fatalf("read %+v, want only the newer compliant state", got)
	}
	apply(t, s, dev("c", "not-compliant", -3*time.Minute), t0.Add(time.Hour)) // older: recorded, changes nothing
	got = read(t, s, "acme", ssf.Request{Device: "d1"}, t0)
	if len(got) != 1 || got[0].JTI != "b" {
		t.Fatalf("after an older event read %+v, want b still", got)
	}
	if err := s.Apply(context.Background(), dev("c", "compliant", 0), t0.Add(time.Hour)); !errors.Is(err, ssf.ErrReplay) {
		t.Fatalf("the older event's jti: %v, want ErrReplay", err)
	}
}

func testExpiry(t *testing.T, s ssf.Store) {
	e := effect("j1")
	e.Until = t0.Add(time.Minute)
	apply(t, s, e, t0.Add(time.Hour))
	if got := read(t, s, "acme", ssf.Request{User: "u1"}, t0.Add(59*time.Second)); len(got) != 1 {
		t.Fatalf("before Until read %+v", got)
	}
	if got := read(t, s, "acme", ssf.Request{User: "u1"}, t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("at Until read %+v, want nothing", got)
	}
}

func testBound(t *testing.T, s ssf.Store) {
	for i := range ssf.MaxPerBucket + 3 {
		e := effect(fmt.Sprintf("j%03d", i))
		e.Event = "credential-change"
		e.Subject = ssf.Subject{User: "u1", Device: fmt.Sprintf("d%03d", i)} // a slot each
		e.At = t0.Add(time.Duration(i) * time.Second)
		apply(t, s, e, t0.Add(time.Hour))
	}
	got := read(t, s, "acme", ssf.Request{User: "u1"}, t0)
	if len(got) != ssf.MaxPerBucket || got[0].JTI != "j003" {
		t.Fatalf("read %d effects starting %q, want %d starting j003", len(got), got[0].JTI, ssf.MaxPerBucket)
	}
}

func testTenants(t *testing.T, s ssf.Store) {
	apply(t, s, effect("j1"), t0.Add(time.Hour))
	other := effect("j1")
	other.Tenant = "globex"
	apply(t, s, other, t0.Add(time.Hour)) // jtis are per tenant too
	e := effect("j2")
	e.Subject = ssf.Subject{}
	e.Tenant = "globex"
	apply(t, s, e, t0.Add(time.Hour))
	if got := read(t, s, "acme", ssf.Request{User: "u9"}, t0); len(got) != 0 {
		t.Fatalf("acme reads globex's tenant-wide effect: %+v", got)
	}
	if got := read(t, s, "globex", ssf.Request{User: "u9"}, t0); len(got) != 1 || got[0].JTI != "j2" {
		t.Fatalf("globex reads %+v, want its tenant-wide effect", got)
	}
}

func testDeleteUser(t *testing.T, s ssf.Store) {
	subjects := map[string]ssf.Subject{
		"alone":        {User: "u1"},
		"with session": {User: "u1", Session: "s1"},
		"with email":   {User: "u1", Email: "u1@acme.com"},
		"with device":  {User: "u1", Device: "d1"},
		"another user": {User: "u2"},
		"email only":   {Email: "u1@acme.com"},
		"tenant":       {},
	}
	for name, sub := range subjects {
		e := effect(name)
		e.Subject = sub
		apply(t, s, e, t0.Add(time.Hour))
	}
	other := effect("globex's")
	other.Tenant = "globex"
	apply(t, s, other, t0.Add(time.Hour))

	n, err := s.DeleteUser(context.Background(), "acme", "u1")
	if err != nil || n != 4 {
		t.Fatalf("DeleteUser(acme, u1) = %d, %v; want the 4 effects naming u1", n, err)
	}
	jtis := func(tenant string, r ssf.Request) []string {
		var out []string
		for _, e := range read(t, s, tenant, r, t0) {
			out = append(out, e.JTI)
		}
		slices.Sort(out)
		return out
	}
	// Created again with the same id, the user inherits nothing of theirs.
	if got := jtis("acme", ssf.Request{User: "u1", Session: "s1", Device: "d1"}); !slices.Equal(got, []string{"tenant"}) {
		t.Errorf("u1 created again reads %v, want the tenant-wide effect only", got)
	}
	if got := jtis("acme", ssf.Request{User: "u1", Email: "u1@acme.com"}); !slices.Equal(got, []string{"email only", "tenant"}) {
		t.Errorf("by email u1 reads %v, want the effect naming the email alone and the tenant's", got)
	}
	if got := jtis("acme", ssf.Request{User: "u2"}); !slices.Equal(got, []string{"another user", "tenant"}) {
		t.Errorf("u2 reads %v, want its own and the tenant's", got)
	}
	if got := jtis("globex", ssf.Request{User: "u1"}); !slices.Equal(got, []string{"globex's"}) {
		t.Errorf("globex's u1 reads %v, want its own", got)
	}
	if n, err := s.DeleteUser(context.Background(), "acme", "u1"); err != nil || n != 0 {
		t.Errorf("DeleteUser again = %d, %v; want 0", n, err)
	}
	// A new effect of the id is kept, and goes with the next erasure.
	e := effect("new")
	e.Subject = ssf.Subject{User: "u1", Session: "s2"}
	apply(t, s, e, t0.Add(time.Hour))
	if got := jtis("acme", ssf.Request{User: "u1", Session: "s2"}); !slices.Equal(got, []string{"new", "tenant"}) {
		t.Errorf("after a new effect u1 reads %v", got)
	}
	if n, err := s.DeleteUser(context.Background(), "acme", "u1"); err != nil || n != 1 {
		t.Errorf("DeleteUser of the new effect = %d, %v; want 1", n, err)
	}
}

func testInvalid(t *testing.T, s ssf.Store) {
	e := effect("")
	e.Tenant = ""
	err := s.Apply(context.Background(), e, t0.Add(time.Hour))
	if fe := fault.As(err); fe == nil || fe.Code != fault.InvalidArgument || len(fe.Fields) != 2 {
		t.Fatalf("Apply without tenant and jti: %v, want InvalidArgument naming both", err)
	}
}

func testConcurrent(t *testing.T, s ssf.Store) {
	var ok, replays atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			err := s.Apply(context.Background(), effect("j1"), t0.Add(time.Hour))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ssf.ErrReplay):
				replays.Add(1)
			default:
				t.Errorf("Apply: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || replays.Load() != 15 {
		t.Fatalf("%d applied and %d replays, want 1 and 15", ok.Load(), replays.Load())
	}
}
