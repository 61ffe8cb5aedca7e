package signals

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

func TestDeviceKnown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.report(t, decision.EventLoginSucceeded, "u1", t0, evDevice("laptop"))
	f.report(t, decision.EventMFASucceeded, "u1", t0, evDevice("phone"))
	f.report(t, decision.EventActivity, "u1", t0.Add(time.Hour), evDevice("kiosk"))
	f.report(t, decision.EventLoginFailed, "u1", t0.Add(time.Hour), evDevice("stolen"))
	tests := []struct {
		name   string
		device string
		at     time.Time
		want   bool
	}{
		{"seen at login", "laptop", t0.Add(time.Hour), true},
		{"seen at MFA", "phone", t0.Add(time.Hour), true},
		{"exactly 90 days later", "laptop", t0.Add(90 * day), true},
		{"just past 90 days", "laptop", t0.Add(90*day + time.Nanosecond), false},
		{"activity does not make a device known", "kiosk", t0.Add(2 * time.Hour), false},
		{"a failed login does not either", "stolen", t0.Add(2 * time.Hour), false},
		{"never seen", "other", t0.Add(time.Hour), false},
		{"no device id", "", t0.Add(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig := f.enrich(t, request("u1", tc.at, rqDevice(tc.device)))
			if !sig.Profile.Known || sig.Profile.DeviceKnown != tc.want {
				t.Errorf("Known %v, DeviceKnown = %v; want true, %v", sig.Profile.Known, sig.Profile.DeviceKnown, tc.want)
			}
		})
	}
}

func TestCountriesAndLoginCount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.report(t, decision.EventLoginSucceeded, "u1", t0, evCountry("PT"))
	for i := range 9 {
		f.report(t, decision.EventLoginSucceeded, "u1", t0.Add(10*day+time.Duration(i)*time.Hour), evCountry("BR"))
	}
	f.report(t, decision.EventActivity, "u1", t0.Add(11*day), evCountry("US"))
	tests := []struct {
		name      string
		at        time.Time
		countries []string
		logins    int
	}{
		{"all within the lookback", t0.Add(11 * day), []string{"PT", "BR"}, 10},
		{"exactly 90 days after the first", t0.Add(90 * day), []string{"PT", "BR"}, 10},
		{"just past 90 days", t0.Add(90*day + time.Nanosecond), []string{"BR"}, 10}, // days count whole
		{"a day later", t0.Add(91 * day), []string{"BR"}, 9},
		{"everything old", t0.Add(200 * day), nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sig := f.enrich(t, request("u1", tc.at))
			if d := cmp.Diff(tc.countries, sig.Profile.Countries, cmpSignals); d != "" {
				t.Errorf("countries (-want +got):\n%s", d)
			}
			if sig.Profile.LoginCount != tc.logins {
				t.Errorf("LoginCount = %d, want %d", sig.Profile.LoginCount, tc.logins)
			}
		})
	}
}

func TestHourUsual(t *testing.T) {
	t.Parallel()
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		login time.Time
		req   time.Time
		want  bool
	}{
		{"same hour", at(10, 10, 30), at(11, 10, 5), true},
		{"one hour earlier", at(10, 10, 30), at(11, 9, 0), true},
		{"one hour later, end of the hour", at(10, 10, 30), at(11, 11, 59), true},
		{"two hours later", at(10, 10, 30), at(11, 12, 0), false},
		{"two hours earlier", at(10, 10, 30), at(11, 8, 59), false},
		{"wraps forward past midnight", at(10, 23, 10), at(11, 0, 30), true},
		{"wraps backward past midnight", at(10, 0, 20), at(11, 23, 50), true},
		{"two hours across midnight", at(10, 23, 10), at(11, 1, 0), false},
		{"other timezone, same instant", at(10, 10, 30), at(11, 10, 0).In(time.FixedZone("X", 5*3600)), true},
		{"exactly 90 days later", at(10, 10, 30), at(10, 10, 30).Add(90 * day), true},
		{"past 90 days", at(10, 10, 30), at(10, 10, 30).Add(90*day + time.Nanosecond), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.report(t, decision.EventLoginSucceeded, "u1", tc.login)
			if sig := f.enrich(t, request("u1", tc.req)); sig.Profile.HourUsual != tc.want {
				t.Errorf("HourUsual = %v, want %v", sig.Profile.HourUsual, tc.want)
			}
		})
	}
}

func TestActionSeen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.report(t, decision.EventActivity, "u1", t0, evAction("admin.users.delete"))
	f.report(t, decision.EventLoginSucceeded, "u1", t0, evAction("login"))
	f.report(t, decision.EventLoginFailed, "u1", t0, evAction("export.all"))
	tests := []struct {
		name, action string
		at           time.Time
		want         bool
	}{
		{"reported", "admin.users.delete", t0.Add(time.Hour), true},
		{"exactly 90 days later", "admin.users.delete", t0.Add(90 * day), true},
		{"just past 90 days", "admin.users.delete", t0.Add(90*day + time.Nanosecond), false},
		{"another action", "admin.users.create", t0.Add(time.Hour), false},
		{"only in a failed login", "export.all", t0.Add(time.Hour), false},
		{"from a login event", "login", t0.Add(time.Hour), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if sig := f.enrich(t, request("u1", tc.at, rqAction(tc.action))); sig.Profile.ActionSeen != tc.want {
				t.Errorf("ActionSeen = %v, want %v", sig.Profile.ActionSeen, tc.want)
			}
		})
	}
}

func TestSuspensionAndMFAReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	if err := f.store.SetSuspension(ctx, "acme", "u1", suspension(true, "privilege escalation")); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ResetMFA(ctx, "acme", "u1", t0); err != nil {
		t.Fatal(err)
	}
	want := decision.ProfileSignals{Known: true, Suspended: true, SuspendedReason: "privilege escalation", MFAResetAt: t0}
	if d := cmp.Diff(want, f.enrich(t, request("u1", t0.Add(time.Hour))).Profile, cmpSignals); d != "" {
		t.Errorf("profile (-want +got):\n%s", d)
	}
	if err := f.store.SetSuspension(ctx, "acme", "u1", suspension(false, "cleared")); err != nil {
		t.Fatal(err)
	}
	want = decision.ProfileSignals{Known: true, MFAResetAt: t0}
	if d := cmp.Diff(want, f.enrich(t, request("u1", t0.Add(time.Hour))).Profile, cmpSignals); d != "" {
		t.Errorf("profile after lifting (-want +got):\n%s", d)
	}
}
