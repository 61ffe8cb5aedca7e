package authn_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/grpcserver"
)

// echoDecisions answers Check with the caller it sees, as
// "name/role/anonymous".
type echoDecisions struct {
	pdpv1.UnimplementedDecisionServiceServer
}

func (echoDecisions) Check(ctx context.Context, _ *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no caller in context")
	}
	anon := ""
	if c.Anonymous {
		anon = "anonymous"
	}
	return &pdpv1.CheckResponse{DecisionId: c.Name + "/" + string(c.Role) + "/" + anon}, nil
}

// tenantAdmin answers ListTenants with OK when AllowedTenant allows
// "acme", and leaves every other RPC unimplemented.
type tenantAdmin struct {
	pdpv1.UnimplementedPolicyAdminServiceServer
}

func (tenantAdmin) ListTenants(ctx context.Context, _ *pdpv1.ListTenantsRequest) (*pdpv1.ListTenantsResponse, error) {
	if !authn.AllowedTenant(ctx, "acme") {
		return nil, status.Error(codes.PermissionDenied, "not your tenant")
	}
	return &pdpv1.ListTenantsResponse{}, nil
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func debugLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// startGRPC serves the fakes behind a's guards and returns a client
// connection.
func startGRPC(t *testing.T, a *authn.Authenticator, logger *slog.Logger) *grpc.ClientConn {
	t.Helper()
	h := grpcserver.NewHealth()
	h.SetServing(true)
	s := grpcserver.New(grpcserver.Options{
		Logger:       logger,
		UnaryGuards:  []grpc.UnaryServerInterceptor{a.UnaryGuard()},
		StreamGuards: []grpc.StreamServerInterceptor{a.StreamGuard()},
		Health:       h,
	})
	pdpv1.RegisterDecisionServiceServer(s, echoDecisions{})
	pdpv1.RegisterPolicyAdminServiceServer(s, tenantAdmin{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withKey(t *testing.T, header, value string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	if header == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, header, value)
}

func TestGRPCGuards(t *testing.T) {
	t.Parallel()
	logger, logs := debugLogger()
	a := authn.New(authn.Options{Keys: authn.NewStaticKeys(mustKeys(t)), Logger: logger})
	conn := startGRPC(t, a, logger)
	decisions := pdpv1.NewDecisionServiceClient(conn)
	admin := pdpv1.NewPolicyAdminServiceClient(conn)
	check := &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "login"}}

	tests := []struct {
		name          string
		header, value string
		call          func(ctx context.Context) (string, error)
		want          codes.Code
		wantID        string
	}{
		{"check without key", "", "", checkCall(decisions, check), codes.Unauthenticated, ""},
		{"check with unknown key", "authorization", "Bearer " + strangers, checkCall(decisions, check), codes.Unauthenticated, ""},
		{"check with the hash of a key", "authorization", "Bearer " + authn.HashKey(pepKey), checkCall(decisions, check), codes.Unauthenticated, ""},
		{"check with a basic credential", "authorization", "Basic " + pepKey, checkCall(decisions, check), codes.Unauthenticated, ""},
		{"check as pep", "authorization", "Bearer " + pepKey, checkCall(decisions, check), codes.OK, "edge-gateway/pep/"},
		{"check as pep, lowercase scheme", "authorization", "bearer " + pepKey, checkCall(decisions, check), codes.OK, "edge-gateway/pep/"},
		{"check as pep through x-pdp-api-key", "x-pdp-api-key", pepKey, checkCall(decisions, check), codes.OK, "edge-gateway/pep/"},
		{"check as admin", "authorization", "Bearer " + adminKey, checkCall(decisions, check), codes.OK, "root/admin/"},
		{"check as tenant-admin", "authorization", "Bearer " + acmeKey, checkCall(decisions, check), codes.PermissionDenied, ""},
		{"admin RPC as pep", "authorization", "Bearer " + pepKey, listTenants(admin), codes.PermissionDenied, ""},
		{"admin RPC as tenant-admin", "authorization", "Bearer " + acmeKey, listTenants(admin), codes.OK, ""},
		{"admin RPC as admin", "authorization", "Bearer " + adminKey, listTenants(admin), codes.OK, ""},
		{"admin RPC without key", "", "", listTenants(admin), codes.Unauthenticated, ""},
		{"streaming admin RPC as pep", "authorization", "Bearer " + pepKey, importIPs(admin), codes.PermissionDenied, ""},
		{"streaming admin RPC as admin", "authorization", "Bearer " + adminKey, importIPs(admin), codes.Unimplemented, ""},
		{"health without key", "", "", healthCall(conn), codes.OK, ""},
		{"health with a bad key", "authorization", "Bearer " + strangers, healthCall(conn), codes.OK, ""},
		{"reflection without key", "", "", reflectionCall(conn), codes.Unauthenticated, ""},
		{"reflection as pep", "authorization", "Bearer " + pepKey, reflectionCall(conn), codes.OK, ""},
		{"reflection as tenant-admin", "authorization", "Bearer " + acmeKey, reflectionCall(conn), codes.OK, ""},
	}
	for _, tt := range tests {
		id, err := tt.call(withKey(t, tt.header, tt.value))
		st := status.Convert(err)
		if st.Code() != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
			continue
		}
		if id != tt.wantID {
			t.Errorf("%s: caller %q, want %q", tt.name, id, tt.wantID)
		}
		for _, secret := range []string{"edge-gateway", "root", "acme-admin", authn.HashKey(pepKey)[:16]} {
			if st.Code() != codes.OK && strings.Contains(st.Message(), secret) {
				t.Errorf("%s: message %q names a key", tt.name, st.Message())
			}
		}
	}
	assertNoSecrets(t, logs.String())
}

// assertNoSecrets fails when a log names a key, a hash of one, or carries
// a bearer credential.
func assertNoSecrets(t *testing.T, logs string) {
	t.Helper()
	if logs == "" {
		t.Fatal("nothing was logged; the test would prove nothing")
	}
	for _, k := range []string{adminKey, acmeKey, pepKey, strangers} {
		if strings.Contains(logs, k) || strings.Contains(logs, authn.HashKey(k)) ||
			strings.Contains(strings.ToLower(logs), strings.ToLower(authn.HashKey(k))) {
			t.Errorf("a key or its hash reached the log:\n%s", logs)
		}
	}
	if strings.Contains(strings.ToLower(logs), "bearer pdp_") {
		t.Errorf("an authorization header reached the log:\n%s", logs)
	}
}

func checkCall(c pdpv1.DecisionServiceClient, req *pdpv1.CheckRequest) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		resp, err := c.Check(ctx, req)
		return resp.GetDecisionId(), err
	}
}

func listTenants(c pdpv1.PolicyAdminServiceClient) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		_, err := c.ListTenants(ctx, &pdpv1.ListTenantsRequest{})
		return "", err
	}
}

func importIPs(c pdpv1.PolicyAdminServiceClient) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		stream, err := c.ImportIPList(ctx)
		if err != nil {
			return "", err
		}
		_, err = stream.CloseAndRecv()
		return "", err
	}
}

func healthCall(conn *grpc.ClientConn) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return "", err
	}
}

func reflectionCall(conn *grpc.ClientConn) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			return "", err
		}
		if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil && err != io.EOF {
			return "", err
		}
		_, err = stream.Recv()
		return "", err
	}
}

func TestGRPCGuardsWithoutKeys(t *testing.T) {
	t.Parallel()
	a := authn.New(authn.Options{})
	if a.Enabled() {
		t.Fatal("Enabled() without keys")
	}
	conn := startGRPC(t, a, nil)
	resp, err := pdpv1.NewDecisionServiceClient(conn).Check(withKey(t, "authorization", "Bearer "+strangers),
		&pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "login"}})
	if err != nil || resp.GetDecisionId() != "//anonymous" {
		t.Fatalf("open server: %v, caller %q; want an anonymous call", err, resp.GetDecisionId())
	}
	if _, err := listTenants(pdpv1.NewPolicyAdminServiceClient(conn))(withKey(t, "", "")); err != nil {
		t.Fatalf("open server, admin RPC: %v", err)
	}
}
