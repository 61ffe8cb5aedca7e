package pdpclient_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Example_stepUp is the whole step-up loop of an enforcement point: a
// check is challenged, the user passes a second factor, the enforcement
// point reports it and checks again.
func Example_stepUp() {
	// A fake PDP that asks for a second factor no older than 15 minutes,
	// as the real one does under mfa.max_age: 15m.
	fake, err := pdpfake.New(func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		verified := req.GetAuthentication().GetMfaVerifiedAt()
		if verified == nil || req.GetTime().AsTime().Sub(verified.AsTime()) > 15*time.Minute {
			return pdpfake.Challenge(pdpfake.MFA(15 * time.Minute)), nil
		}
		return pdpfake.Allow(0), nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	client, err := pdpclient.New(fake.Addr(), pdpclient.WithInsecure(), pdpclient.WithTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) // pinned, so the output is stable
	subject := &pdpv1.Subject{Id: "alice", Roles: []string{"admin"}, MfaEnrolled: true}
	req := &pdpv1.CheckRequest{
		Tenant:         "acme",
		Subject:        subject,
		Authentication: &pdpv1.Authentication{Provider: "google", MfaVerifiedAt: timestamppb.New(now.Add(-2 * time.Hour))},
		Network:        &pdpv1.Network{Ip: "203.0.113.7"},
		Action:         &pdpv1.Action{Name: "admin.users", Resource: "/admin/users"},
		Time:           timestamppb.New(now),
	}

	d, err := client.Check(ctx, req)
	if err != nil {
		log.Fatal(err) // d is a synthetic deny: refuse
	}
	fmt.Println("first check:", d.Outcome())
	for _, s := range d.StepUps() {
		fmt.Println("  step-up", s.GetKind(), "max age", s.GetMaxAge().AsDuration(), "for", s.GetReasonCode())
	}
	// What an HTTP API answers with its 401; your authorization server
	// may name the levels differently.
	c, _ := d.Challenge(pdpclient.ACRValues{pdpv1.StepUpKind_STEP_UP_MFA: "urn:example:acr:mfa"})
	fmt.Println("  WWW-Authenticate:", c.Header())

	// The user passes a second factor at the identity provider; tell the
	// PDP, so that risk and incident rules see it too.
	verifiedAt := now.Add(time.Minute)
	ack, err := client.Report(ctx, &pdpv1.ReportRequest{
		Tenant:         "acme",
		Event:          pdpv1.Event_EVENT_MFA_SUCCEEDED,
		Subject:        subject,
		Authentication: &pdpv1.Authentication{Provider: "google", MfaVerifiedAt: timestamppb.New(verifiedAt)},
		Time:           timestamppb.New(verifiedAt),
	})
	if err != nil {
		log.Fatal(err) // Report is never retried; log it and carry on
	}
	fmt.Println("reported:", ack.GetEventId())

	// The new token carries the fresh second factor: check again.
	req.Authentication.MfaVerifiedAt = timestamppb.New(verifiedAt)
	req.Time = timestamppb.New(verifiedAt)
	d, err = client.Check(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second check:", d.Outcome(), d.Allowed())
	// Output:
	// first check: DECISION_CHALLENGE
	//   step-up STEP_UP_MFA max age 15m0s for authn.mfa_required
	//   WWW-Authenticate: Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required", acr_values="urn:example:acr:mfa", max_age=900
	// reported: fake-event-1
	// second check: DECISION_ALLOW true
}
