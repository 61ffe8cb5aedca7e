package grpcserver

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Health is the readiness of the server, reported by the grpc.health.v1
// service and, through Ready, by /readyz, so that the two never disagree.
// It covers the overall server (service name "") and
// pdp.v1.DecisionService, plus any services given to NewHealth, all
// flipped together: NOT_SERVING until a check passes (Follow) or
// SetServing(true), and NOT_SERVING for good after Shutdown (called before
// GracefulStop).
type Health struct {
	srv      *health.Server
	services []string
	wake     chan struct{}

	mu       sync.Mutex
	reason   error // nil while SERVING
	shutdown bool
}

// Reasons Ready gives when no check failed.
var (
	errNotChecked   = errors.New("readiness not checked yet")
	errNotServing   = errors.New("not serving")
	errShuttingDown = errors.New("shutting down")
)

// NewHealth returns a Health reporting NOT_SERVING for "",
// pdp.v1.DecisionService and the given service names.
func NewHealth(services ...string) *Health {
	names := []string{"", pdpv1.DecisionService_ServiceDesc.ServiceName}
	for _, s := range services {
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	h := &Health{srv: health.NewServer(), services: names, wake: make(chan struct{}, 1), reason: errNotChecked}
	for _, name := range names {
		h.srv.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// SetServing flips every reported service to SERVING or NOT_SERVING. It has
// no effect after Shutdown.
func (h *Health) SetServing(serving bool) {
	if serving {
		h.set(nil)
	} else {
		h.set(errNotServing)
	}
}

// set records a readiness: nil is SERVING, an error NOT_SERVING for that
// reason. It reports whether the status changed.
func (h *Health) set(reason error) (changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return false
	}
	changed = (h.reason == nil) != (reason == nil)
	h.reason = reason
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if reason == nil {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range h.services {
		h.srv.SetServingStatus(name, st) // watchers hear only changes
	}
	return changed
}

// Serving reports whether the services are SERVING.
func (h *Health) Serving() bool { return h.Ready(context.Background()) == nil }

// Ready is nil while the services are SERVING, else the reason they are
// not: the error of the last check, or that the server shuts down. It
// fits HTTPOptions.Ready, so /readyz reports what gRPC health reports.
func (h *Health) Ready(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return errShuttingDown
	}
	return h.reason
}

// Follow keeps the status in step with check until ctx ends: it runs check
// at once, then every interval and whenever Recheck is called; nil is
// SERVING, an error NOT_SERVING with that error as Ready's reason. A check
// may take up to interval. Transitions are logged (nil logger: discarded),
// and gRPC Watch subscribers receive them.
func (h *Health) Follow(ctx context.Context, check func(context.Context) error, interval time.Duration, logger *slog.Logger) {
	logger = orDiscard(logger)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for first := true; ; first = false {
		cctx, cancel := context.WithTimeout(ctx, interval)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if h.set(err) || first {
			if err != nil {
				logger.Warn("not ready: health NOT_SERVING, /readyz 503", "reason", err.Error())
			} else {
				logger.Info("ready: health SERVING, /readyz 200")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-h.wake:
		}
	}
}

// Recheck makes Follow check now rather than at its next interval.
func (h *Health) Recheck() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Shutdown reports NOT_SERVING for every service, now and from then on, so
// that clients and load balancers move away before the server stops.
func (h *Health) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shutdown = true
	h.srv.Shutdown()
}

// Server returns the underlying grpc health server.
func (h *Health) Server() *health.Server { return h.srv }

// Register registers the health service on r.
func (h *Health) Register(r grpc.ServiceRegistrar) {
	healthpb.RegisterHealthServer(r, h.srv)
}
