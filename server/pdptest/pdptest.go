// Package pdptest starts a real pdp server in-process on 127.0.0.1:0 for
// tests and benchmarks, through the same app.Run that `pdp serve` calls,
// and hands back connected clients. Everything is cleaned up with t.Cleanup.
package pdptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/app"
	"github.com/pdp-dev/pdp/server/internal/config"
)

// Server is a running pdp server.
type Server struct {
	// GRPCAddr is the bound gRPC address.
	GRPCAddr string
	// HTTPURL is the base URL of the HTTP port, without a trailing slash.
	HTTPURL string
	// TenantsDir is the watched tenants directory.
	TenantsDir string
	// PolicyDir is the watched directory of authors' modules.
	PolicyDir string
	// Conn is a client connection to the gRPC port.
	Conn *grpc.ClientConn
	// Decisions is a DecisionService client on Conn.
	Decisions pdpv1.DecisionServiceClient
	// Health is a health client on Conn.
	Health healthpb.HealthClient
	// HTTP is a client for the HTTP port.
	HTTP *http.Client
	// Config is the configuration the server runs with.
	Config config.Config

	cancel context.CancelFunc
	done   chan error
	client clientSecurity
}

type settings struct {
	tenants  map[string]string
	policies map[string]string
	mutate   []func(*config.Config)
	logger   *slog.Logger
	noWait   bool
	client   clientSecurity // API key and TLS of the harness clients (security.go)
	clock    *Clock
}

// Option adjusts the server a test starts.
type Option func(*settings)

// WithTenant writes a tenant policy file (YAML or JSON by its extension)
// into the tenants directory before start.
func WithTenant(filename, content string) Option {
	return func(s *settings) { s.tenants[filename] = content }
}

// WithPolicy writes a Rego module into the policy directory before start.
func WithPolicy(filename, content string) Option {
	return func(s *settings) { s.policies[filename] = content }
}

// WithConfig adjusts the configuration before start.
func WithConfig(f func(*config.Config)) Option {
	return func(s *settings) { s.mutate = append(s.mutate, f) }
}

// WithLogger sends the server's logs to l instead of discarding them.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}

// WithoutReadyWait returns as soon as the ports listen, without waiting for
// the first policy set to load (for tests of a server that cannot load).
func WithoutReadyWait() Option {
	return func(s *settings) { s.noWait = true }
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	st := settings{tenants: map[string]string{}, policies: map[string]string{}}
	for _, o := range opts {
		o(&st)
	}
	root := t.TempDir()
	srv := &Server{TenantsDir: filepath.Join(root, "tenants"), PolicyDir: filepath.Join(root, "policies")}
	for _, d := range []string{srv.TenantsDir, srv.PolicyDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range st.tenants {
		writeFile(t, filepath.Join(srv.TenantsDir, name), body)
	}
	for name, body := range st.policies {
		writeFile(t, filepath.Join(srv.PolicyDir, name), body)
	}
	cfg := config.Default()
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Store = "memory:" // the default bolt file would outlive the test
	cfg.TenantsDir = srv.TenantsDir
	cfg.PolicyDirs = []string{srv.PolicyDir}
	cfg.ReloadDebounce = 50 * time.Millisecond
	cfg.ShutdownTimeout = 5 * time.Second
	// Tests assert outcomes, never latency: on a loaded CI machine a
	// decision may take longer than the production default.
	cfg.CheckTimeout = 30 * time.Second
	for _, f := range st.mutate {
		f(&cfg)
	}
	srv.Config = cfg
	logger := st.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	ctx, cancel := context.WithCancel(context.Background())
	srv.cancel = cancel
	srv.done = make(chan error, 1)
	ready := make(chan app.Info, 1)
	go func() {
		runOpts := []app.Option{app.WithLogger(logger), app.WithReady(func(i app.Info) { ready <- i })}
		if st.clock != nil {
			runOpts = append(runOpts, app.WithClock(st.clock.Now))
		}
		srv.done <- app.Run(ctx, cfg, runOpts...)
	}()
	select {
	case info := <-ready:
		srv.GRPCAddr = info.GRPCAddr
		srv.HTTPURL = st.client.scheme() + "://" + info.HTTPAddr
	case err := <-srv.done:
		cancel()
		t.Fatalf("pdptest: server did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("pdptest: server did not start within 30s")
	}
	t.Cleanup(srv.Stop)

	srv.client = st.client
	conn, err := grpc.NewClient(srv.GRPCAddr, st.client.dialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv.Conn = conn
	srv.Decisions = pdpv1.NewDecisionServiceClient(conn)
	srv.Health = healthpb.NewHealthClient(conn)
	srv.HTTP = st.client.httpClient()
	if !st.noWait {
		srv.WaitServing(t)
	}
	return srv
}

// Stop shuts the server down and waits for app.Run to return. It is safe to
// call more than once; Start registers it with t.Cleanup.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			panic(fmt.Sprintf("pdptest: server stopped with %v", err))
		}
	case <-time.After(30 * time.Second):
		panic("pdptest: server did not stop within 30s")
	}
}

// WaitServing waits until health reports SERVING.
func (s *Server) WaitServing(t testing.TB) {
	t.Helper()
	s.waitHealth(t, healthpb.HealthCheckResponse_SERVING)
}

func (s *Server) waitHealth(t testing.TB, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last healthpb.HealthCheckResponse_ServingStatus
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := s.Health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil {
			last = resp.GetStatus()
			if last == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pdptest: health is %s, want %s", last, want)
}

// WriteTenant writes (or replaces) a tenant file; the server reloads it.
func (s *Server) WriteTenant(t testing.TB, filename, content string) {
	t.Helper()
	writeFile(t, filepath.Join(s.TenantsDir, filename), content)
}

// WritePolicy writes (or replaces) a Rego module; the server reloads it.
func (s *Server) WritePolicy(t testing.TB, filename, content string) {
	t.Helper()
	writeFile(t, filepath.Join(s.PolicyDir, filename), content)
}

// Revision asks the server for a decision and returns its policy revision.
func (s *Server) Revision(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.Decisions.Check(ctx, &pdpv1.CheckRequest{Tenant: "pdptest-probe", Action: &pdpv1.Action{Name: "probe"}})
	if err != nil {
		t.Fatalf("pdptest: probe check: %v", err)
	}
	return resp.GetPolicyRevision()
}

// WaitRevision waits until the policy revision differs from old and returns
// the new one.
func (s *Server) WaitRevision(t testing.TB, old string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if rev := s.Revision(t); rev != old {
			return rev
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pdptest: policy revision still %s after 20s", old)
	return ""
}

// writeFile writes atomically (temp file + rename), as editors and config
// management do, so the watcher never sees half a file.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
