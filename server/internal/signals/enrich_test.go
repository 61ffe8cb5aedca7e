package signals

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func suspension(on bool, reason string) store.Suspension {
	return store.Suspension{Suspended: on, Reason: reason, At: t0, By: "test"}
}

func TestIPSignals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	prod := ipset.Scope{Tenant: "acme", Environment: "production"}
	err := f.ips.Update(func(b *ipset.Builder) error {
		return errors.Join(
			b.Add(ipset.Entry{Scope: prod, List: ipset.Allow, Prefix: netip.MustParsePrefix("198.51.100.0/24"), Source: ipset.SourceTenantPolicy}),
			b.Add(ipset.Entry{List: ipset.Deny, Prefix: netip.MustParsePrefix("2001:db8::/32"), Source: "import:firehol"}),
			b.Add(ipset.Entry{Scope: ipset.Scope{Tenant: "acme"}, List: ipset.Deny, Prefix: netip.MustParsePrefix("203.0.113.9/32"),
				Source: ipset.SourceAutoBlock, ExpiresAt: t0.Add(time.Hour)}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ip   string
		wall time.Time
		want decision.IPSignals
	}{
		{"allowed", "198.51.100.7", t0, decision.IPSignals{Checked: true, Allowed: true}},
		{"denied globally", "2001:db8::1", t0,
			decision.IPSignals{Checked: true, Denied: true, DeniedBy: "2001:db8::/32 (import:firehol)"}},
		{"auto-blocked", "203.0.113.9", t0,
			decision.IPSignals{Checked: true, Denied: true, DeniedBy: "203.0.113.9/32 (auto-block)"}},
		{"auto-block expired by the wall clock", "203.0.113.9", t0.Add(time.Hour), decision.IPSignals{Checked: true}},
		{"unlisted", "192.0.2.1", t0, decision.IPSignals{Checked: true}},
	}
	for _, tc := range tests {
		f.wall = tc.wall
		// The request time does not decide expiry: only the wall clock does.
		sig := f.enrich(t, request("u1", t0, rqIP(netip.MustParseAddr(tc.ip))))
		if d := cmp.Diff(tc.want, sig.IP); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	if sig := f.enrich(t, request("u1", t0)); sig.IP.Checked {
		t.Error("signals.ip computed for a request without an IP")
	}
	g := newFixture(t, withoutIPs())
	if sig := g.enrich(t, request("u1", t0, rqIP(ipA))); sig.IP.Checked {
		t.Error("signals.ip computed without IP lists")
	}
}

func TestGeoAndSSO(t *testing.T) {
	t.Parallel()
	geo := fakeGeo{ipA: {Country: "BR", City: "São Paulo", HasLocation: true, Latitude: -23.5, Longitude: -46.6}}
	f := newFixture(t, withGeo(geo))
	sig := f.enrich(t, request("u1", t0, rqIP(ipA)))
	want := decision.GeoSignals{Found: true, Country: "BR", City: "São Paulo", HasLocation: true, Latitude: -23.5, Longitude: -46.6}
	if d := cmp.Diff(want, sig.Geo); d != "" {
		t.Errorf("geo (-want +got):\n%s", d)
	}
	if sig.SSOKnown {
		t.Error("SSO known before an admin set it")
	}
	if sig := f.enrich(t, request("u1", t0, rqIP(ipB))); sig.Geo.Found {
		t.Error("geo found for an unknown IP")
	}
	if err := f.store.SetSSOStatus(t.Context(), "acme", store.SSOStatus{Available: false, Reason: "outage", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	sig = f.enrich(t, request("", t0))
	if !sig.SSOKnown || sig.SSOAvailable {
		t.Errorf("SSOKnown %v, SSOAvailable %v; want true, false", sig.SSOKnown, sig.SSOAvailable)
	}
	if !sig.SSODownSince.Equal(t0) {
		t.Errorf("SSODownSince %v, want %v (when it was marked down)", sig.SSODownSince, t0)
	}
	other := request("", t0)
	other.Tenant = "globex"
	if sig := f.enrich(t, other); sig.SSOKnown {
		t.Error("globex sees acme's SSO status")
	}
}

func TestEnrichReplacesOldSignals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.report(t, decision.EventLoginSucceeded, "u1", t0, evCountry("PT"), evCountry("PT"))
	req := request("nobody", t0)
	req.Signals = decision.Signals{SSOKnown: true, IP: decision.IPSignals{Checked: true, Denied: true},
		Profile: decision.ProfileSignals{Known: true, Countries: make([]string, 0, 8)}}
	sig := f.enrich(t, req)
	// A user without history: the profile group is computed, nothing known.
	if d := cmp.Diff(decision.Signals{Profile: decision.ProfileSignals{Known: true}}, sig, cmpSignals); d != "" {
		t.Errorf("stale signals survived (-want +got):\n%s", d)
	}
	req.Subject.ID = "u1"
	before := cap(req.Signals.Profile.Countries)
	sig = f.enrich(t, req)
	if cap(sig.Profile.Countries) != before || len(sig.Profile.Countries) != 1 {
		t.Errorf("countries %v (cap %d) did not reuse the capacity %d", sig.Profile.Countries, cap(sig.Profile.Countries), before)
	}
}

func TestEnrichWithoutTimeUsesTheClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.report(t, decision.EventLoginSucceeded, "u1", t0.Add(-100*day), evDevice("old"))
	if sig := f.enrich(t, request("u1", time.Time{}, rqDevice("old"))); sig.Profile.DeviceKnown {
		t.Error("a device from 100 days before the clock is known")
	}
}

func TestEnrichReturnsStoreFaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_ = f.store.Close()
	err := f.enr.Enrich(t.Context(), request("u1", t0))
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("Enrich on a closed store = %v, want Unavailable", err)
	}
	bare := NewEnricher(Options{})
	if err := bare.Enrich(t.Context(), request("u1", t0, rqIP(ipA))); err != nil {
		t.Errorf("an enricher without state failed: %v", err)
	}
}

func TestEnrichAllocations(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		f.report(t, decision.EventLoginSucceeded, "u1", t0.Add(time.Duration(i)*time.Hour),
			evDevice("laptop"), evCountry("PT"), evIP(ipA), evAt(38.7, -9.1), evAction("login"))
	}
	req := request("u1", t0.Add(day), rqDevice("laptop"), rqIP(ipA), rqAt(38.7, -9.1))
	f.enrich(t, req)
	ctx := t.Context()
	allocs := testing.AllocsPerRun(200, func() {
		if err := f.enr.Enrich(ctx, req); err != nil {
			t.Fatal(err)
		}
	})
	// The race detector makes sync.Pool drop items at random: allow one.
	if allocs > 1 {
		t.Errorf("Enrich allocates %v times per request with a profile", allocs)
	}
}
