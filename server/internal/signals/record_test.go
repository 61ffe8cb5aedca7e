package signals

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func TestRecordReturnsUniqueV7IDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seen := map[string]bool{}
	for i := range 50 {
		e := &decision.Event{Tenant: "acme", Kind: decision.EventActivity, Subject: decision.Subject{ID: "u1"}, Time: t0.Add(time.Duration(i))}
		id, err := f.rec.Record(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Fatalf("id %q is not a UUIDv7 (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestRecordOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.report(t, decision.EventLoginFailed, "u2", t0, evIP(ipA))
	rec := f.report(t, decision.EventLoginFailed, "u1", t0.Add(time.Minute), evIP(ipA))
	want := store.Outcome{FirstEvent: true, UserFailedLogins: 1, IPFailedLogins: 2, IPFailedUsers: 2}
	if d := cmp.Diff(want, rec.Outcome); d != "" {
		t.Errorf("outcome (-want +got):\n%s", d)
	}
	rec = f.report(t, decision.EventLoginSucceeded, "u1", t0.Add(2*time.Minute), evDevice("d1"), evCountry("PT"))
	want = store.Outcome{NewDevice: true, NewCountry: true, LoginCount: 1, UserFailedLogins: 1}
	if d := cmp.Diff(want, rec.Outcome); d != "" {
		t.Errorf("outcome (-want +got):\n%s", d)
	}
}

func TestRecordFillsTimeEnvironmentAndLocation(t *testing.T) {
	t.Parallel()
	geo := fakeGeo{ipA: {Country: "BR", City: "São Paulo", HasLocation: true, Latitude: -23.5, Longitude: -46.6}}
	f := newFixture(t, withGeo(geo))
	e := &decision.Event{Tenant: "acme", Kind: decision.EventLoginSucceeded, Subject: decision.Subject{ID: "u1"}}
	e.Network.IP = ipA
	orig := *e
	rec, err := f.rec.Apply(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(orig, *e, cmpNetip); d != "" {
		t.Errorf("Apply changed the caller's event (-before +after):\n%s", d)
	}
	got := rec.Event
	if !got.Time.Equal(f.wall) || got.Environment != decision.DefaultEnvironment {
		t.Errorf("time %v, environment %q; want the clock and the default", got.Time, got.Environment)
	}
	wantNet := decision.Network{IP: ipA, Country: "BR", City: "São Paulo", HasLocation: true, Latitude: -23.5, Longitude: -46.6}
	if d := cmp.Diff(wantNet, got.Network, cmpNetip); d != "" {
		t.Errorf("network (-want +got):\n%s", d)
	}
	p, err := store.LoadProfile(context.Background(), f.store, "acme", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if p.LastLogin.Country != "BR" || !p.LastLogin.HasLocation {
		t.Errorf("last login %+v lacks the GeoIP location", p.LastLogin)
	}

	// What the event reports wins over GeoIP.
	e = &decision.Event{Tenant: "acme", Kind: decision.EventLoginSucceeded, Subject: decision.Subject{ID: "u1"}, Time: t0}
	e.Network = decision.Network{IP: ipA, Country: "PT", HasLocation: true, Latitude: 38.7, Longitude: -9.1}
	rec, err = f.rec.Apply(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(e.Network, rec.Event.Network, cmpNetip); d != "" {
		t.Errorf("GeoIP overrode the reported location (-want +got):\n%s", d)
	}
	// A reported country without coordinates keeps the country and gains
	// the coordinates.
	e.Network = decision.Network{IP: ipA, Country: "AR"}
	rec, err = f.rec.Apply(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.Event.Network; n.Country != "AR" || n.City != "" || !n.HasLocation {
		t.Errorf("network %+v: want AR with GeoIP coordinates", n)
	}
}

func TestRecordErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.rec.Record(context.Background(), nil); !errors.Is(err, fault.ErrInvalidArgument) {
		t.Errorf("Record(nil) = %v, want InvalidArgument", err)
	}
	if _, err := f.rec.Record(context.Background(), &decision.Event{Kind: decision.EventActivity, Time: t0}); !errors.Is(err, fault.ErrInvalidArgument) {
		t.Errorf("Record without tenant = %v, want InvalidArgument", err)
	}
	broken := NewRecorder(RecorderOptions{State: f.store, NewID: func() (string, error) { return "", errors.New("entropy gone") }})
	if _, err := broken.Record(context.Background(), &decision.Event{Tenant: "acme", Kind: decision.EventActivity, Time: t0}); !errors.Is(err, &fault.Error{Code: fault.Internal}) {
		t.Errorf("Record with a failing id source = %v, want Internal", err)
	}
	_ = f.store.Close()
	id, err := f.rec.Record(context.Background(), &decision.Event{Tenant: "acme", Kind: decision.EventActivity, Time: t0})
	if !errors.Is(err, fault.ErrUnavailable) || id != "" {
		t.Errorf("Record on a closed store = %q, %v; want no id, Unavailable", id, err)
	}
}

func TestPolicySettings(t *testing.T) {
	t.Parallel()
	doc := map[string]any{
		"acme": map[string]any{"environments": map[string]any{
			"production": map[string]any{"incident": map[string]any{"failed_logins_window_ns": int64(10 * time.Minute)}},
			"staging":    map[string]any{"incident": map[string]any{"failed_logins_window_ns": float64(time.Hour)}},
			"dev":        map[string]any{"incident": map[string]any{}},
		}},
		"broken": "not a tenant",
	}
	fn := PolicySettings(doc)
	def := Settings{Lookback: store.DefaultLookback, FailureWindow: store.DefaultFailureWindow, SuspiciousIPUsers: DefaultSuspiciousIPUsers}
	tests := []struct {
		tenant, env string
		want        Settings
	}{
		{"acme", "production", Settings{Lookback: def.Lookback, FailureWindow: 10 * time.Minute, SuspiciousIPUsers: 3}},
		{"acme", "staging", Settings{Lookback: def.Lookback, FailureWindow: time.Hour, SuspiciousIPUsers: 3}},
		{"acme", "dev", def},
		{"acme", "other", def},
		{"globex", "production", def},
		{"broken", "production", def},
	}
	for _, tc := range tests {
		if d := cmp.Diff(tc.want, fn(tc.tenant, tc.env)); d != "" {
			t.Errorf("%s/%s (-want +got):\n%s", tc.tenant, tc.env, d)
		}
	}
	big := Settings{Lookback: 10 * store.MaxLookback, FailureWindow: 10 * store.MaxFailureWindow}.Normalized()
	if big.Lookback != store.MaxLookback || big.FailureWindow != store.MaxFailureWindow {
		t.Errorf("Normalized does not clamp: %+v", big)
	}
}

func TestPolicyIndexWithReadsOnlyTheChangedTenants(t *testing.T) {
	t.Parallel()
	window := func(d time.Duration) map[string]any {
		return map[string]any{"incident": map[string]any{"failed_logins_window_ns": int64(d)}}
	}
	before := map[string]any{
		"acme":    map[string]any{"environments": map[string]any{"production": window(10 * time.Minute), "staging": window(time.Hour)}},
		"globex":  map[string]any{"environments": map[string]any{"production": window(20 * time.Minute)}},
		"initech": map[string]any{"environments": map[string]any{"production": window(30 * time.Minute)}},
	}
	after := map[string]any{
		"acme":   map[string]any{"environments": map[string]any{"production": window(40 * time.Minute)}},
		"globex": map[string]any{"environments": map[string]any{"production": window(50 * time.Minute)}},
		"hooli":  map[string]any{"environments": map[string]any{"dev": window(time.Minute)}},
	}
	old := NewPolicyIndex(before)
	// globex is not named: it keeps what the index read before.
	got := old.With(after, map[string]bool{"acme": true, "initech": true, "hooli": true})
	want := NewPolicyIndex(after)
	for _, tenant := range []string{"acme", "initech", "hooli", "other"} {
		for _, env := range []string{"production", "staging", "dev"} {
			if d := cmp.Diff(want.Settings(tenant, env), got.Settings(tenant, env)); d != "" {
				t.Errorf("%s/%s (-new index +With):\n%s", tenant, env, d)
			}
		}
	}
	if w := got.Settings("globex", "production").FailureWindow; w != 20*time.Minute {
		t.Errorf("globex, not named, has window %v, want the 20m read before", w)
	}
	if w := old.Settings("acme", "staging").FailureWindow; w != time.Hour {
		t.Errorf("With changed the index it started from: acme/staging window %v", w)
	}
}
