package rpcstatus

import (
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// ErrorBody is the JSON error every HTTP door that speaks the API's error
// model answers (docs/api.md, section Errors): the google.rpc.Code name,
// the message and the violations, with snake_case names like the
// google.rpc error details.
type ErrorBody struct {
	Code                   string                  `json:"code"`
	Message                string                  `json:"message"`
	FieldViolations        []FieldViolation        `json:"field_violations,omitempty"`
	PreconditionViolations []PreconditionViolation `json:"precondition_violations,omitempty"`
}

// FieldViolation is one google.rpc.BadRequest field violation.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// PreconditionViolation is one google.rpc.PreconditionFailure violation.
type PreconditionViolation struct {
	Type        string `json:"type"`
	Subject     string `json:"subject"`
	Description string `json:"description"`
}

// Body renders a status, with its BadRequest and PreconditionFailure
// details, as the JSON error body; its HTTP status is
// HTTPStatusCode(st.Code()).
func Body(st *status.Status) ErrorBody {
	b := ErrorBody{Code: code.Code(st.Code()).String(), Message: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				b.FieldViolations = append(b.FieldViolations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				b.PreconditionViolations = append(b.PreconditionViolations, PreconditionViolation{
					Type: v.GetType(), Subject: v.GetSubject(), Description: v.GetDescription(),
				})
			}
		}
	}
	return b
}
