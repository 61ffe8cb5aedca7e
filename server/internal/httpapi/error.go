package httpapi

import (
	"encoding/json"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// errorBody is the JSON error of the HTTP API. Field names are snake_case
// like google.rpc error details; code is the google.rpc.Code name.
type errorBody struct {
	Code                   string                  `json:"code"`
	Message                string                  `json:"message"`
	FieldViolations        []fieldViolation        `json:"field_violations,omitempty"`
	PreconditionViolations []preconditionViolation `json:"precondition_violations,omitempty"`
}

type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

type preconditionViolation struct {
	Type        string `json:"type"`
	Subject     string `json:"subject"`
	Description string `json:"description"`
}

// statusBody renders a status, with its BadRequest and PreconditionFailure
// details, as the JSON error body.
func statusBody(st *status.Status) errorBody {
	b := errorBody{Code: code.Code(st.Code()).String(), Message: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				b.FieldViolations = append(b.FieldViolations, fieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				b.PreconditionViolations = append(b.PreconditionViolations, preconditionViolation{
					Type: v.GetType(), Subject: v.GetSubject(), Description: v.GetDescription(),
				})
			}
		}
	}
	return b
}

func writeStatus(w http.ResponseWriter, st *status.Status) {
	writeErrorBody(w, rpcstatus.HTTPStatusCode(st.Code()), statusBody(st))
}

func writeErrorBody(w http.ResponseWriter, httpStatus int, b errorBody) {
	writeJSON(w, httpStatus, b)
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"code":"INTERNAL","message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(body, '\n'))
}
