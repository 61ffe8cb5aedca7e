package store

import (
	"context"
	"errors"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// ErrClosed is returned by every method of a closed store. It matches
// fault.ErrUnavailable under errors.Is.
var ErrClosed = fault.New(fault.Unavailable, "store closed")

// ContextError returns nil while ctx is live, and otherwise a fault:
// DeadlineExceeded when its deadline passed, Unavailable when it was
// cancelled. Backends call it before doing work.
func ContextError(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(err, fault.DeadlineExceeded, "deadline exceeded")
	}
	return fault.Wrap(err, fault.Unavailable, "request cancelled")
}

// Unavailable wraps a backend failure (I/O, network) as an Unavailable
// fault whose client-safe message names the operation.
func Unavailable(err error, op string) error {
	return fault.Wrap(err, fault.Unavailable, "store unavailable: "+op)
}

// ValidateEvent checks what ApplyEvent needs; it returns an InvalidArgument
// fault naming each bad field.
func ValidateEvent(ev *decision.Event) error {
	if ev == nil {
		return fault.Invalid(fault.FieldViolation{Field: "event", Description: "required"})
	}
	var v fault.Violations
	if ev.Tenant == "" {
		v.Add("tenant", "required")
	}
	if ev.Time.IsZero() {
		v.Add("time", "required")
	}
	if ev.Kind <= decision.EventUnspecified || ev.Kind > decision.EventActivity {
		v.Add("event", "unknown event kind %d", int(ev.Kind))
	}
	return v.Err()
}

// ValidateQuery checks what Read needs.
func ValidateQuery(q *Query) error {
	var v fault.Violations
	if q.Tenant == "" {
		v.Add("tenant", "required")
	}
	if q.At.IsZero() {
		v.Add("time", "required")
	}
	return v.Err()
}

// ValidateUser checks a tenant and user id pair.
func ValidateUser(tenant, userID string) error {
	var v fault.Violations
	if tenant == "" {
		v.Add("tenant", "required")
	}
	if userID == "" {
		v.Add("user_id", "required")
	}
	return v.Err()
}

// ValidateTenant checks a tenant name.
func ValidateTenant(tenant string) error {
	if tenant == "" {
		return fault.Invalid(fault.FieldViolation{Field: "tenant", Description: "required"})
	}
	return nil
}
