package signals

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// fixedSSF answers every request with the same events, or an error.
type fixedSSF struct {
	events []decision.SSFEvent
	err    error
}

func (f fixedSSF) Read(_ context.Context, _ *decision.Request, _ time.Time, dst *decision.SSFSignals) error {
	dst.Events = append(dst.Events[:0], f.events...)
	return f.err
}

func TestEnrichAddsSharedSignalsAndMarksAReportedDeviceNonCompliant(t *testing.T) {
	notCompliant := decision.SSFEvent{Event: "device-compliance-change", Stream: "okta", JTI: "j1", Status: "not-compliant", At: t0}
	tests := []struct {
		name          string
		policy        map[string]any // the environment's shared_signals; nil: not set
		events        []decision.SSFEvent
		wantCompliant bool
	}{
		{"a device reported not compliant", nil, []decision.SSFEvent{notCompliant}, false},
		{"the tenant enforces it", map[string]any{"device_compliance": tenantdata.EffectEnforce}, []decision.SSFEvent{notCompliant}, false},
		{"the tenant only reports it", map[string]any{"device_compliance": tenantdata.EffectReportOnly}, []decision.SSFEvent{notCompliant}, true},
		{"the tenant turned it off", map[string]any{"device_compliance": tenantdata.EffectOff}, []decision.SSFEvent{notCompliant}, true},
		{"another event", nil, []decision.SSFEvent{{Event: "session-revoked", JTI: "j2", At: t0}}, true},
	}
	for _, tt := range tests {
		env := map[string]any{}
		if tt.policy != nil {
			env["shared_signals"] = tt.policy
		}
		settings := PolicySettings(map[string]any{"acme": map[string]any{"environments": map[string]any{"production": env}}})
		e := NewEnricher(Options{SSF: fixedSSF{events: tt.events}, Settings: settings})
		req := &decision.Request{Tenant: "acme", Environment: "production", Time: t0, Device: decision.Device{ID: "d1", Managed: true, Compliant: true}}
		if err := e.Enrich(context.Background(), req); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(req.Signals.SSF.Events) != len(tt.events) || req.Signals.SSF.Events[0].JTI != tt.events[0].JTI {
			t.Errorf("%s: signals.ssf %+v, want the reader's events", tt.name, req.Signals.SSF)
		}
		if req.Device.Compliant != tt.wantCompliant {
			t.Errorf("%s: device compliant %v, want %v", tt.name, req.Device.Compliant, tt.wantCompliant)
		}
	}
}

func TestEnrichReturnsSharedSignalsFaults(t *testing.T) {
	boom := errors.New("store down")
	e := NewEnricher(Options{SSF: fixedSSF{err: boom}})
	if err := e.Enrich(context.Background(), &decision.Request{Tenant: "acme", Time: t0}); !errors.Is(err, boom) {
		t.Fatalf("Enrich: %v, want the reader's error", err)
	}
}

func TestEnrichingAgainWithOtherSettingsStartsFromTheReportedCompliance(t *testing.T) {
	notCompliant := decision.SSFEvent{Event: "device-compliance-change", Stream: "okta", JTI: "j1", Status: "not-compliant", At: t0}
	e := NewEnricher(Options{SSF: fixedSSF{events: []decision.SSFEvent{notCompliant}}})
	for _, reported := range []bool{true, false} {
		req := &decision.Request{Tenant: "acme", Environment: "production", Time: t0, Device: decision.Device{ID: "d1", Managed: true, Compliant: reported}}
		steps := []struct {
			name string
			set  Settings
			want bool
		}{
			{"enforced", Settings{}, false},
			{"kept by a candidate", Settings{DeviceComplianceKept: true}, reported},
			{"enforced again", Settings{}, false},
			{"kept again", Settings{DeviceComplianceKept: true}, reported},
		}
		for _, s := range steps {
			if err := e.EnrichWith(context.Background(), req, s.set); err != nil {
				t.Fatal(err)
			}
			if req.Device.Compliant != s.want {
				t.Errorf("reported compliant %v, %s: device compliant %v, want %v", reported, s.name, req.Device.Compliant, s.want)
			}
		}
	}
}
