// Package fault defines the domain errors of the PDP. Every package returns
// these (or wraps them), and one mapper per transport turns them into a gRPC
// status or an HTTP answer: clients get a short stable message and the field
// violations, logs get the wrapped detail.
package fault

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an error the way callers must react to it.
type Code int

// The codes. They mirror the gRPC codes the API promises.
const (
	// Internal is a bug or an unexpected failure; the detail is logged only.
	Internal Code = iota
	// InvalidArgument is malformed input; Fields says what is wrong.
	InvalidArgument
	// FailedPrecondition is valid input the current state or plan refuses.
	FailedPrecondition
	// NotFound is a missing object.
	NotFound
	// AlreadyExists is a duplicate object.
	AlreadyExists
	// Aborted is a lost optimistic-concurrency race (stale etag).
	Aborted
	// Unavailable means the server cannot decide now (no policy loaded).
	Unavailable
	// DeadlineExceeded means the caller's deadline passed.
	DeadlineExceeded
	// Unauthenticated means no valid credentials were sent.
	Unauthenticated
	// PermissionDenied means the credentials do not allow the call.
	PermissionDenied
	// ResourceExhausted means a size or rate limit was hit.
	ResourceExhausted
)

var codeNames = [...]string{"internal", "invalid argument", "failed precondition", "not found",
	"already exists", "aborted", "unavailable", "deadline exceeded", "unauthenticated",
	"permission denied", "resource exhausted"}

// String names the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// FieldViolation names one bad field of a request. Field is the proto field
// path in snake_case, such as "network.ip" or "checks[3].action.name".
type FieldViolation struct {
	// Field is the path of the offending field.
	Field string
	// Description says what is wrong with it.
	Description string
}

// Error is a domain error.
type Error struct {
	// Code classifies the error.
	Code Code
	// Message is safe to show to clients.
	Message string
	// Fields lists bad fields, for InvalidArgument and FailedPrecondition.
	Fields []FieldViolation
	// Err is the underlying cause; logged, never sent to clients.
	Err error
}

// Error renders the message, the fields and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Description)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code and no message,
// so that errors.Is(err, fault.ErrUnavailable) works on any wrapped fault.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument    = &Error{Code: InvalidArgument}
	ErrFailedPrecondition = &Error{Code: FailedPrecondition}
	ErrNotFound           = &Error{Code: NotFound}
	ErrAborted            = &Error{Code: Aborted}
	ErrUnavailable        = &Error{Code: Unavailable}
	ErrDeadlineExceeded   = &Error{Code: DeadlineExceeded}
	ErrUnauthenticated    = &Error{Code: Unauthenticated}
	ErrPermissionDenied   = &Error{Code: PermissionDenied}
)

// New returns an error with a code and a client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with a code, a client-safe message and a cause.
func Wrap(err error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// Invalid returns an InvalidArgument error listing the violations.
func Invalid(fields ...FieldViolation) *Error {
	return &Error{Code: InvalidArgument, Message: "invalid request", Fields: fields}
}

// As returns the *Error in err's chain, or an Internal error wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Err: err}
}

// Violations collects field violations; the zero value is ready to use.
type Violations struct {
	list []FieldViolation
}

// Add records a violation of field.
func (v *Violations) Add(field, format string, args ...any) {
	v.list = append(v.list, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Len is the number of violations.
func (v *Violations) Len() int { return len(v.list) }

// List returns the violations.
func (v *Violations) List() []FieldViolation { return v.list }

// Err returns an InvalidArgument error, or nil when there are no violations.
func (v *Violations) Err() error {
	if len(v.list) == 0 {
		return nil
	}
	return Invalid(v.list...)
}
