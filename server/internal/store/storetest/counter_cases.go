package storetest

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func testUserFailureWindow(t *testing.T, s store.Store) {
	w := 15 * time.Minute
	set := store.Settings{FailureWindow: w}
	var outs []int
	for _, at := range []time.Time{t0, t0.Add(5 * time.Minute), t0.Add(w)} {
		outs = append(outs, apply(t, s, ev(decision.EventLoginFailed, "u1", at), set).UserFailedLogins)
	}
	diff(t, "failure counts at each event", []int{1, 2, 3}, outs)
	tests := []struct {
		at   time.Time
		want int
	}{
		{t0.Add(w), 3},                     // the first failure is exactly one window old
		{t0.Add(w + time.Nanosecond), 2},   // and now it is not
		{t0.Add(20*time.Minute + 1), 1},    // only the last one
		{t0.Add(2 * w), 1},                 // the last failure is exactly one window old
		{t0.Add(2*w + time.Nanosecond), 0}, // nothing left
		{t0.Add(-time.Hour), 3},            // failures after the request time count too
	}
	for _, tc := range tests {
		v := read(t, s, store.Query{Tenant: "acme", UserID: "u1", At: tc.at, FailureWindow: w})
		if v.UserFailedLogins != tc.want {
			t.Errorf("failed logins at %v = %d, want %d", tc.at.Sub(t0), v.UserFailedLogins, tc.want)
		}
	}
	// A success does not reset the count: the window does.
	out := apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0.Add(w)), set)
	if out.UserFailedLogins != 3 {
		t.Errorf("after a success: %d failed logins, want 3", out.UserFailedLogins)
	}
	// A wider window on read sees what a narrower one would not.
	v := read(t, s, store.Query{Tenant: "acme", UserID: "u1", At: t0.Add(time.Hour), FailureWindow: time.Hour})
	if v.UserFailedLogins != 3 {
		t.Errorf("one-hour window: %d failed logins, want 3", v.UserFailedLogins)
	}
}

func testIPFailureWindow(t *testing.T, s store.Store) {
	w := 10 * time.Minute
	set := store.Settings{FailureWindow: w}
	type step struct {
		user          string
		at            time.Duration
		logins, users int
	}
	steps := []step{
		{"a", 0, 1, 1},
		{"a", time.Minute, 2, 1},
		{"b", 2 * time.Minute, 3, 2},
		{"", 3 * time.Minute, 4, 2}, // a failure naming no user counts the IP, not a user
		{"c", w, 5, 3},              // a's first failure is exactly one window old
		{"d", w + time.Minute + 1, 4, 3},
	}
	for _, st := range steps {
		out := apply(t, s, ev(decision.EventLoginFailed, st.user, t0.Add(st.at), withIP(ipB)), set)
		if out.IPFailedLogins != st.logins || out.IPFailedUsers != st.users {
			t.Errorf("after %q at %v: %d logins from %d users, want %d from %d",
				st.user, st.at, out.IPFailedLogins, out.IPFailedUsers, st.logins, st.users)
		}
	}
	v := read(t, s, store.Query{Tenant: "acme", IP: ipB, At: t0.Add(w + 2*time.Minute), FailureWindow: w})
	if v.IPFailedLogins != 4 || v.IPFailedUsers != 3 {
		t.Errorf("Read: %d logins from %d users, want 4 from 3 (b, c, d)", v.IPFailedLogins, v.IPFailedUsers)
	}
	// A success from the IP reports the counters without changing them.
	out := apply(t, s, ev(decision.EventLoginSucceeded, "e", t0.Add(w+2*time.Minute), withIP(ipB)), set)
	if out.IPFailedLogins != 4 || out.IPFailedUsers != 3 {
		t.Errorf("success outcome: %d logins from %d users, want 4 from 3", out.IPFailedLogins, out.IPFailedUsers)
	}
}

func testIPBounds(t *testing.T, s store.Store) {
	n := store.MaxIPFailures + 44
	var last store.Outcome
	for i := range n {
		last = apply(t, s, ev(decision.EventLoginFailed, fmt.Sprintf("u%03d", i), t0.Add(time.Duration(i)*time.Millisecond), withIP(ipA)), defaults)
	}
	if last.IPFailedLogins != store.MaxIPFailures || last.IPFailedUsers != store.MaxIPUsers {
		t.Errorf("saturated outcome: %d logins from %d users, want %d from %d",
			last.IPFailedLogins, last.IPFailedUsers, store.MaxIPFailures, store.MaxIPUsers)
	}
}

func testMappedIP(t *testing.T, s store.Store) {
	mapped := netip.AddrFrom16(ipA.As16())
	apply(t, s, ev(decision.EventLoginFailed, "u1", t0, withIP(mapped)), defaults)
	v := read(t, s, store.Query{Tenant: "acme", IP: ipA, At: t0})
	if v.IPFailedLogins != 1 {
		t.Errorf("a failure from %v is not counted for %v", mapped, ipA)
	}
}

func testFailureWithoutUser(t *testing.T, s store.Store) {
	out := apply(t, s, ev(decision.EventLoginFailed, "", t0, withIP(ipA)), defaults)
	diff(t, "outcome", store.Outcome{IPFailedLogins: 1}, out)
	if _, ok := profile(t, s, "acme", "u1"); ok {
		t.Error("a profile appeared for a failure naming no user")
	}
	if out := apply(t, s, ev(decision.EventActivity, "", t0), defaults); out != (store.Outcome{}) {
		t.Errorf("an activity naming no user and no IP changed something: %+v", out)
	}
}

// testReplay applies one history twice, five years apart and under two
// tenants: windows follow event times, so every outcome is the same.
func testReplay(t *testing.T, s store.Store) {
	set := store.Settings{FailureWindow: 15 * time.Minute, Lookback: 30 * day}
	history := func(tenant string, base time.Time) []store.Outcome {
		var outs []store.Outcome
		at := func(d time.Duration) time.Time { return base.Add(d) }
		steps := []*decision.Event{
			ev(decision.EventLoginSucceeded, "u1", at(0), withDevice("d1"), withCountry("PT"), withIP(ipA)),
			ev(decision.EventLoginFailed, "u1", at(time.Minute), withIP(ipB)),
			ev(decision.EventLoginFailed, "u2", at(2*time.Minute), withIP(ipB)),
			ev(decision.EventLoginFailed, "u1", at(20*time.Minute), withIP(ipB)),
			ev(decision.EventLoginSucceeded, "u1", at(31*day), withDevice("d1"), withCountry("PT")),
			ev(decision.EventLoginSucceeded, "u1", at(31*day+time.Hour), withDevice("d2"), withCountry("ES")),
			ev(decision.EventMFASucceeded, "u1", at(32*day), withDevice("d2")),
		}
		for _, e := range steps {
			e.Tenant = tenant
			outs = append(outs, apply(t, s, e, set))
		}
		return outs
	}
	first := history("replay-a", t0.AddDate(-5, 0, 0))
	second := history("replay-b", t0)
	diff(t, "outcomes of the replay", first, second)
	want := []store.Outcome{
		{FirstEvent: true, NewDevice: true, NewCountry: true, LoginCount: 1},
		{LoginCount: 1, UserFailedLogins: 1, IPFailedLogins: 1, IPFailedUsers: 1},
		{FirstEvent: true, UserFailedLogins: 1, IPFailedLogins: 2, IPFailedUsers: 2},
		{LoginCount: 1, UserFailedLogins: 1, IPFailedLogins: 1, IPFailedUsers: 1}, // the first two failures left the window
		{NewDevice: true, NewCountry: true, LoginCount: 1},
		{NewDevice: true, NewCountry: true, LoginCount: 2},
		{LoginCount: 2},
	}
	diff(t, "outcomes", want, first)
}

func testConcurrentApply(t *testing.T, s store.Store) {
	// workers*fails stays under MaxIPFailures so that nothing saturates.
	const workers, each, fails = 8, 50, 30
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				at := t0.Add(time.Duration(w*each+i) * time.Second)
				if _, err := s.ApplyEvent(t.Context(), ev(decision.EventLoginSucceeded, "busy", at, withDevice(fmt.Sprintf("d%d", w))), defaults); err != nil {
					t.Errorf("ApplyEvent: %v", err)
					return
				}
				if i >= fails {
					continue
				}
				fail := ev(decision.EventLoginFailed, fmt.Sprintf("user-%d", w), t0.Add(time.Duration(i)*time.Millisecond), withIP(ipA))
				if _, err := s.ApplyEvent(t.Context(), fail, defaults); err != nil {
					t.Errorf("ApplyEvent: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	p := mustProfile(t, s, "acme", "busy")
	if p.LoginCount != workers*each {
		t.Errorf("lifetime logins = %d, want %d", p.LoginCount, workers*each)
	}
	if n := p.LoginsSince(t0); n != workers*each {
		t.Errorf("logins within the lookback = %d, want %d", n, workers*each)
	}
	if len(p.Devices) != workers {
		t.Errorf("%d devices, want %d", len(p.Devices), workers)
	}
	var devCount int64
	for _, d := range p.Devices {
		devCount += d.Count
	}
	if devCount != workers*each {
		t.Errorf("device sightings = %d, want %d", devCount, workers*each)
	}
	v := read(t, s, store.Query{Tenant: "acme", UserID: "user-3", IP: ipA, At: t0.Add(time.Second)})
	if v.UserFailedLogins != fails || v.IPFailedLogins != workers*fails || v.IPFailedUsers != workers {
		t.Errorf("counters: user %d, IP %d from %d users; want %d, %d from %d",
			v.UserFailedLogins, v.IPFailedLogins, v.IPFailedUsers, fails, workers*fails, workers)
	}
}
