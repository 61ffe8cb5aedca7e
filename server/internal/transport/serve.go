package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"

	"github.com/pdp-dev/pdp/server/internal/grpcserver"
)

// ErrServe wraps the failure of a listener.
var ErrServe = errors.New("serving failed")

// Ports are the two servers of a PDP: gRPC and HTTP.
type Ports struct {
	GRPC   *grpcserver.Server
	HTTP   *http.Server
	Logger *slog.Logger
}

// Serve starts serving gRPC on grpcLis and HTTP on httpLis, and returns
// the channel on which the first failure of either arrives (wrapping
// ErrServe). Both serve until Drain.
func (p Ports) Serve(grpcLis, httpLis net.Listener) <-chan error {
	errc := make(chan error, 2)
	go func() {
		if err := p.GRPC.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("%w: gRPC: %v", ErrServe, err)
		}
	}()
	go func() {
		if err := p.HTTP.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%w: HTTP: %v", ErrServe, err)
		}
	}()
	return errc
}

// Drain stops taking work and lets the calls in flight finish, within
// timeout: gRPC calls still running then are cancelled, HTTP connections
// closed.
func (p Ports) Drain(timeout time.Duration) {
	logger := p.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		p.GRPC.GracefulStop()
		close(stopped)
	}()
	httpErr := p.HTTP.Shutdown(ctx)
	select {
	case <-stopped:
	case <-ctx.Done():
		logger.Warn("in-flight gRPC calls did not finish in time; closing them")
		p.GRPC.Stop()
		<-stopped
	}
	if httpErr != nil {
		logger.Warn("HTTP shutdown", "error", httpErr.Error())
		p.HTTP.Close()
	}
}
