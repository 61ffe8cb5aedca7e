package replay_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/replay"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// settingsServer is the decision path of pdp serve with the signal
// settings of its tenant files (the failed-login window, device
// compliance), as the app wires it.
type settingsServer struct {
	svc      *decide.Service
	enricher *signals.Enricher
}

func newSettingsServer(t *testing.T, policyDir, tenantsDir string, shadow func(*signals.Enricher) *replay.Shadow) *settingsServer {
	t.Helper()
	opts, e := decisionPath(t, policyDir, tenantsDir, signals.PolicySettings)
	if shadow != nil {
		opts.Shadow = shadow(e)
	}
	svc, err := decide.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &settingsServer{svc: svc, enricher: e}
}

// bruteForce reports six failed logins of u-bf an hour before at, a
// minute apart: outside acme production's 15m window, inside 2h.
func (s *settingsServer) bruteForce(t *testing.T, at time.Time) {
	t.Helper()
	for i := range 6 {
		ev := &decision.Event{Tenant: "acme", Environment: "production", Kind: decision.EventLoginFailed,
			Subject: decision.Subject{ID: "u-bf", Email: "u-bf@acme.com", Tenant: "acme"},
			Network: decision.Network{IP: netip.MustParseAddr("203.0.113.7")},
			Time:    at.Add(-time.Hour + time.Duration(i)*time.Minute)}
		if _, err := s.svc.Report(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// bruteForced is u-bf's request at at, which only failed logins make
// anything but an allow.
func bruteForced(at time.Time) decision.Request {
	return decision.Request{
		Tenant: "acme", Environment: "production",
		Subject: decision.Subject{ID: "u-bf", Email: "u-bf@acme.com", Roles: []string{"engineer"}, MFAEnrolled: true,
			CreatedAt: base.AddDate(-1, 0, 0), Tenant: "acme"},
		Authentication: decision.Authentication{Provider: "google", Methods: []string{"pwd", "webauthn"},
			AuthenticatedAt: at.Add(-2 * time.Hour), MFAVerifiedAt: at.Add(-2 * time.Hour)},
		Network: decision.Network{IP: netip.MustParseAddr("203.0.113.7"), Country: "DE"},
		Device:  decision.Device{ID: "d-1", Platform: "macos", Managed: true, Compliant: true},
		Action:  decision.Action{Name: "api.read"},
		Session: decision.Session{ID: "s-bf", StartedAt: at.Add(-2 * time.Hour), LastActivityAt: at.Add(-time.Minute)},
		Time:    at,
	}
}

// TestShadowCountsFailedLoginsInTheCandidatesOwnWindow puts in shadow a
// candidate that counts failed logins over 2h instead of the live 15m: a
// user who failed six times an hour ago is decided as the candidate,
// serving live, decides them, not with the live set's counts.
func TestShadowCountsFailedLoginsInTheCandidatesOwnWindow(t *testing.T) {
	t.Parallel()
	livePolicies, liveTenants := demoSet(t)
	candPolicies, candTenants := demoSet(t)
	edit(t, filepath.Join(candTenants, "acme.yaml"), "failed_logins_window: 15m", "failed_logins_window: 2h")
	cand, err := replay.Load(context.Background(), []string{candPolicies}, candTenants)
	if err != nil {
		t.Fatal(err)
	}
	at := base.Add(10 * time.Hour) // Wednesday 19:00 UTC: 20:00 in Berlin, outside business hours

	var shadow *replay.Shadow
	live := newSettingsServer(t, livePolicies, liveTenants, func(e *signals.Enricher) *replay.Shadow {
		shadow, err = replay.NewShadow(replay.ShadowOptions{Sample: 1, Signals: e})
		if err != nil {
			t.Fatal(err)
		}
		return shadow
	})
	defer shadow.Close()
	if _, err := shadow.PutTenant(context.Background(), "acme", "", func(context.Context) (*replay.Candidate, error) { return cand, nil }); err != nil {
		t.Fatal(err)
	}
	served := newSettingsServer(t, candPolicies, candTenants, nil) // the candidate, serving live
	live.bruteForce(t, at)
	served.bruteForce(t, at)

	req := bruteForced(at)
	got, err := live.svc.Check(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	req = bruteForced(at)
	want, err := served.svc.Check(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	from, to := replay.OutcomeOf(got).String(), replay.OutcomeOf(want).String()
	if from == to {
		t.Fatalf("live and candidate both decide %s: the test proves nothing", from)
	}
	if err := shadow.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	impact, _ := shadow.TenantImpact("acme")
	if impact.Evaluated != 1 || impact.Changed != 1 || impact.Transitions[replay.Transition{From: from, To: to}] != 1 {
		t.Errorf("shadow observed %d decisions, %v; want the live %s become the candidate's %s", impact.Evaluated, impact.Transitions, from, to)
	}
}

// notCompliantInput is u-bf's request as a decision log line holds it,
// with a Shared Signals report that its device is not compliant and the
// device's compliance as recorded.
func notCompliantInput(t *testing.T, compliant bool) map[string]any {
	t.Helper()
	req := bruteForced(base.Add(10 * time.Hour))
	req.Device.Compliant = compliant
	req.Signals.SSF.Events = []decision.SSFEvent{{Event: "device-compliance-change", Stream: "okta", JTI: "j1", Status: "not-compliant", At: base}}
	in, err := engine.InputJSON(&req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func factorNames(d *decision.Decision) []string {
	var out []string
	for _, f := range d.Risk.Factors {
		out = append(out, f.Name)
	}
	return out
}

// TestReplayAppliesTheCandidatesDeviceCompliance replays a decision whose
// device a Shared Signals stream reported not compliant: a candidate that
// enforces device compliance marks it non-compliant as its server would,
// and one that keeps it says the decision is approximate when the
// recorded input says non-compliant (the server may have set it).
func TestReplayAppliesTheCandidatesDeviceCompliance(t *testing.T) {
	t.Parallel()
	enforcePolicies, enforceTenants := demoSet(t)
	enforce, err := replay.Load(context.Background(), []string{enforcePolicies}, enforceTenants)
	if err != nil {
		t.Fatal(err)
	}
	keepPolicies, keepTenants := demoSet(t)
	edit(t, filepath.Join(keepTenants, "acme.yaml"), "    compliance: [SOX]\n", "    compliance: [SOX]\n    shared_signals:\n      device_compliance: report_only\n")
	keep, err := replay.Load(context.Background(), []string{keepPolicies}, keepTenants)
	if err != nil {
		t.Fatal(err)
	}

	recordedCompliant, _, err := enforce.Decide(context.Background(), notCompliantInput(t, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	markedByTheServer, _, err := enforce.Decide(context.Background(), notCompliantInput(t, false), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := factorNames(recordedCompliant), factorNames(markedByTheServer); !slices.Contains(got, "untrusted_device") || !slices.Equal(got, want) {
		t.Errorf("enforcing candidate, recorded compliant: risk factors %v, want those of the device marked non-compliant %v", got, want)
	}

	d, approx, err := keep.Decide(context.Background(), notCompliantInput(t, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(factorNames(d), "untrusted_device") || len(approx) != 0 {
		t.Errorf("keeping candidate, recorded compliant: risk factors %v, approximate in %v; want a trusted device, exactly", factorNames(d), approx)
	}
	if _, approx, err = keep.Decide(context.Background(), notCompliantInput(t, false), nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(approx, []string{replay.ApproxDeviceCompliant}) {
		t.Errorf("keeping candidate, recorded non-compliant: approximate in %v, want %s", approx, replay.ApproxDeviceCompliant)
	}
}
