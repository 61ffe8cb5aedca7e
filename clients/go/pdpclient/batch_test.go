package pdpclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func TestBatchCheck(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		switch req.GetSubject().GetId() {
		case "alice":
			return pdpfake.Allow(0), nil
		case "mallory":
			return pdpfake.Deny("incident.user_suspended"), nil
		default:
			return nil, status.Error(codes.InvalidArgument, "bad ip")
		}
	})
	c := newClient(t, fake)
	ds, err := c.BatchCheck(context.Background(), []*pdpv1.CheckRequest{request("alice"), request("mallory"), request("broken")})
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Allowed, Synthetic bool
		Codes              []string
		Err                codes.Code
	}
	var got []summary
	for _, d := range ds {
		got = append(got, summary{d.Allowed(), d.Synthetic(), d.ReasonCodes(), status.Code(d.Err())})
	}
	want := []summary{
		{Allowed: true, Codes: []string{}},
		{Codes: []string{"incident.user_suspended"}},
		{Synthetic: true, Codes: []string{pdpclient.ReasonNoDecision}, Err: codes.InvalidArgument},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}

	// A failed call fails every item closed, or open when asked.
	down := pdpfake.Start(t, nil, grpc.UnaryInterceptor(
		func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
			return nil, status.Error(codes.Unavailable, "shutting down")
		}))
	c = newClient(t, down, pdpclient.WithoutRetries())
	ds, err = c.BatchCheck(context.Background(), []*pdpv1.CheckRequest{request("alice"), request("bob")})
	if status.Code(err) != codes.Unavailable || len(ds) != 2 {
		t.Fatalf("after the server stopped: %d decisions, err %v", len(ds), err)
	}
	for _, d := range ds {
		assertFailClosed(t, d, err)
	}
	open := newClient(t, down, pdpclient.WithoutRetries(), pdpclient.WithFailOpen(pdpclient.FailOpenOnUnavailable))
	ds, err = open.BatchCheck(context.Background(), []*pdpv1.CheckRequest{request("alice")})
	if err != nil || !ds[0].Allowed() || !ds[0].FailedOpen() {
		t.Errorf("fail open: err %v, decision %v", err, ds[0].Response())
	}
}

func TestBatchCheckFailsClosedOnAResultWithoutADecision(t *testing.T) {
	t.Parallel()
	broken := pdpfake.Start(t, nil, grpc.UnaryInterceptor(
		func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
			return &pdpv1.BatchCheckResponse{Results: []*pdpv1.BatchCheckResult{
				{},
				{Result: &pdpv1.BatchCheckResult_Error{Error: &spb.Status{}}},
			}}, nil
		}))
	c := newClient(t, broken)
	ds, err := c.BatchCheck(context.Background(), []*pdpv1.CheckRequest{request("alice"), request("bob")})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if d.Allowed() || !d.Synthetic() || !errors.Is(d.Err(), pdpclient.ErrInvalidResponse) {
			t.Errorf("item %d: allowed %t, synthetic %t, err %v; want a synthetic deny of ErrInvalidResponse", i, d.Allowed(), d.Synthetic(), d.Err())
		}
	}
}
