package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/netip"
	"os"
	"testing"
	"testing/fstest"
	"time"

	pdp "github.com/pdp-dev/pdp"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

// demoTenants reads testdata/tenants.json: tenant acme with a complete
// effective policy for production and a report-only staging.
func demoTenants(tb testing.TB) map[string]any {
	tb.Helper()
	raw, err := os.ReadFile("testdata/tenants.json")
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keeps nanosecond timestamps exact
	var tenants map[string]any
	if err := dec.Decode(&tenants); err != nil {
		tb.Fatal(err)
	}
	return tenants
}

// coreLibrary is a library holding only the real core.rego (and the given
// extra modules), so that tests of the Go/Rego contract do not depend on
// the other control modules.
func coreLibrary(tb testing.TB, extra map[string]string) fs.FS {
	tb.Helper()
	core, err := fs.ReadFile(pdp.Policies, "rego/core.rego")
	if err != nil {
		tb.Fatal(err)
	}
	lib := fstest.MapFS{"rego/core.rego": {Data: core}}
	for name, src := range extra {
		lib[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return lib
}

// loaded returns an engine with b loaded.
func loaded(tb testing.TB, opts Options, b Bundle) *Engine {
	tb.Helper()
	e := New(opts)
	if _, err := e.Load(context.Background(), b); err != nil {
		tb.Fatal(err)
	}
	return e
}

// demoRequest is a realistic request of a developer of acme.
func demoRequest() *decision.Request {
	now := time.Date(2026, 3, 3, 10, 15, 0, 0, time.UTC)
	return &decision.Request{
		Tenant:      "acme",
		Environment: "production",
		Subject: decision.Subject{
			ID: "u-42", Email: "ada@acme.com", Roles: []string{"developer"}, Groups: []string{"eng"},
			MFAEnrolled: true, CreatedAt: now.AddDate(-1, 0, 0), Tenant: "acme",
		},
		Authentication: decision.Authentication{
			Provider: "google", Methods: []string{"pwd", "otp"}, ACR: "aal2",
			AuthenticatedAt: now.Add(-30 * time.Minute), MFAVerifiedAt: now.Add(-30 * time.Minute),
		},
		Network: decision.Network{
			IP: netip.MustParseAddr("203.0.113.7"), Country: "PT", City: "Lisbon",
			HasLocation: true, Latitude: 38.72, Longitude: -9.14, ASN: 64500,
		},
		Device:  decision.Device{ID: "d-7", Platform: "macos", Managed: true, Compliant: true},
		Action:  decision.Action{Name: "api.read", Resource: "/v1/projects/9"},
		Session: decision.Session{ID: "s-9", StartedAt: now.Add(-30 * time.Minute), LastActivityAt: now.Add(-time.Minute)},
		Time:    now,
		Caller:  decision.Caller{Name: "gateway", Role: "pep"},
		Signals: decision.Signals{
			IP: decision.IPSignals{Checked: true},
			Profile: decision.ProfileSignals{
				Known: true, DeviceKnown: true, LoginCount: 40, Countries: []string{"PT"},
				HourUsual: true, ActionSeen: true,
				Travel: decision.Travel{Known: true, DistanceKm: 2, SpeedKmh: 1, FromCountry: "PT", Since: now.Add(-2 * time.Hour)},
			},
		},
	}
}
