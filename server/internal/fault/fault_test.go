package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsMatchesCodeThroughWrapping(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("loading: %w", New(Unavailable, "no policy loaded"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("errors.Is(%v, ErrUnavailable) = false", err)
	}
	if errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("errors.Is(%v, ErrInvalidArgument) = true", err)
	}
}

func TestViolations(t *testing.T) {
	t.Parallel()
	var v Violations
	if v.Err() != nil {
		t.Fatal("empty violations must give a nil error")
	}
	v.Add("network.ip", "%q is not an IP address", "1.2.3")
	v.Add("tenant", "required")
	err := v.Err()
	e := As(err)
	if e.Code != InvalidArgument || len(e.Fields) != 2 {
		t.Fatalf("got %+v", e)
	}
	want := `invalid request: network.ip: "1.2.3" is not an IP address; tenant: required`
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestAsWrapsUnknownErrorsAsInternal(t *testing.T) {
	t.Parallel()
	e := As(errors.New("disk on fire"))
	if e.Code != Internal || e.Message != "internal error" {
		t.Fatalf("got %+v", e)
	}
}
