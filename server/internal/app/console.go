package app

import (
	"context"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/console"
	"github.com/pdp-dev/pdp/server/internal/grpcserver"
)

// consoleParts are the console's own gRPC server, which its JSON door calls
// over an in-memory connection. It is built like the gRPC port's server
// (the same guards, the same decoding, the same call log) and serves the
// same service values, but has no TLS of its own: the connection never
// leaves the process, and the browser reached the HTTP port, with its
// TLS, to make the call.
type consoleParts struct {
	server *grpcserver.Server
	lis    *bufconn.Listener
	conn   *grpc.ClientConn
}

// consoleTimeout bounds a console call: a policy change returns once the
// engine serves it, which takes longer than a decision.
const consoleTimeout = 30 * time.Second

// consoleBuffer is the in-memory connection's buffer.
const consoleBuffer = 1 << 20

// newConsoleParts builds the console's gRPC server; services are
// registered on .server before start.
func newConsoleParts(cfg config.Config, o options, tp trace.TracerProvider, p *parts) *consoleParts {
	return &consoleParts{
		server: grpcserver.New(grpcserver.Options{
			Logger:            o.logger,
			TracerProvider:    tp,
			MeterProvider:     p.metrics.MeterProvider(),
			MaxRecvMsgSize:    cfg.MaxRequestBytes,
			UnaryGuards:       p.sec.unaryGuards(),
			StreamGuards:      p.sec.streamGuards(),
			DisableReflection: true,
		}),
		lis: bufconn.Listen(consoleBuffer),
	}
}

// handler starts the console's gRPC server and returns the console mounted
// in front of next; without the console (--console=false) it is next.
func (c *consoleParts) handler(cfg config.Config, o options, next http.Handler) (http.Handler, error) {
	if c == nil {
		return next, nil
	}
	go func() { _ = c.server.Serve(c.lis) }()
	conn, err := grpc.NewClient("passthrough:///console",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return c.lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, err
	}
	c.conn = conn
	h, err := console.New(console.Options{Conn: conn, MaxBodyBytes: int64(cfg.MaxRequestBytes), Timeout: max(consoleTimeout, cfg.CheckTimeout), Logger: o.logger,
		LoopbackHostsOnly: cfg.APIKeysFile == "" && !cfg.InsecureNoAuth})
	if err != nil {
		return nil, err
	}
	return console.Mount(h, next), nil
}

// close stops the console's server; a nil c does nothing.
func (c *consoleParts) close() {
	if c == nil {
		return
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.server.Stop()
}
