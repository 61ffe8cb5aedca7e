package pdpclient_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func ExampleNew() {
	// A fake PDP on a loopback port stands in for `pdp serve`.
	fake, err := pdpfake.New(pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(5 * time.Minute))))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	client, err := pdpclient.New(fake.Addr(),
		pdpclient.WithInsecure(), // loopback only; use WithTLSConfig otherwise
		pdpclient.WithAPIKey("pep-key"),
		pdpclient.WithTimeout(time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	d, err := client.Check(context.Background(), &pdpv1.CheckRequest{
		Tenant:  "acme",
		Subject: &pdpv1.Subject{Id: "alice", Roles: []string{"admin"}, MfaEnrolled: true},
		Network: &pdpv1.Network{Ip: "203.0.113.7"},
		Action:  &pdpv1.Action{Name: "admin.users", Resource: "/admin/users"},
	})
	if err != nil {
		// Fail closed: d is a synthetic deny, so the switch below refuses.
		log.Printf("no decision: %v", err)
	}
	switch {
	case d.Allowed():
		fmt.Println("allowed")
	case d.Challenged():
		c, _ := d.Challenge(nil)
		fmt.Println("401", c.Header())
	default:
		fmt.Println("403", d.ReasonCodes())
	}
	// Output:
	// 401 Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=300
}

func ExampleWithFailOpen() {
	// This fake PDP cannot decide: it answers UNAVAILABLE.
	fake, err := pdpfake.New(func(context.Context, *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "no policy loaded")
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	req := &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "cache.get"}}

	closed, err := pdpclient.New(fake.Addr(), pdpclient.WithInsecure(), pdpclient.WithoutRetries())
	if err != nil {
		log.Fatal(err)
	}
	defer closed.Close()
	d, err := closed.Check(context.Background(), req)
	fmt.Println("default:", d.Allowed(), d.ReasonCodes(), err != nil)

	open, err := pdpclient.New(fake.Addr(), pdpclient.WithInsecure(), pdpclient.WithoutRetries(),
		pdpclient.WithFailOpen(pdpclient.FailOpenOnUnavailable))
	if err != nil {
		log.Fatal(err)
	}
	defer open.Close()
	d, err = open.Check(context.Background(), req)
	fmt.Println("fail open:", d.Allowed(), d.ReasonCodes(), err != nil)
	// Output:
	// default: false [pdp.no_decision] true
	// fail open: true [pdp.fail_open] false
}
