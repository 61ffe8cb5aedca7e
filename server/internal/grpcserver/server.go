package grpcserver

import (
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// Defaults of Options.
const (
	// DefaultMaxRecvMsgSize is the largest request message accepted.
	DefaultMaxRecvMsgSize = 4 << 20
	// DefaultKeepaliveTime is how long a connection may be silent before
	// the server pings the client.
	DefaultKeepaliveTime = 2 * time.Minute
	// DefaultKeepaliveTimeout is how long the server waits for a ping
	// answer before closing the connection.
	DefaultKeepaliveTimeout = 20 * time.Second
	// DefaultMinClientPingInterval is the shortest ping interval a client
	// may use before the server closes the connection. It is low enough
	// for Envoy and gateway clients that keep idle connections alive.
	DefaultMinClientPingInterval = 10 * time.Second
)

// Options configures New. The zero value is usable: no TLS,
// no tracing or RPC metrics, logs discarded, the defaults above.
type Options struct {
	// Logger receives one line per finished call (at debug unless the
	// server failed it) and the detail of internal errors and panics; nil
	// discards.
	Logger *slog.Logger
	// TracerProvider creates the spans of the otelgrpc stats handler; nil
	// creates none. No global provider is used.
	TracerProvider trace.TracerProvider
	// MeterProvider receives otelgrpc's RPC metrics; nil records none.
	MeterProvider metric.MeterProvider
	// Propagator extracts the caller's trace context; nil means W3C trace
	// context and baggage.
	Propagator propagation.TextMapPropagator

	// UnaryGuards run on every unary call after logging and error mapping
	// and before recovery: the place for authentication and authorization.
	// A guard's error is mapped and logged like a handler's. Guards see
	// health and reflection calls too and must let them through. They run
	// before the request message is read (see Server.RegisterService):
	// the request they are given is still empty, so they decide by the
	// call's metadata and peer.
	UnaryGuards []grpc.UnaryServerInterceptor
	// StreamGuards are UnaryGuards for streaming calls.
	StreamGuards []grpc.StreamServerInterceptor

	// Credentials enable TLS (or mTLS); nil serves plaintext.
	Credentials credentials.TransportCredentials
	// MaxRecvMsgSize is the largest request in bytes; 0 means
	// DefaultMaxRecvMsgSize. Larger requests fail with RESOURCE_EXHAUSTED.
	MaxRecvMsgSize int
	// NumStreamWorkers, when positive, serves streams on that many
	// long-lived goroutines instead of one new goroutine per stream.
	NumStreamWorkers uint32
	// KeepaliveTime is DefaultKeepaliveTime when 0.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is DefaultKeepaliveTimeout when 0.
	KeepaliveTimeout time.Duration
	// MinClientPingInterval is DefaultMinClientPingInterval when 0. Clients
	// may ping even without active calls.
	MinClientPingInterval time.Duration
	// MaxConnectionAge, when positive, closes connections gracefully after
	// that long so that clients rebalance across replicas; 0 never does.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long calls may finish after
	// MaxConnectionAge; 0 waits indefinitely.
	MaxConnectionAgeGrace time.Duration

	// Health, when set, is registered as the grpc.health.v1.Health service.
	Health *Health
	// DisableReflection turns off server reflection, which is on by default
	// so that grpcurl and buf curl work without .proto files.
	DisableReflection bool
	// ServerOptions are appended after everything above.
	ServerOptions []grpc.ServerOption
}

// New builds the gRPC server every service of the PDP is
// registered on. Each call passes through, outermost first:
//
//  1. the otelgrpc stats handler: a server span per call (child of the
//     caller's trace context) and the RPC metrics;
//  2. logging (go-grpc-middleware v2 with slog): one line per finished call
//     with method, code and duration, never payloads or metadata;
//  3. error mapping: every error below becomes the status ToStatus gives,
//     so logging and tracing see the code the client sees;
//  4. the guards (Options.UnaryGuards and StreamGuards), in order:
//     authentication and authorization;
//  5. recovery: a panic becomes INTERNAL and is logged with its stack, and
//     the server keeps serving;
//  6. reading the request message: one that cannot be read is
//     INVALID_ARGUMENT (see Server.RegisterService), so a caller is
//     authenticated before anything it sent is decoded;
//  7. the handler.
//
// Health (when Options.Health is set) and reflection (unless disabled)
// are registered; the caller registers the PDP's own services on the
// returned server, never on its embedded grpc.Server.
func New(opts Options) *Server {
	logger := orDiscard(opts.Logger)

	tp := opts.TracerProvider
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	prop := opts.Propagator
	if prop == nil {
		prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}

	unary := []grpc.UnaryServerInterceptor{
		UnaryCallLog(logger),
		UnaryErrorMapper(logger),
	}
	unary = append(unary, opts.UnaryGuards...)
	unary = append(unary, recovery.UnaryServerInterceptor(recoveryOption(logger)))

	stream := []grpc.StreamServerInterceptor{
		StreamCallLog(logger),
		StreamErrorMapper(logger),
	}
	stream = append(stream, opts.StreamGuards...)
	stream = append(stream, recovery.StreamServerInterceptor(recoveryOption(logger)))

	serverOpts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithMeterProvider(mp),
			otelgrpc.WithPropagators(prop),
		)),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(orDefault(opts.MaxRecvMsgSize, DefaultMaxRecvMsgSize)),
		// Requests reach the registered services undecoded; see
		// Server.RegisterService.
		grpc.ForceServerCodecV2(serverCodec{}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  orDefault(opts.KeepaliveTime, DefaultKeepaliveTime),
			Timeout:               orDefault(opts.KeepaliveTimeout, DefaultKeepaliveTimeout),
			MaxConnectionAge:      opts.MaxConnectionAge,
			MaxConnectionAgeGrace: opts.MaxConnectionAgeGrace,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             orDefault(opts.MinClientPingInterval, DefaultMinClientPingInterval),
			PermitWithoutStream: true,
		}),
	}
	if opts.Credentials != nil {
		serverOpts = append(serverOpts, grpc.Creds(opts.Credentials))
	}
	if opts.NumStreamWorkers > 0 {
		serverOpts = append(serverOpts, grpc.NumStreamWorkers(opts.NumStreamWorkers))
	}
	serverOpts = append(serverOpts, opts.ServerOptions...)

	s := &Server{Server: grpc.NewServer(serverOpts...)}
	if opts.Health != nil {
		opts.Health.Register(s)
	}
	if !opts.DisableReflection {
		reflection.Register(s)
	}
	return s
}

// orDefault is v, or def when v is zero or negative.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
