// Package storetest is the conformance suite every store backend runs:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New(memory.Options{}) })
//	}
//
// It checks the semantics store.Store documents: what each event changes,
// windows computed from event times (so replaying a history gives the same
// answers), the bounds of a profile, tenant isolation, erasure, admin
// state, errors, and exact counts under concurrent ApplyEvent calls.
package storetest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// Open returns a fresh, empty store for one test. The suite closes it.
type Open func(t *testing.T) store.Store

// Run runs every conformance test against the stores open returns. Each
// test opens its own store and runs in parallel with the others.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"LoginBuildsProfile", testLoginBuildsProfile},
		{"EventKinds", testEventKinds},
		{"OutOfOrderEvents", testOutOfOrderEvents},
		{"OldEventsKeepNewerFacts", testOldEventsKeepNewerFacts},
		{"HoursAndDays", testHoursAndDays},
		{"LookbackPrunesOnNextEvent", testLookbackPrune},
		{"ProfileBounds", testProfileBounds},
		{"UserFailureWindow", testUserFailureWindow},
		{"IPFailureWindow", testIPFailureWindow},
		{"IPBounds", testIPBounds},
		{"IPv4MappedAddressesAreOneRecord", testMappedIP},
		{"FailureWithoutUser", testFailureWithoutUser},
		{"ReplayGivesSameOutcomes", testReplay},
		{"TenantIsolation", testTenantIsolation},
		{"Erasure", testErasure},
		{"UsersListsTheTenantsProfiles", testUsers},
		{"AdminState", testAdminState},
		{"ReadWithoutState", testReadWithoutState},
		{"InvalidArguments", testInvalidArguments},
		{"ContextAndClose", testContextAndClose},
		{"ConcurrentApplyCountsExactly", testConcurrentApply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is the base time of every test: a Tuesday, 12:00 UTC.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

var (
	ipA = netip.MustParseAddr("198.51.100.7")
	ipB = netip.MustParseAddr("2001:db8::42")
)

// defaults are the settings of every test that does not say otherwise.
var defaults = store.Settings{}

// ev builds an event of tenant "acme".
func ev(kind decision.EventKind, user string, at time.Time, opts ...func(*decision.Event)) *decision.Event {
	e := &decision.Event{Tenant: "acme", Environment: "production", Kind: kind, Subject: decision.Subject{ID: user}, Time: at}
	for _, o := range opts {
		o(e)
	}
	return e
}

func withTenant(tenant string) func(*decision.Event) {
	return func(e *decision.Event) { e.Tenant = tenant }
}

func withDevice(id string) func(*decision.Event) {
	return func(e *decision.Event) { e.Device.ID = id }
}

func withIP(ip netip.Addr) func(*decision.Event) {
	return func(e *decision.Event) { e.Network.IP = ip }
}

func withCountry(c string) func(*decision.Event) {
	return func(e *decision.Event) { e.Network.Country = c }
}

func withLocation(lat, lon float64) func(*decision.Event) {
	return func(e *decision.Event) {
		e.Network.HasLocation, e.Network.Latitude, e.Network.Longitude = true, lat, lon
	}
}

func withAction(name string) func(*decision.Event) {
	return func(e *decision.Event) { e.Action.Name = name }
}

func apply(t *testing.T, s store.Store, e *decision.Event, set store.Settings) store.Outcome {
	t.Helper()
	out, err := s.ApplyEvent(context.Background(), e, set)
	if err != nil {
		t.Fatalf("ApplyEvent(%v %q at %v): %v", e.Kind, e.Subject.ID, e.Time, err)
	}
	return out
}

func profile(t *testing.T, s store.Store, tenant, user string) (*store.Profile, bool) {
	t.Helper()
	var p store.Profile
	ok, err := s.GetProfile(context.Background(), tenant, user, &p)
	if err != nil {
		t.Fatalf("GetProfile(%q, %q): %v", tenant, user, err)
	}
	return &p, ok
}

func mustProfile(t *testing.T, s store.Store, tenant, user string) *store.Profile {
	t.Helper()
	p, ok := profile(t, s, tenant, user)
	if !ok {
		t.Fatalf("GetProfile(%q, %q): no profile", tenant, user)
	}
	return p
}

func read(t *testing.T, s store.Store, q store.Query) *store.View {
	t.Helper()
	var v store.View
	if err := s.Read(context.Background(), q, &v); err != nil {
		t.Fatalf("Read(%+v): %v", q, err)
	}
	return &v
}

// profileCmp compares profiles treating nil and empty slices alike.
var profileCmp = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, profileCmp); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

func wantCode(t *testing.T, what string, err error, code fault.Code) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, code)
		return
	}
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Errorf("%s: %v is not a *fault.Error", what, err)
		return
	}
	if f.Code != code {
		t.Errorf("%s: code %v (%v), want %v", what, f.Code, err, code)
	}
}
