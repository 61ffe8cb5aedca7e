// Package app wires the PDP together and runs it: Run is what `pdp serve`,
// the pdptest harness and the benchmarks all start.
//
// Start-up order: telemetry, engine, the first policy load (the server
// listens even when it fails, reporting NOT_SERVING until a good set loads),
// the services, the listeners, then the file watcher. Shutdown reverses it:
// health goes NOT_SERVING, the gRPC server drains in-flight calls (bounded
// by the shutdown timeout), the HTTP server shuts down, telemetry flushes.
package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/pdp-dev/pdp/server/internal/config"
)

// Info describes a started server.
type Info struct {
	// GRPCAddr is the bound gRPC address.
	GRPCAddr string
	// HTTPAddr is the bound HTTP address.
	HTTPAddr string
}

// Option adjusts Run.
type Option func(*options)

type options struct {
	logger *slog.Logger
	ready  func(Info)
	now    func() time.Time
	// meters provides the instruments of parts built before the
	// services (the audit checkpoints); nil counts nothing.
	meters metric.MeterProvider
}

// WithLogger sets the root logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithReady registers a function called once both ports listen.
func WithReady(f func(Info)) Option { return func(o *options) { o.ready = f } }

// WithClock replaces the clock used for requests that carry no time.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Run serves until ctx is cancelled, then shuts down gracefully. It returns
// nil after a clean shutdown and an error when the server cannot start or
// a listener fails.
func Run(ctx context.Context, cfg config.Config, opts ...Option) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	o := options{logger: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := build(ctx, cfg, o)
	if err != nil {
		return err
	}
	defer p.close()

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	if tc := p.httpServer.TLSConfig; tc != nil {
		httpLis = tls.NewListener(httpLis, tc)
	}
	if cfg.PprofAddr != "" {
		pctx, stopPprof := context.WithCancel(ctx)
		_, wait, err := servePprof(pctx, cfg.PprofAddr, o.logger)
		if err != nil {
			stopPprof()
			grpcLis.Close()
			httpLis.Close()
			return err
		}
		defer wait()
		defer stopPprof()
	}
	o.logger.Info("pdp listening", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(),
		"revision", p.engine.Revision(), "serving", p.engine.Ready())
	return p.serve(ctx, cfg, o, grpcLis, httpLis)
}
