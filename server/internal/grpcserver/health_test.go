package grpcserver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pdp-dev/pdp/server/internal/grpcserver"
	"github.com/pdp-dev/pdp/server/internal/httpapi"
)

// flakyCheck is a readiness check a test flips.
type flakyCheck struct{ err atomic.Pointer[error] }

func (c *flakyCheck) set(err error) { c.err.Store(&err) }

func (c *flakyCheck) check(context.Context) error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// agree waits until gRPC health and /readyz both report serving (or
// both do not), and returns /readyz's body.
func agree(t *testing.T, f *grpcFixture, readyz http.Handler, serving bool) string {
	t.Helper()
	want, wantCode := healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable
	if serving {
		want, wantCode = healthpb.HealthCheckResponse_SERVING, http.StatusOK
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := f.health.Check(t.Context(), &healthpb.HealthCheckRequest{})
		w := do(readyz, http.MethodGet, "/readyz", "", "")
		if err == nil && resp.GetStatus() == want && w.Code == wantCode {
			return w.Body.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("gRPC health %v (%v), /readyz %d; want %v and %d", resp.GetStatus(), err, w.Code, want, wantCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHealthFollowsItsCheckOnBothDoors(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	readyz, _ := newHTTP(t, httpapi.Options{Ready: f.hs.Ready})
	var c flakyCheck
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.hs.Follow(ctx, c.check, 20*time.Millisecond, nil) }()
	defer func() { cancel(); <-done }()

	agree(t, f, readyz, true)
	watch, err := f.health.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "pdp.v1.DecisionService"})
	if err != nil {
		t.Fatal(err)
	}
	next := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	if st := next(); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch starts at %v", st)
	}

	c.set(errors.New("store unavailable: ping"))
	if body := agree(t, f, readyz, false); !strings.Contains(body, "store unavailable: ping") {
		t.Errorf("/readyz does not give the reason: %s", body)
	}
	if st := next(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch after the check failed: %v", st)
	}
	c.set(nil)
	agree(t, f, readyz, true)
	if st := next(); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch after the check passed again: %v", st)
	}
}

func TestHealthRecheckDoesNotWaitForTheInterval(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	readyz, _ := newHTTP(t, httpapi.Options{Ready: f.hs.Ready})
	var c flakyCheck
	c.set(errors.New("no policy set loaded"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.hs.Follow(ctx, c.check, time.Hour, nil) }()
	defer func() { cancel(); <-done }()

	agree(t, f, readyz, false)
	c.set(nil)
	f.hs.Recheck()
	agree(t, f, readyz, true)
}

func TestHealthShutdownOutranksThePassingCheck(t *testing.T) {
	t.Parallel()
	f := startGRPC(t, grpcserver.Options{})
	readyz, _ := newHTTP(t, httpapi.Options{Ready: f.hs.Ready})
	if err := f.hs.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "not checked") {
		t.Errorf("before any check Ready = %v", err)
	}
	var c flakyCheck
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); f.hs.Follow(ctx, c.check, 20*time.Millisecond, nil) }()
	defer func() { cancel(); <-done }()
	agree(t, f, readyz, true)

	f.hs.Shutdown()
	if body := agree(t, f, readyz, false); !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz during shutdown: %s", body)
	}
	time.Sleep(100 * time.Millisecond) // several passing checks
	agree(t, f, readyz, false)
}
