package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func testLoginBuildsProfile(t *testing.T, s store.Store) {
	login := ev(decision.EventLoginSucceeded, "u1", t0,
		withDevice("d1"), withIP(ipA), withCountry("PT"), withLocation(38.72, -9.14), withAction("login"),
		func(e *decision.Event) { e.Network.City = "Lisbon" })
	out := apply(t, s, login, defaults)
	diff(t, "first outcome", store.Outcome{FirstEvent: true, NewDevice: true, NewCountry: true, LoginCount: 1}, out)

	again := *login
	again.Time = t0.Add(time.Hour)
	out = apply(t, s, &again, defaults)
	diff(t, "second outcome", store.Outcome{LoginCount: 2}, out)

	t1 := t0.Add(time.Hour)
	want := &store.Profile{
		Tenant:     "acme",
		UserID:     "u1",
		Devices:    []store.Seen{{Key: "d1", FirstSeen: t0, LastSeen: t1, Count: 2}},
		Countries:  []store.Seen{{Key: "PT", FirstSeen: t0, LastSeen: t1, Count: 2}},
		Actions:    []store.Seen{{Key: "login", FirstSeen: t0, LastSeen: t1, Count: 2}},
		LoginDays:  []store.DayCount{{Day: store.DayOf(t0), Count: 2}},
		LoginCount: 2,
		LastLogin: store.Login{Time: t1, IP: ipA, Country: "PT", City: "Lisbon", HasLocation: true,
			Latitude: 38.72, Longitude: -9.14, DeviceID: "d1"},
		LastActivity: t1,
		UpdatedAt:    t1,
	}
	want.Hours[12] = store.HourSlot{Count: 1, LastSeen: t0}
	want.Hours[13] = store.HourSlot{Count: 1, LastSeen: t1}
	diff(t, "profile", want, mustProfile(t, s, "acme", "u1"))

	v := read(t, s, store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: t1})
	if !v.HasProfile {
		t.Fatal("Read: HasProfile = false")
	}
	diff(t, "profile through Read", want, &v.Profile)
}

func testEventKinds(t *testing.T, s store.Store) {
	at := t0
	next := func() time.Time { at = at.Add(time.Minute); return at }
	apply(t, s, ev(decision.EventMFASucceeded, "u1", next(), withDevice("d-mfa"), withCountry("PT"), withAction("mfa.verify")), defaults)
	apply(t, s, ev(decision.EventActivity, "u1", next(), withDevice("d-act"), withCountry("BR"), withAction("admin.users.delete")), defaults)
	apply(t, s, ev(decision.EventLogout, "u1", next(), withAction("logout")), defaults)
	out := apply(t, s, ev(decision.EventMFAFailed, "u1", next(), withIP(ipA), withAction("mfa.verify")), defaults)
	diff(t, "mfa failure outcome", store.Outcome{UserFailedLogins: 1, IPFailedLogins: 1, IPFailedUsers: 1}, out)
	out = apply(t, s, ev(decision.EventLoginFailed, "u1", next(), withIP(ipA), withDevice("d-fail")), defaults)
	diff(t, "login failure outcome", store.Outcome{UserFailedLogins: 2, IPFailedLogins: 2, IPFailedUsers: 1}, out)

	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	want := &store.Profile{
		Tenant:  "acme",
		UserID:  "u1",
		Devices: []store.Seen{{Key: "d-mfa", FirstSeen: m(1), LastSeen: m(1), Count: 1}},
		Actions: []store.Seen{
			{Key: "mfa.verify", FirstSeen: m(1), LastSeen: m(1), Count: 1},
			{Key: "admin.users.delete", FirstSeen: m(2), LastSeen: m(2), Count: 1},
			{Key: "logout", FirstSeen: m(3), LastSeen: m(3), Count: 1},
		},
		LastActivity: m(3),
		FailedLogins: []time.Time{m(4), m(5)},
		UpdatedAt:    m(5),
	}
	diff(t, "profile", want, mustProfile(t, s, "acme", "u1"))
}

func testOutOfOrderEvents(t *testing.T, s store.Store) {
	late, early := t0.Add(2*time.Hour), t0.Add(time.Hour)
	apply(t, s, ev(decision.EventLoginSucceeded, "u1", late, withDevice("d1"), withCountry("DE")), defaults)
	out := apply(t, s, ev(decision.EventLoginSucceeded, "u1", early, withDevice("d1"), withCountry("FR")), defaults)
	diff(t, "outcome", store.Outcome{NewCountry: true, LoginCount: 2}, out)
	p := mustProfile(t, s, "acme", "u1")
	if !p.LastLogin.Time.Equal(late) || p.LastLogin.Country != "DE" {
		t.Errorf("LastLogin = %v in %q, want the newer login at %v in DE", p.LastLogin.Time, p.LastLogin.Country, late)
	}
	diff(t, "devices", []store.Seen{{Key: "d1", FirstSeen: early, LastSeen: late, Count: 2}}, p.Devices)
	if !p.LastActivity.Equal(late) || !p.UpdatedAt.Equal(late) {
		t.Errorf("LastActivity, UpdatedAt = %v, %v; want %v", p.LastActivity, p.UpdatedAt, late)
	}
}

// testOldEventsKeepNewerFacts reports a brute force and a login, then a
// burst of late reports dated before them (hours, days and a lookback
// ago): they are counted where they belong, but the user's newest facts,
// the last login (the travel anchor), when each device and country was
// last seen, the failure window and the IP's counters, stay as they were.
func testOldEventsKeepNewerFacts(t *testing.T, s store.Store) {
	set := store.Settings{FailureWindow: 15 * time.Minute, Lookback: 90 * day}
	for i := range 5 {
		apply(t, s, ev(decision.EventLoginFailed, "u1", t0.Add(time.Duration(i)*time.Minute), withIP(ipA)), set)
	}
	now := t0.Add(5 * time.Minute)
	apply(t, s, ev(decision.EventLoginSucceeded, "u1", now, withDevice("laptop"), withCountry("DE"), withLocation(52.52, 13.40), withIP(ipB)), set)
	before := mustProfile(t, s, "acme", "u1")
	q := store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: now, FailureWindow: set.FailureWindow}
	counters := func(v *store.View) [3]int { return [3]int{v.UserFailedLogins, v.IPFailedLogins, v.IPFailedUsers} }
	want := counters(read(t, s, q))
	if want != [3]int{5, 5, 1} {
		t.Fatalf("before the late reports: counters %v, want [5 5 1]", want)
	}

	for _, ago := range []time.Duration{time.Hour, 3 * day, 200 * day} {
		at := now.Add(-ago)
		apply(t, s, ev(decision.EventLoginSucceeded, "u1", at, withDevice("laptop"), withCountry("FR"), withLocation(48.86, 2.35)), set)
		apply(t, s, ev(decision.EventLoginSucceeded, "u1", at, withCountry("DE")), set)
		apply(t, s, ev(decision.EventMFASucceeded, "u1", at, withDevice("laptop")), set)
		apply(t, s, ev(decision.EventLoginFailed, "u1", at, withIP(ipA)), set)
		apply(t, s, ev(decision.EventActivity, "u1", at, withAction("api.read")), set)
	}

	p := mustProfile(t, s, "acme", "u1")
	diff(t, "last login (the travel anchor)", before.LastLogin, p.LastLogin)
	if !p.UpdatedAt.Equal(now) || !p.LastActivity.Equal(now) {
		t.Errorf("UpdatedAt, LastActivity = %v, %v; want both at the newest event %v", p.UpdatedAt, p.LastActivity, now)
	}
	lastSeen := func(list []store.Seen, key string) time.Time {
		for _, e := range list {
			if e.Key == key {
				return e.LastSeen
			}
		}
		return time.Time{}
	}
	if got := lastSeen(p.Devices, "laptop"); !got.Equal(now) {
		t.Errorf("device laptop last seen %v, want %v", got, now)
	}
	if got := lastSeen(p.Countries, "DE"); !got.Equal(now) {
		t.Errorf("country DE last seen %v, want %v", got, now)
	}
	if !p.Hours[now.Hour()].LastSeen.Equal(now) {
		t.Errorf("hour slot %d last seen %v, want %v", now.Hour(), p.Hours[now.Hour()].LastSeen, now)
	}
	if got := counters(read(t, s, q)); got != want {
		t.Errorf("after the late reports: counters %v, want %v", got, want)
	}
	if got := p.FailedLoginsSince(now.Add(-set.FailureWindow)); got != 5 {
		t.Errorf("failures within the window = %d, want 5", got)
	}
}

func testHoursAndDays(t *testing.T, s store.Store) {
	evening := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC)
	times := []time.Time{evening, evening.Add(40 * time.Minute), evening.Add(50 * time.Minute), evening.Add(24 * time.Hour)}
	for _, at := range times {
		apply(t, s, ev(decision.EventLoginSucceeded, "u1", at), defaults)
	}
	p := mustProfile(t, s, "acme", "u1")
	var want [24]store.HourSlot
	want[23] = store.HourSlot{Count: 2, LastSeen: times[3]}
	want[0] = store.HourSlot{Count: 2, LastSeen: times[2]}
	diff(t, "hours", want, p.Hours)
	d := store.DayOf(evening)
	diff(t, "days", []store.DayCount{{Day: d, Count: 1}, {Day: d + 1, Count: 3}}, p.LoginDays)
	tests := []struct {
		since time.Time
		want  int
	}{
		{evening.Add(-day), 4},
		{evening, 4},
		{evening.Add(time.Hour), 3}, // days count whole: 00:10 and 00:20 are before since
		{evening.Add(24 * time.Hour), 3},
		{evening.Add(25 * time.Hour), 0},
	}
	for _, tc := range tests {
		if got := p.LoginsSince(tc.since); got != tc.want {
			t.Errorf("LoginsSince(%v) = %d, want %d", tc.since, got, tc.want)
		}
	}
	for h, want := range map[int]bool{23: true, 0: true, 24: true, -1: true, 22: false, 1: false} {
		if got := p.HourSeen(h, evening.Add(-day)); got != want {
			t.Errorf("HourSeen(%d) = %v, want %v", h, got, want)
		}
	}
}

func testLookbackPrune(t *testing.T, s store.Store) {
	set := store.Settings{Lookback: 90 * day}
	apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0, withDevice("old"), withCountry("PT"), withAction("export.csv")), set)
	// Exactly 90 days later the entries are still within the lookback.
	out := apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0.Add(90*day), withDevice("old"), withCountry("PT")), set)
	diff(t, "outcome at exactly 90 days", store.Outcome{LoginCount: 2}, out)

	apply(t, s, ev(decision.EventLoginSucceeded, "u2", t0, withDevice("old"), withCountry("PT"), withAction("export.csv")), set)
	out = apply(t, s, ev(decision.EventActivity, "u2", t0.Add(90*day+time.Nanosecond), withAction("api.read")), set)
	// Login days count whole UTC days: t0's day is still within the lookback.
	diff(t, "outcome past 90 days", store.Outcome{LoginCount: 1}, out)
	p := mustProfile(t, s, "acme", "u2")
	if len(p.Devices)+len(p.Countries) != 0 || p.Hours[12] != (store.HourSlot{}) {
		t.Errorf("entries older than the lookback survived: devices %v countries %v hour %v", p.Devices, p.Countries, p.Hours[12])
	}
	diff(t, "actions", []store.Seen{{Key: "api.read", FirstSeen: t0.Add(90*day + 1), LastSeen: t0.Add(90*day + 1), Count: 1}}, p.Actions)
	out = apply(t, s, ev(decision.EventActivity, "u2", t0.Add(91*day), withAction("api.read")), set)
	diff(t, "outcome a day later", store.Outcome{}, out)
	p = mustProfile(t, s, "acme", "u2")
	if len(p.LoginDays) != 0 {
		t.Errorf("login days older than the lookback survived: %v", p.LoginDays)
	}
	if p.LoginCount != 1 || !p.LastLogin.Time.Equal(t0) {
		t.Errorf("lifetime count %d and last login %v must survive pruning", p.LoginCount, p.LastLogin.Time)
	}
}

func testProfileBounds(t *testing.T, s store.Store) {
	n := 40
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		apply(t, s, ev(decision.EventLoginSucceeded, "u1", at,
			withDevice(fmt.Sprintf("d%02d", i)), withCountry(fmt.Sprintf("C%02d", i))), defaults)
	}
	for i := range store.MaxActions + 6 {
		apply(t, s, ev(decision.EventActivity, "u1", t0.Add(time.Duration(i)*time.Second), withAction(fmt.Sprintf("a%03d", i))), defaults)
	}
	for i := range store.MaxFailedLogins + 10 {
		apply(t, s, ev(decision.EventLoginFailed, "u2", t0.Add(time.Duration(i)*time.Millisecond)), defaults)
	}
	p := mustProfile(t, s, "acme", "u1")
	keys := func(l []store.Seen) []string {
		var k []string
		for _, e := range l {
			k = append(k, e.Key)
		}
		return k
	}
	var wantDevices, wantCountries, wantActions []string
	for i := n - store.MaxDevices; i < n; i++ {
		wantDevices = append(wantDevices, fmt.Sprintf("d%02d", i))
	}
	for i := n - store.MaxCountries; i < n; i++ {
		wantCountries = append(wantCountries, fmt.Sprintf("C%02d", i))
	}
	for i := 6; i < store.MaxActions+6; i++ {
		wantActions = append(wantActions, fmt.Sprintf("a%03d", i))
	}
	diff(t, "devices", wantDevices, keys(p.Devices))
	diff(t, "countries", wantCountries, keys(p.Countries))
	diff(t, "actions", wantActions, keys(p.Actions))
	p = mustProfile(t, s, "acme", "u2")
	if len(p.FailedLogins) != store.MaxFailedLogins || !p.FailedLogins[0].Equal(t0.Add(10*time.Millisecond)) {
		t.Errorf("failed logins: %d kept starting %v, want %d starting at the 11th", len(p.FailedLogins), p.FailedLogins[0], store.MaxFailedLogins)
	}
	if n := p.FailedLoginsSince(t0); n != store.MaxFailedLogins {
		t.Errorf("failure count = %d, want it saturated at %d", n, store.MaxFailedLogins)
	}
	// A device reported out of order, older than every kept one, is the
	// least recently seen and is evicted at once.
	out := apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0.Add(-day), withDevice("ancient")), defaults)
	if !out.NewDevice {
		t.Error("an unknown device must be new even when evicted at once")
	}
	p = mustProfile(t, s, "acme", "u1")
	diff(t, "devices after an old login", wantDevices, keys(p.Devices))
}
