package rpcstatus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

func withDetails(t *testing.T, st *status.Status, d ...any) *status.Status {
	t.Helper()
	for _, x := range d {
		var err error
		switch x := x.(type) {
		case *errdetails.BadRequest:
			st, err = st.WithDetails(x)
		case *errdetails.PreconditionFailure:
			st, err = st.WithDetails(x)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestToStatus(t *testing.T) {
	t.Parallel()
	secret := errors.New("password=hunter2")
	invalid := fault.Invalid(
		fault.FieldViolation{Field: "network.ip", Description: "not an IPv4 or IPv6 address"},
		fault.FieldViolation{Field: "tenant", Description: "required"},
	)
	tests := []struct {
		name string
		err  error
		want func(t *testing.T) *status.Status
	}{
		{"nil", nil, func(*testing.T) *status.Status { return status.New(codes.OK, "") }},
		{"invalid with fields", invalid, func(t *testing.T) *status.Status {
			return withDetails(t, status.New(codes.InvalidArgument, "invalid request: network.ip: not an IPv4 or IPv6 address; tenant: required"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					{Field: "network.ip", Description: "not an IPv4 or IPv6 address"},
					{Field: "tenant", Description: "required"},
				}})
		}},
		{"wrapped invalid", fmt.Errorf("checking: %w", invalid), func(t *testing.T) *status.Status {
			return withDetails(t, status.New(codes.InvalidArgument, "invalid request: network.ip: not an IPv4 or IPv6 address; tenant: required"),
				&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
					{Field: "network.ip", Description: "not an IPv4 or IPv6 address"},
					{Field: "tenant", Description: "required"},
				}})
		}},
		{"invalid without fields", fault.New(fault.InvalidArgument, "bad page token"), func(*testing.T) *status.Status {
			return status.New(codes.InvalidArgument, "bad page token")
		}},
		{"failed precondition", &fault.Error{Code: fault.FailedPrecondition, Message: "policy breaks HIPAA",
			Fields: []fault.FieldViolation{{Field: "HIPAA.164.312(d)", Description: "MFA must be required"}}},
			func(t *testing.T) *status.Status {
				return withDetails(t, status.New(codes.FailedPrecondition, "policy breaks HIPAA: HIPAA.164.312(d): MFA must be required"),
					&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
						{Type: PreconditionType, Subject: "HIPAA.164.312(d)", Description: "MFA must be required"},
					}})
			}},
		{"unavailable hides cause", fault.Wrap(secret, fault.Unavailable, "no policy loaded"), func(*testing.T) *status.Status {
			return status.New(codes.Unavailable, "no policy loaded")
		}},
		{"not found", fault.New(fault.NotFound, "no such rule"), func(*testing.T) *status.Status { return status.New(codes.NotFound, "no such rule") }},
		{"already exists", fault.New(fault.AlreadyExists, "exists"), func(*testing.T) *status.Status { return status.New(codes.AlreadyExists, "exists") }},
		{"aborted", fault.New(fault.Aborted, "stale etag"), func(*testing.T) *status.Status { return status.New(codes.Aborted, "stale etag") }},
		{"deadline fault", fault.New(fault.DeadlineExceeded, "too slow"), func(*testing.T) *status.Status {
			return status.New(codes.DeadlineExceeded, "too slow")
		}},
		{"unauthenticated", fault.New(fault.Unauthenticated, "missing API key"), func(*testing.T) *status.Status {
			return status.New(codes.Unauthenticated, "missing API key")
		}},
		{"permission denied", fault.New(fault.PermissionDenied, "role pep may not call this"), func(*testing.T) *status.Status {
			return status.New(codes.PermissionDenied, "role pep may not call this")
		}},
		{"resource exhausted", fault.New(fault.ResourceExhausted, "slow down"), func(*testing.T) *status.Status {
			return status.New(codes.ResourceExhausted, "slow down")
		}},
		{"sentinel code only", fault.ErrUnavailable, func(*testing.T) *status.Status { return status.New(codes.Unavailable, "unavailable") }},
		{"internal fault", fault.Wrap(secret, fault.Internal, "db password wrong"), func(*testing.T) *status.Status {
			return status.New(codes.Internal, InternalMessage)
		}},
		{"unknown code", &fault.Error{Code: fault.Code(99), Message: "odd"}, func(*testing.T) *status.Status {
			return status.New(codes.Internal, InternalMessage)
		}},
		{"plain error", secret, func(*testing.T) *status.Status { return status.New(codes.Internal, InternalMessage) }},
		{"canceled", context.Canceled, func(*testing.T) *status.Status { return status.New(codes.Canceled, "request canceled") }},
		{"wrapped deadline", fmt.Errorf("evaluating: %w", context.DeadlineExceeded), func(*testing.T) *status.Status {
			return status.New(codes.DeadlineExceeded, "deadline exceeded")
		}},
		{"internal fault around deadline", fault.Wrap(context.DeadlineExceeded, fault.Internal, "eval"), func(*testing.T) *status.Status {
			return status.New(codes.DeadlineExceeded, "deadline exceeded")
		}},
		{"grpc status passes", status.Error(codes.NotFound, "no tenant"), func(*testing.T) *status.Status {
			return status.New(codes.NotFound, "no tenant")
		}},
		{"grpc internal sanitised", status.Error(codes.Internal, "stack trace here"), func(*testing.T) *status.Status {
			return status.New(codes.Internal, InternalMessage)
		}},
		{"grpc unknown sanitised", status.Error(codes.Unknown, "whatever"), func(*testing.T) *status.Status {
			return status.New(codes.Internal, InternalMessage)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ToStatus(tc.err)
			if diff := cmp.Diff(tc.want(t).Proto(), got.Proto(), protocmp.Transform()); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if IsInternal(tc.err) != (got.Code() == codes.Internal) {
				t.Errorf("IsInternal = %v for code %v", IsInternal(tc.err), got.Code())
			}
		})
	}
}

func TestHTTPStatusCode(t *testing.T) {
	t.Parallel()
	tests := map[codes.Code]int{
		codes.OK: http.StatusOK, codes.InvalidArgument: http.StatusBadRequest, codes.FailedPrecondition: http.StatusBadRequest,
		codes.Unauthenticated: http.StatusUnauthorized, codes.PermissionDenied: http.StatusForbidden,
		codes.NotFound: http.StatusNotFound, codes.Aborted: http.StatusConflict, codes.AlreadyExists: http.StatusConflict,
		codes.ResourceExhausted: http.StatusTooManyRequests, codes.Canceled: 499, codes.Unimplemented: http.StatusNotImplemented,
		codes.Unavailable: http.StatusServiceUnavailable, codes.DeadlineExceeded: http.StatusGatewayTimeout,
		codes.Internal: http.StatusInternalServerError, codes.Unknown: http.StatusInternalServerError,
		codes.DataLoss: http.StatusInternalServerError,
	}
	for c, want := range tests {
		if got := HTTPStatusCode(c); got != want {
			t.Errorf("HTTPStatusCode(%v) = %d, want %d", c, got, want)
		}
	}
}
