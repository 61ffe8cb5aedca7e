package transport

import (
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Health is the grpc.health.v1 service of the PDP. It reports the overall
// server (service name "") and pdp.v1.DecisionService, plus any services
// given to NewHealth, all flipped together: NOT_SERVING until SetServing(true)
// (the first policy set is loaded), and NOT_SERVING for good after Shutdown
// (called before GracefulStop).
type Health struct {
	srv      *health.Server
	services []string

	mu       sync.Mutex
	serving  bool
	shutdown bool
}

// NewHealth returns a Health reporting NOT_SERVING for "",
// pdp.v1.DecisionService and the given service names.
func NewHealth(services ...string) *Health {
	names := []string{"", pdpv1.DecisionService_ServiceDesc.ServiceName}
	for _, s := range services {
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	h := &Health{srv: health.NewServer(), services: names}
	for _, name := range names {
		h.srv.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// SetServing flips every reported service to SERVING or NOT_SERVING. It has
// no effect after Shutdown.
func (h *Health) SetServing(serving bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return
	}
	h.serving = serving
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range h.services {
		h.srv.SetServingStatus(name, st)
	}
}

// Serving reports whether the services are SERVING.
func (h *Health) Serving() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.serving
}

// Shutdown reports NOT_SERVING for every service, now and from then on, so
// that clients and load balancers move away before the server stops.
func (h *Health) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shutdown, h.serving = true, false
	h.srv.Shutdown()
}

// Server returns the underlying grpc health server.
func (h *Health) Server() *health.Server { return h.srv }

// Register registers the health service on r.
func (h *Health) Register(r grpc.ServiceRegistrar) {
	healthpb.RegisterHealthServer(r, h.srv)
}
