package signals

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ipset"
)

func TestFailedLoginsFollowTheTenantWindow(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"acme": map[string]any{"environments": map[string]any{
		"production": map[string]any{"incident": map[string]any{"failed_logins_window_ns": int64(10 * time.Minute)}},
	}}}
	f := newFixture(t, withSettings(PolicySettings(doc)))
	for _, m := range []time.Duration{0, time.Minute, 2 * time.Minute} {
		f.report(t, decision.EventLoginFailed, "u1", t0.Add(m), evIP(ipA))
	}
	tests := []struct {
		name string
		at   time.Time
		want int
	}{
		{"three within the window", t0.Add(2 * time.Minute), 3},
		{"first exactly one window old", t0.Add(10 * time.Minute), 3},
		{"first just out of the window", t0.Add(10*time.Minute + time.Nanosecond), 2},
		{"all out", t0.Add(12*time.Minute + time.Nanosecond), 0},
	}
	for _, tc := range tests {
		sig := f.enrich(t, request("u1", tc.at))
		if sig.Profile.FailedLogins != tc.want {
			t.Errorf("%s: FailedLogins = %d, want %d", tc.name, sig.Profile.FailedLogins, tc.want)
		}
	}
}

func TestFailuresFromAnIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		users      int
		suspicious bool
	}{
		{"two users", 2, false},
		{"three users", 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for i := range tc.users {
				f.report(t, decision.EventLoginFailed, fmt.Sprintf("victim-%d", i), t0, evIP(ipA))
				f.report(t, decision.EventLoginFailed, fmt.Sprintf("victim-%d", i), t0, evIP(ipA))
			}
			f.report(t, decision.EventLoginSucceeded, "u1", t0.Add(-day))
			sig := f.enrich(t, request("u1", t0.Add(time.Minute), rqIP(ipA)))
			p := sig.Profile
			if p.IPFailedUsers != tc.users || p.IPFailedLogins != 2*tc.users || p.FailedLogins != 0 {
				t.Errorf("profile counters %d users, %d logins, %d own; want %d, %d, 0",
					p.IPFailedUsers, p.IPFailedLogins, p.FailedLogins, tc.users, 2*tc.users)
			}
			want := decision.IPSignals{Checked: true, Suspicious: tc.suspicious}
			if tc.suspicious {
				want.SuspiciousBy = "failed logins of 3 distinct users within 15m0s"
			}
			if d := cmp.Diff(want, sig.IP); d != "" {
				t.Errorf("ip signals (-want +got):\n%s", d)
			}
			// A user without a profile still sees the IP's reputation and
			// its failure counters, with nothing of its own known.
			got := f.enrich(t, request("newcomer", t0.Add(time.Minute), rqIP(ipA)))
			if got.IP != want || !got.Profile.Known || got.Profile.LoginCount != 0 ||
				got.Profile.IPFailedLogins != 2*tc.users || got.Profile.IPFailedUsers != tc.users {
				t.Errorf("newcomer: ip %+v, profile %+v", got.IP, got.Profile)
			}
			// Past the window the IP is clean again.
			if got := f.enrich(t, request("u1", t0.Add(16*time.Minute), rqIP(ipA))); got.IP.Suspicious || got.Profile.IPFailedUsers != 0 {
				t.Errorf("after the window: %+v", got)
			}
		})
	}
}

func TestListedSuspiciousWinsOverCounters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	err := f.ips.Update(func(b *ipset.Builder) error {
		return b.Add(ipset.Entry{List: ipset.Suspicious, Prefix: netip.MustParsePrefix("198.51.100.0/24"), Source: "import:firehol"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f.report(t, decision.EventLoginFailed, fmt.Sprint(i), t0, evIP(ipA))
	}
	sig := f.enrich(t, request("", t0, rqIP(ipA)))
	if sig.IP.SuspiciousBy != "198.51.100.0/24 (import:firehol)" {
		t.Errorf("SuspiciousBy = %q", sig.IP.SuspiciousBy)
	}
}
