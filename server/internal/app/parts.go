package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/extauthz"
	"github.com/pdp-dev/pdp/server/internal/forwardauth"
	"github.com/pdp-dev/pdp/server/internal/gateway"
	"github.com/pdp-dev/pdp/server/internal/grpcserver"
	"github.com/pdp-dev/pdp/server/internal/httpapi"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/replay"
	"github.com/pdp-dev/pdp/server/internal/telemetry"
	"github.com/pdp-dev/pdp/server/internal/transport"
	"github.com/pdp-dev/pdp/server/internal/version"
)

// parts are the wired components of one running server.
type parts struct {
	metrics     *telemetry.Metrics
	stopTracing func(context.Context) error
	engine      *engine.Engine
	state       *state
	loader      *reload.Loader
	watching    *reload.Watching // nil when the watch could not start
	health      *grpcserver.Health
	grpcServer  *grpcserver.Server
	httpServer  *http.Server
	sec         *security
	stopFollow  func() // ends the reloads of other replicas' policies; nil without them
	console     *consoleParts
	shadow      *replay.Shadow
}

func build(ctx context.Context, cfg config.Config, o options) (_ *parts, err error) {
	p := &parts{}
	defer func() {
		if err != nil && p.watching != nil {
			_ = p.watching.Close()
		}
	}()
	p.metrics, err = telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	tp, stopTracing, err := telemetry.NewTracerProvider(ctx, telemetry.TracingOptions{
		ServiceVersion: version.Version,
		OTLPEndpoint:   cfg.OTLPEndpoint,
		OTLPInsecure:   cfg.OTLPInsecure,
		SampleRatio:    cfg.TraceSampleRatio,
	})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	p.stopTracing = stopTracing

	atLoad := cfg.SpecialiseAtLoad
	if atLoad == 0 {
		atLoad = -1 // the engine's zero is its default
	}
	p.engine = engine.New(engine.Options{Logger: o.logger, Now: o.now, EvalWorkers: cfg.EvalWorkers,
		Reference: !cfg.Specialise, SpecialiseAtLoad: atLoad, SpecialisedLimit: cfg.SpecialisedLimit,
		SpecialiseBudget: cfg.SpecialiseBudget, RecentSets: cfg.PolicyHistory})
	if err := p.metrics.ObserveEngine(p.engine.Paths, p.engine.SpecialisationCounts); err != nil {
		return nil, err
	}
	if err := p.metrics.ObserveEvaluators(p.engine.Evaluators); err != nil {
		return nil, err
	}
	p.health = grpcserver.NewHealth()
	o.meters = p.metrics.MeterProvider()
	p.state, err = openState(cfg, o)
	if err != nil {
		return nil, err
	}
	p.loader = reload.New(p.engine, reload.Options{
		PolicyDirs:   cfg.PolicyDirs,
		TenantsDir:   cfg.TenantsDir,
		Debounce:     cfg.ReloadDebounce,
		Logger:       o.logger,
		Metrics:      p.metrics,
		Stored:       reload.StoredIn(p.state.store.Policies),
		StoredTenant: reload.StoredTenantIn(p.state.store.Policies),
		OnLoad: func(set reload.Set) {
			p.state.onLoad(set)
			p.health.Recheck()
			if p.shadow != nil {
				// The tenants' candidates follow the live set, built off
				// the reload.
				go p.shadow.Reloaded(context.Background())
			}
		},
	})
	// The watch is registered before the first load, so that no change
	// falls between the two; a failed first load is logged by the loader,
	// and the server still starts and reports NOT_SERVING until a fixed
	// file loads.
	if p.watching, err = p.loader.StartWatch(); err != nil {
		o.logger.Error("policy files are not watched; changes are not picked up", "error", err.Error())
	}
	_, _ = p.loader.Load(ctx)

	p.sec, err = buildSecurity(ctx, cfg, o, p.metrics)
	if err != nil {
		return nil, err
	}
	if err := p.buildShadow(ctx, cfg, o); err != nil {
		return nil, err
	}

	// The one decision service every door below calls.
	decideOpts := decide.Options{
		Timeout:     cfg.CheckTimeout,
		Scope:       authn.DecisionTenant,
		Caller:      authn.DecisionCaller,
		Enricher:    p.state.enricher,
		Evaluator:   p.engine,
		DecisionLog: p.sec.decisionLog(),
		Shadow:      p.shadow,
		Applier:     p.state.recorder,
		Responder:   p.state.incident,
		Metrics:     p.metrics,
	}
	decisions, err := decide.New(decideOpts)
	if err != nil {
		return nil, err
	}
	// AuthZEN search decides its candidates without incident response:
	// asking who may delete users must suspend nobody.
	decideOpts.Responder = nil
	searches, err := decide.New(decideOpts)
	if err != nil {
		return nil, err
	}
	svc, err := pdpsvc.New(pdpsvc.Options{Decisions: decisions, Observer: p.metrics, Logger: o.logger, Now: o.now})
	if err != nil {
		return nil, err
	}
	p.grpcServer = grpcserver.New(grpcserver.Options{
		Logger:         o.logger,
		TracerProvider: tp,
		MeterProvider:  p.metrics.MeterProvider(),
		MaxRecvMsgSize: cfg.MaxRequestBytes,
		// Long-lived stream workers keep their grown stacks instead of
		// growing a new goroutine's stack on every call. Evaluation runs on
		// the engine's own workers; these serve the calls around it, and
		// grpc-go starts a fresh goroutine for a stream when all are busy,
		// so there are enough for the usual calls in flight (bench/README.md,
		// "What this round changed": stream workers).
		NumStreamWorkers: uint32(max(16, 4*runtime.GOMAXPROCS(0))),
		Health:           p.health,
		UnaryGuards:      p.sec.unaryGuards(),
		StreamGuards:     p.sec.streamGuards(),
		Credentials:      p.sec.grpcCredentials(),
	})
	pdpv1.RegisterDecisionServiceServer(p.grpcServer, svc)
	if cfg.Console {
		p.console = newConsoleParts(cfg, o, tp, p)
		pdpv1.RegisterDecisionServiceServer(p.console.server, svc)
	}
	if err := p.registerAdmin(cfg, o); err != nil {
		return nil, err
	}
	// The gateway doors: Envoy ext_authz on gRPC, /v1/forward-auth on HTTP.
	gw, err := gateway.New(ctx, cfg.Gateway, gateway.Options{Logger: o.logger, Now: o.now})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	authv3.RegisterAuthorizationServer(p.grpcServer, extauthz.New(gw, decisions))
	forwardAuth := forwardauth.New(forwardauth.Options{
		Gateway: gw, Checker: decisions, TrustedProxies: cfg.Gateway.TrustedProxies, Logger: o.logger, Timeout: cfg.CheckTimeout,
		TracerProvider: tp, MeterProvider: p.metrics.MeterProvider(),
	})
	authz, err := p.buildAuthZEN(cfg, o, tp, decisions, searches)
	if err != nil {
		return nil, fmt.Errorf("authzen: %w", err)
	}
	// X-Request-ID is echoed outside the guards, so that their refusals
	// carry it too. The console is outside the HTTP guard: its pages are
	// public and its calls pass the gRPC guards of p.console.
	api := p.sec.httpHandler(authzen.Mount(authz, p.state.ssf.mount(forwardauth.Mount(forwardAuth, httpapi.NewHandler(httpapi.Options{
		Decisions:      svc,
		Ready:          p.health.Ready,
		Metrics:        p.metrics.Handler(),
		Logger:         o.logger,
		MaxBodyBytes:   int64(cfg.MaxRequestBytes),
		RequestTimeout: cfg.CheckTimeout,
		TracerProvider: tp,
		MeterProvider:  p.metrics.MeterProvider(),
	})))))
	withConsole, err := p.console.handler(cfg, o, api)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	p.httpServer = httpapi.NewServer(authzen.EchoRequestID(withConsole), httpapi.ServerOptions{
		TLSConfig:     p.sec.httpTLS(),
		HeaderTimeout: cfg.HTTPHeaderTimeout,
		BodyTimeout:   cfg.HTTPBodyTimeout,
		IdleTimeout:   cfg.HTTPIdleTimeout,
		Logger:        o.logger,
	})
	p.state.ssf.start(ctx, cfg, o)
	return p, nil
}

// readinessInterval is how often the readiness is checked. gRPC health
// and /readyz both report the last check, so they never disagree.
const readinessInterval = time.Second

// ready is the readiness of gRPC health and /readyz: a policy set is
// loaded and the store answers.
func (p *parts) ready(ctx context.Context) error {
	if !p.engine.Ready() {
		return errors.New("no policy set loaded")
	}
	return p.state.ping(ctx)
}

// serve runs both servers, the policy watcher and the readiness checks
// until ctx ends or a server fails, then shuts down: health goes
// NOT_SERVING, the watchers stop, and the calls in flight drain.
func (p *parts) serve(ctx context.Context, cfg config.Config, o options, grpcLis, httpLis net.Listener) error {
	ports := transport.Ports{GRPC: p.grpcServer, HTTP: p.httpServer, Logger: o.logger}
	failed := ports.Serve(grpcLis, httpLis)
	watchCtx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Go(func() {
		if p.watching == nil {
			return
		}
		if err := p.watching.Run(watchCtx); err != nil {
			o.logger.Error("policy watcher stopped; changes are no longer picked up", "error", err.Error())
		}
	})
	watchers.Go(func() { p.health.Follow(watchCtx, p.ready, readinessInterval, o.logger) })
	if o.ready != nil {
		o.ready(Info{GRPCAddr: grpcLis.Addr().String(), HTTPAddr: httpLis.Addr().String()})
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
	}
	o.logger.Info("pdp shutting down", "timeout", cfg.ShutdownTimeout.String())
	p.health.Shutdown()
	stopWatching()
	watchers.Wait()
	ports.Drain(cfg.ShutdownTimeout)
	return runErr
}

// close releases what build opened.
func (p *parts) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if p.watching != nil {
		_ = p.watching.Close() // a no-op after Run
	}
	p.console.close()
	if p.shadow != nil {
		p.shadow.Close() // before the decision log it writes to
	}
	p.sec.close(ctx)
	if p.stopFollow != nil {
		p.stopFollow()
	}
	p.state.close()
	_ = p.stopTracing(ctx)
	_ = p.metrics.Shutdown(ctx)
}
