package signals

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// t0 is a Tuesday, 10:30 UTC.
var t0 = time.Date(2026, 3, 10, 10, 30, 0, 0, time.UTC)

const day = 24 * time.Hour

var (
	ipA = netip.MustParseAddr("198.51.100.7")
	ipB = netip.MustParseAddr("2001:db8::42")
)

var cmpSignals = cmp.Options{cmpopts.EquateEmpty()}

var cmpNetip = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// fakeGeo knows a fixed set of addresses.
type fakeGeo map[netip.Addr]decision.GeoSignals

func (g fakeGeo) Lookup(a netip.Addr) (decision.GeoSignals, bool) {
	r, ok := g[a]
	return r, ok
}

type fixture struct {
	store *memory.Store
	ips   *ipset.Set
	enr   *Enricher
	rec   *Recorder
	wall  time.Time
}

type fixtureOption func(*Options, *RecorderOptions)

func withSettings(fn SettingsFunc) fixtureOption {
	return func(o *Options, r *RecorderOptions) { o.Settings, r.Settings = fn, fn }
}

func withGeo(g Geo) fixtureOption {
	return func(o *Options, r *RecorderOptions) { o.Geo, r.Geo = g, g }
}

func withoutIPs() fixtureOption {
	return func(o *Options, _ *RecorderOptions) { o.IPs = nil }
}

func newFixture(t testing.TB, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{store: memory.New(memory.Options{SweepInterval: -1}), ips: ipset.NewSet(nil), wall: t0}
	t.Cleanup(func() { _ = f.store.Close() })
	clock := func() time.Time { return f.wall }
	o := Options{State: f.store, IPs: f.ips, Now: clock}
	ro := RecorderOptions{State: f.store, Now: clock}
	for _, opt := range opts {
		opt(&o, &ro)
	}
	f.enr, f.rec = NewEnricher(o), NewRecorder(ro)
	return f
}

type eventOption func(*decision.Event)

func evDevice(id string) eventOption { return func(e *decision.Event) { e.Device.ID = id } }

func evIP(a netip.Addr) eventOption { return func(e *decision.Event) { e.Network.IP = a } }

func evCountry(c string) eventOption { return func(e *decision.Event) { e.Network.Country = c } }

func evAction(a string) eventOption { return func(e *decision.Event) { e.Action.Name = a } }

func evAt(lat, lon float64) eventOption {
	return func(e *decision.Event) {
		e.Network.HasLocation, e.Network.Latitude, e.Network.Longitude = true, lat, lon
	}
}

func (f *fixture) report(t testing.TB, kind decision.EventKind, user string, at time.Time, opts ...eventOption) Recorded {
	t.Helper()
	e := &decision.Event{Tenant: "acme", Environment: "production", Kind: kind, Subject: decision.Subject{ID: user}, Time: at}
	for _, o := range opts {
		o(e)
	}
	rec, err := f.rec.Apply(context.Background(), e)
	if err != nil {
		t.Fatalf("Apply(%v of %q at %v): %v", kind, user, at, err)
	}
	return rec
}

type requestOption func(*decision.Request)

func rqDevice(id string) requestOption { return func(r *decision.Request) { r.Device.ID = id } }

func rqIP(a netip.Addr) requestOption { return func(r *decision.Request) { r.Network.IP = a } }

func rqAction(a string) requestOption { return func(r *decision.Request) { r.Action.Name = a } }

func rqAt(lat, lon float64) requestOption {
	return func(r *decision.Request) {
		r.Network.HasLocation, r.Network.Latitude, r.Network.Longitude = true, lat, lon
	}
}

func request(user string, at time.Time, opts ...requestOption) *decision.Request {
	r := &decision.Request{Tenant: "acme", Environment: "production", Subject: decision.Subject{ID: user},
		Action: decision.Action{Name: "api.read"}, Time: at}
	for _, o := range opts {
		o(r)
	}
	return r
}

func (f *fixture) enrich(t testing.TB, r *decision.Request) decision.Signals {
	t.Helper()
	if err := f.enr.Enrich(context.Background(), r); err != nil {
		t.Fatalf("Enrich: %v", err)
	}
	return r.Signals
}
