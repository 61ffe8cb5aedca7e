package pdptest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/app"
	"github.com/pdp-dev/pdp/server/internal/config"
)

// Clock is a wall clock a test moves by hand. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// StartWithClock is Start with the server's wall clock replaced by clock
// (app.WithClock): requests without a time, IP-list expiry and incident
// response (auto-block expiry) all read it. It takes the same options.
func StartWithClock(t testing.TB, clock *Clock, opts ...Option) *Server {
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
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "memory:"
	cfg.TenantsDir, cfg.PolicyDirs = srv.TenantsDir, []string{srv.PolicyDir}
	cfg.ReloadDebounce, cfg.ShutdownTimeout = 50*time.Millisecond, 5*time.Second
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
	srv.cancel, srv.done = cancel, make(chan error, 1)
	ready := make(chan app.Info, 1)
	go func() {
		srv.done <- app.Run(ctx, cfg, app.WithLogger(logger), app.WithClock(clock.Now),
			app.WithReady(func(i app.Info) { ready <- i }))
	}()
	select {
	case info := <-ready:
		srv.GRPCAddr, srv.HTTPURL = info.GRPCAddr, st.client.scheme()+"://"+info.HTTPAddr
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
	srv.Conn, srv.Decisions, srv.Health = conn, pdpv1.NewDecisionServiceClient(conn), healthpb.NewHealthClient(conn)
	srv.HTTP = st.client.httpClient()
	if !st.noWait {
		srv.WaitServing(t)
	}
	return srv
}
