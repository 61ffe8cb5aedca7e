package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// reportTenant challenges a login after five failed ones within 15m (the
// default brute-force threshold and window).
const reportTenant = `
tenant: rep
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
`

func TestFiveReportedFailedLoginsMakeCheckChallengeTheNextLogin(t *testing.T) {
	t.Parallel()
	pep := pdptest.NewKey(t, "cli", authn.RolePEP)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, pep), pdptest.WithTenant("rep.yaml", reportTenant))
	vars := map[string]string{APIKeyEnv: pep.Key}
	// Dated three hours back, as the docs' example replays a fixed morning.
	at := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	check := []string{"check", "--addr", s.GRPCAddr, "--tenant", "rep", "--user", "victim", "--roles", "viewer",
		"--device", "laptop", "--device-managed", "--device-compliant", "--action", "login",
		"--time", at.Add(2 * time.Minute).Format(time.RFC3339)}

	if r := runPDP(t, vars, check...); r.code != ExitOK {
		t.Fatalf("check before any report: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range 5 {
		r := runPDP(t, vars, "report", "--addr", s.GRPCAddr, "--tenant", "rep", "--event", "login-failed",
			"--user", "victim", "--ip", "203.0.113.7", "--country", "DE", "--device", "laptop", "--time", at.Format(time.RFC3339))
		if r.code != ExitOK || !strings.Contains(r.stdout, "recorded:  login-failed") || !strings.Contains(r.stdout, "id: ") {
			t.Fatalf("report %d: exit %d\n%s%s", i+1, r.code, r.stdout, r.stderr)
		}
	}
	r := runPDP(t, vars, check...)
	if r.code != ExitChallenge || !strings.Contains(r.stdout, "incident.brute_force") {
		t.Fatalf("check after five failed logins: exit %d, want %d with incident.brute_force\n%s%s", r.code, ExitChallenge, r.stdout, r.stderr)
	}
}

func TestReportPrintsTheFieldViolationsOfARefusedEvent(t *testing.T) {
	t.Parallel()
	pep := pdptest.NewKey(t, "cli", authn.RolePEP)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, pep), pdptest.WithTenant("rep.yaml", reportTenant))
	r := runPDP(t, map[string]string{APIKeyEnv: pep.Key}, "report", "--addr", s.GRPCAddr, "--tenant", "rep",
		"--event", "login-failed", "--user", "victim", "--ip", "not-an-ip")
	if r.code != ExitError || !strings.Contains(r.stderr, "pdp report: InvalidArgument") || !strings.Contains(r.stderr, "  network.ip: ") {
		t.Fatalf("report with a bad IP: exit %d\n%s", r.code, r.stderr)
	}
}

func TestReportFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tenant", "x"}, "--event is required (login-succeeded, login-failed, mfa-succeeded, mfa-failed, logout, activity)"},
		{[]string{"--tenant", "x", "--event", "login-maybe"}, `--event "login-maybe" is not one of login-succeeded`},
		{[]string{"--tenant", "x", "--event", "unspecified"}, `--event "unspecified" is not one of`},
		{[]string{"--event", "logout"}, "--tenant is required"},
		{[]string{"--tenant", "x", "--event", "logout", "--time", "yesterday"}, `--time: "yesterday" is neither an RFC 3339 time nor an age`},
		{[]string{"--tenant", "x", "--event", "logout", "extra"}, "unexpected arguments: extra"},
		{[]string{"--tenant", "x", "--event", "logout", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
	} {
		r := runPDP(t, nil, append([]string{"report"}, tt.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestUsageListsReport(t *testing.T) {
	t.Parallel()
	r := runPDP(t, nil, "help")
	if !strings.Contains(r.stderr, "  report ") {
		t.Fatalf("usage does not list report:\n%s", r.stderr)
	}
}
