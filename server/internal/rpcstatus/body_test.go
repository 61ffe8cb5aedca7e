package rpcstatus_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

func TestBodyCarriesTheViolationsOfTheStatus(t *testing.T) {
	t.Parallel()
	st := rpcstatus.ToStatus(fault.Invalid(fault.FieldViolation{Field: "network.ip", Description: "bad"}))
	want := rpcstatus.ErrorBody{Code: "INVALID_ARGUMENT", Message: "invalid request: network.ip: bad",
		FieldViolations: []rpcstatus.FieldViolation{{Field: "network.ip", Description: "bad"}}}
	if diff := cmp.Diff(want, rpcstatus.Body(st)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	st = rpcstatus.ToStatus(&fault.Error{Code: fault.FailedPrecondition, Message: "plan", Fields: []fault.FieldViolation{{Field: "risk", Description: "paid plan"}}})
	want = rpcstatus.ErrorBody{Code: "FAILED_PRECONDITION", Message: "plan: risk: paid plan",
		PreconditionViolations: []rpcstatus.PreconditionViolation{{Type: rpcstatus.PreconditionType, Subject: "risk", Description: "paid plan"}}}
	if diff := cmp.Diff(want, rpcstatus.Body(st)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}
