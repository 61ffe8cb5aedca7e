package pdptest_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// rtTenant challenges the fifth failed login within 15m (the default
// brute-force threshold and window).
const rtTenant = `
tenant: rt
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
`

var (
	berlin   = &pdpv1.Network{Country: "DE", City: "Berlin", Latitude: new(52.52), Longitude: new(13.405)}
	saoPaulo = &pdpv1.Network{Country: "BR", City: "Sao Paulo", Latitude: new(-23.55), Longitude: new(-46.63)}
)

func factorNames(r *pdpv1.CheckResponse) []string {
	var out []string
	for _, f := range r.GetRisk().GetFactors() {
		out = append(out, f.GetName())
	}
	return out
}

// TestReportsOutOfTimeLeaveTheUsersRiskState is the reproduction of a
// future-dated report that reset a brute-force counter: five failures and
// a login in Berlin make a brute-force challenge and, from Sao Paulo,
// impossible travel. Reports dated in the future are refused, reports
// dated in the past are accepted, and neither changes either answer.
func TestReportsOutOfTimeLeaveTheUsersRiskState(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	srv := pdptest.StartWithClock(t, pdptest.NewClock(now), pdptest.WithTenant("rt.yaml", rtTenant))
	report := func(event pdpv1.Event, at time.Time, network *pdpv1.Network) error {
		_, err := srv.Decisions.Report(secCtx(t), &pdpv1.ReportRequest{
			Tenant: "rt", Event: event, Subject: &pdpv1.Subject{Id: "victim"},
			Device: &pdpv1.Device{Id: "laptop"}, Network: network, Time: timestamppb.New(at),
		})
		return err
	}
	for i := range 5 {
		if err := report(pdpv1.Event_EVENT_LOGIN_FAILED, now.Add(time.Duration(i-10)*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := report(pdpv1.Event_EVENT_LOGIN_SUCCEEDED, now.Add(-4*time.Minute), berlin); err != nil {
		t.Fatal(err)
	}
	check := func(network *pdpv1.Network) *pdpv1.CheckResponse {
		t.Helper()
		resp, err := srv.Decisions.Check(secCtx(t), &pdpv1.CheckRequest{
			Tenant: "rt", Subject: &pdpv1.Subject{Id: "victim", Roles: []string{"viewer"}},
			Device: &pdpv1.Device{Id: "laptop", Managed: true, Compliant: true}, Network: network,
			Action: &pdpv1.Action{Name: "login"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	expect := func(when string) {
		t.Helper()
		if r := check(nil); r.GetDecision() != pdpv1.Decision_DECISION_CHALLENGE || !slices.Contains(codesOf(r), "incident.brute_force") {
			t.Errorf("%s: %v %v, want the brute-force challenge", when, r.GetDecision(), codesOf(r))
		}
		if r := check(saoPaulo); !slices.Contains(factorNames(r), "impossible_travel") {
			t.Errorf("%s: from Sao Paulo the risk factors are %v, want impossible_travel", when, factorNames(r))
		}
	}
	expect("before the late reports")

	for _, at := range []time.Time{now.Add(5*time.Minute + time.Second), now.Add(24 * time.Hour), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		for _, event := range []pdpv1.Event{pdpv1.Event_EVENT_LOGIN_FAILED, pdpv1.Event_EVENT_LOGIN_SUCCEEDED} {
			err := report(event, at, saoPaulo)
			if status.Code(err) != codes.InvalidArgument || !badField(err, "time") {
				t.Errorf("%v dated %v: %v, want INVALID_ARGUMENT on field time", event, at, err)
			}
		}
	}
	expect("after the reports dated in the future")

	for _, ago := range []time.Duration{time.Hour, 30 * 24 * time.Hour} {
		for _, event := range []pdpv1.Event{pdpv1.Event_EVENT_LOGIN_FAILED, pdpv1.Event_EVENT_LOGIN_SUCCEEDED} {
			if err := report(event, now.Add(-ago), saoPaulo); err != nil {
				t.Errorf("%v dated %v ago: %v", event, ago, err)
			}
		}
	}
	expect("after the reports dated in the past")
}
