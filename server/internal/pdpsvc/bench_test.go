package pdpsvc_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

var benchNow = time.Date(2026, 3, 3, 10, 15, 0, 0, time.UTC)

// BenchmarkToRequest measures the gRPC door's request mapping and
// validation on a CheckRequest with every group set.
func BenchmarkToRequest(b *testing.B) {
	attrs, err := structpb.NewStruct(map[string]any{"plan": "pro", "seats": 12.0, "tags": []any{"a", "b"}})
	if err != nil {
		b.Fatal(err)
	}
	in := &pdpv1.CheckRequest{
		Tenant: "acme", Environment: "production",
		Subject: &pdpv1.Subject{Id: "u-42", Email: "Ada@Acme.com", Roles: []string{"developer", "oncall"}, Groups: []string{"eng"},
			MfaEnrolled: true, Tenant: "acme", CreatedAt: timestamppb.New(benchNow.AddDate(-1, 0, 0))},
		Authentication: &pdpv1.Authentication{Provider: "google", Methods: []string{"pwd", "otp"}, Acr: "aal2",
			AuthenticatedAt: timestamppb.New(benchNow.Add(-time.Hour)), MfaVerifiedAt: timestamppb.New(benchNow.Add(-time.Hour))},
		Network:    &pdpv1.Network{Ip: "2001:db8::7", Country: "pt", City: "Lisbon", Asn: 64500},
		Device:     &pdpv1.Device{Id: "d-7", Platform: "macos", Managed: true, Compliant: true},
		Action:     &pdpv1.Action{Name: "api.read", Resource: "/v1/projects/9"},
		Session:    &pdpv1.Session{Id: "s-9", StartedAt: timestamppb.New(benchNow.Add(-time.Hour)), LastActivityAt: timestamppb.New(benchNow.Add(-time.Minute))},
		Time:       timestamppb.New(benchNow),
		Attributes: attrs,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pdpsvc.ToRequest(in, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromDecision measures the gRPC door's response mapping of a
// challenge with reasons, a step-up, risk factors, session controls and
// an obligation.
func BenchmarkFromDecision(b *testing.B) {
	d := &decision.Decision{
		ID: "0193a5c2-7e1f-7c3a-9f00-000000000001", Kind: decision.KindChallenge, WouldDecide: decision.KindChallenge, PolicyRevision: "r-1", Enforced: true,
		Reasons: []decision.Reason{{Code: "mfa.stale", Message: "MFA is 13h old", Rule: "mfa.max_age"},
			{Code: "risk.step_up", Message: "risk 0.72", Rule: "risk.step_up"}},
		StepUps:     []decision.StepUp{{Kind: decision.StepUpMFA, MaxAge: 15 * time.Minute}},
		Risk:        decision.Risk{Score: 0.72, Level: decision.RiskHigh, Factors: []decision.RiskFactor{{Name: "new_device", Weight: 0.4}, {Name: "unusual_location", Weight: 0.32}}},
		Session:     decision.SessionControl{ExpiresAt: benchNow.Add(time.Hour), WarnAt: benchNow.Add(55 * time.Minute), IdleTimeout: time.Hour},
		Obligations: []decision.Obligation{{Kind: decision.ObligationNotifySecurity, Params: map[string]string{"reason": "risk.step_up"}}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if pdpsvc.FromDecision(d) == nil {
			b.Fatal("no response")
		}
	}
}
