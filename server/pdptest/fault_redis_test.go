package pdptest_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// readiness is what both health doors say at one moment.
type readiness struct {
	grpc   healthpb.HealthCheckResponse_ServingStatus
	readyz int
}

func readinessOf(t *testing.T, s *pdptest.Server) readiness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var r readiness
	if resp, err := s.Health.Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		r.grpc = resp.GetStatus()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HTTPURL+"/readyz", nil)
	if resp, err := s.HTTP.Do(req); err == nil {
		r.readyz = resp.StatusCode
		resp.Body.Close()
	}
	return r
}

// waitReadiness waits until both doors say want.
func waitReadiness(t *testing.T, s *pdptest.Server, want readiness, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := readinessOf(t, s)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health after %v: gRPC %s, /readyz %d; want gRPC %s, /readyz %d", within, got.grpc, got.readyz, want.grpc, want.readyz)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	ready    = readiness{grpc: healthpb.HealthCheckResponse_SERVING, readyz: http.StatusOK}
	notReady = readiness{grpc: healthpb.HealthCheckResponse_NOT_SERVING, readyz: http.StatusServiceUnavailable}
)

// TestRedisStoppedAndRestartedUnderLoad stops the server's Redis while
// Checks run: no Check started during the outage is allowed, /readyz
// says 503 and gRPC health NOT_SERVING together; after Redis restarts
// both recover by themselves, a health Watch has seen each transition,
// and Checks are allowed again.
func TestRedisStoppedAndRestartedUnderLoad(t *testing.T) {
	t.Parallel()
	rds := redistest.Start(t)
	s := pdptest.Start(t, pdptest.WithStore(rds.URL(0)), pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithConfig(func(c *config.Config) { c.CheckTimeout = 2 * time.Second }))
	waitReadiness(t, s, ready, 10*time.Second)

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watch, err := s.Health.Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan healthpb.HealthCheckResponse_ServingStatus, 16)
	go func() {
		for {
			resp, err := watch.Recv()
			if err != nil {
				close(seen)
				return
			}
			seen <- resp.GetStatus()
		}
	}()

	// Load: Checks in a loop, each noting whether Redis was down for
	// the whole of it.
	var down atomic.Bool
	var outage struct {
		sync.Mutex
		checks  int
		allowed int
		codes   map[codes.Code]int
	}
	outage.codes = map[codes.Code]int{}
	var allowedAfter atomic.Int64
	var recovered atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				wasDown := down.Load()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := s.Decisions.Check(ctx, secCheck())
				cancel()
				allowed := err == nil && resp.GetDecision() == pdpv1.Decision_DECISION_ALLOW
				if wasDown && down.Load() {
					outage.Lock()
					outage.checks++
					outage.codes[status.Code(err)]++
					if allowed {
						outage.allowed++
					}
					outage.Unlock()
				}
				if recovered.Load() && allowed {
					allowedAfter.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(200 * time.Millisecond)
	rds.Stop()
	down.Store(true)
	waitReadiness(t, s, notReady, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // Checks keep failing while it is down
	for range 5 {
		if got := readinessOf(t, s); got != notReady {
			t.Fatalf("during the outage: gRPC %s, /readyz %d; both must say not ready", got.grpc, got.readyz)
		}
	}
	down.Store(false)
	rds.Restart()
	waitReadiness(t, s, ready, 15*time.Second)
	recovered.Store(true)

	deadline := time.Now().Add(10 * time.Second)
	for allowedAfter.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d Checks allowed in the 10s after Redis came back", allowedAfter.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}

	outage.Lock()
	t.Logf("during the outage: %d Checks, codes %v", outage.checks, outage.codes)
	if outage.checks == 0 {
		t.Error("no Check ran while Redis was down; the test proves nothing")
	}
	if outage.allowed > 0 || outage.codes[codes.OK] > 0 {
		t.Errorf("%d of %d Checks during the outage were answered (%d allowed); want every one to fail closed with UNAVAILABLE",
			outage.codes[codes.OK], outage.checks, outage.allowed)
	}
	if n := outage.codes[codes.Unavailable]; n != outage.checks {
		t.Errorf("codes during the outage %v; want UNAVAILABLE for all %d", outage.codes, outage.checks)
	}
	outage.Unlock()

	stopWatch()
	var statuses []healthpb.HealthCheckResponse_ServingStatus
	for st := range seen {
		statuses = append(statuses, st)
	}
	want := []healthpb.HealthCheckResponse_ServingStatus{
		healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING,
	}
	if len(statuses) != len(want) || statuses[0] != want[0] || statuses[1] != want[1] || statuses[2] != want[2] {
		t.Errorf("health Watch saw %v, want %v", statuses, want)
	}
}
