package rpcstatus

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// InternalMessage is what clients see for every internal error; the detail
// goes to the log only.
const InternalMessage = "internal error"

// PreconditionType is the type of every google.rpc.PreconditionFailure
// violation the server sends; the subject is the offending setting or
// control, such as "environments.production.mfa.mode".
const PreconditionType = "POLICY"

var faultCodes = map[fault.Code]codes.Code{
	fault.Internal:           codes.Internal,
	fault.InvalidArgument:    codes.InvalidArgument,
	fault.FailedPrecondition: codes.FailedPrecondition,
	fault.NotFound:           codes.NotFound,
	fault.AlreadyExists:      codes.AlreadyExists,
	fault.Aborted:            codes.Aborted,
	fault.Unavailable:        codes.Unavailable,
	fault.DeadlineExceeded:   codes.DeadlineExceeded,
	fault.Unauthenticated:    codes.Unauthenticated,
	fault.PermissionDenied:   codes.PermissionDenied,
	fault.ResourceExhausted:  codes.ResourceExhausted,
}

// ToStatus is the one mapping from an error to the gRPC status a client
// sees; every door uses it.
//
//   - nil is OK.
//   - A fault.Error keeps its code and client-safe message. InvalidArgument
//     carries a google.rpc.BadRequest with one field violation per field;
//     FailedPrecondition carries a google.rpc.PreconditionFailure whose
//     violations have type PreconditionType and the field as subject. The
//     message lists the violations too, for clients that show only it.
//   - An error that already is a gRPC status passes through, unless its code
//     is Unknown or Internal.
//   - context.DeadlineExceeded and context.Canceled (also wrapped in an
//     internal fault) become DEADLINE_EXCEEDED and CANCELED.
//   - Anything else is INTERNAL with InternalMessage; the caller logs err.
func ToStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	var fe *fault.Error
	isFault := errors.As(err, &fe)
	if isFault && fe.Code != fault.Internal {
		return faultStatus(fe)
	}
	if !isFault {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.Internal {
			return st
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	}
	return status.New(codes.Internal, InternalMessage)
}

// IsInternal reports whether ToStatus maps err to INTERNAL, that is, whether
// the detail of err must be logged because the client will not see it.
func IsInternal(err error) bool {
	return err != nil && ToStatus(err).Code() == codes.Internal
}

func faultStatus(fe *fault.Error) *status.Status {
	code, ok := faultCodes[fe.Code]
	if !ok {
		return status.New(codes.Internal, InternalMessage)
	}
	st := status.New(code, faultMessage(fe))
	if len(fe.Fields) == 0 {
		return st
	}
	var detail protoadapt.MessageV1
	switch fe.Code {
	case fault.InvalidArgument:
		br := &errdetails.BadRequest{}
		for _, f := range fe.Fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: f.Field, Description: f.Description,
			})
		}
		detail = br
	case fault.FailedPrecondition:
		pf := &errdetails.PreconditionFailure{}
		for _, f := range fe.Fields {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
				Type: PreconditionType, Subject: f.Field, Description: f.Description,
			})
		}
		detail = pf
	default:
		return st
	}
	if withDetail, err := st.WithDetails(detail); err == nil {
		return withDetail
	}
	return st
}

// faultMessage is the client-safe message and the violations, never the
// wrapped cause.
func faultMessage(fe *fault.Error) string {
	msg := fe.Message
	if msg == "" {
		msg = fe.Code.String()
	}
	if len(fe.Fields) == 0 {
		return msg
	}
	var b strings.Builder
	b.WriteString(msg)
	for i, f := range fe.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Description)
	}
	return b.String()
}
