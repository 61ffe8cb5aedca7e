package pdptest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// secTenant lets members read in development.
const secTenant = `
tenant: sec
plan: free
environments:
  development:
    roles:
      member:
        actions: [login, api.read]
`

func secCheck() *pdpv1.CheckRequest {
	return &pdpv1.CheckRequest{
		Tenant:      "sec",
		Environment: "development",
		Subject:     &pdpv1.Subject{Id: "u1", Email: "u1@sec.example", Roles: []string{"member"}},
		Network:     &pdpv1.Network{Ip: "198.51.100.7"},
		Action:      &pdpv1.Action{Name: "api.read"},
	}
}

const secCheckJSON = `{"tenant":"sec","environment":"development","subject":{"id":"u1","roles":["member"]},` +
	`"network":{"ip":"198.51.100.7"},"action":{"name":"api.read"}}`

// callerPolicy denies every request whose caller is not the expected one,
// so that a decision shows what Rego saw as input.caller.
func callerPolicy(field, want string) string {
	return `package pdp.custom

deny contains {
	"code": "custom.caller_not_allowed",
	"message": sprintf("caller ` + field + ` %q may not ask", [input.caller.` + field + `]),
	"rule": "custom.caller_not_allowed",
} if input.caller.` + field + ` != "` + want + `"
`
}

func secCtx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func codesOf(r *pdpv1.CheckResponse) []string {
	var out []string
	for _, x := range r.GetReasons() {
		out = append(out, x.GetCode())
	}
	return out
}

// logSink collects a server's JSON logs.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func postCheck(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Post(url+"/v1/check", "application/json", strings.NewReader(secCheckJSON))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestAPIKeysEndToEnd(t *testing.T) {
	t.Parallel()
	pep := pdptest.NewKey(t, "edge-gateway", authn.RolePEP)
	admin := pdptest.NewKey(t, "root", authn.RoleAdmin)
	tenantAdmin := pdptest.NewKey(t, "sec-admin", authn.RoleTenantAdmin, "sec")
	logs := &logSink{}
	s := pdptest.Start(t,
		pdptest.WithAPIKeys(t, pep, admin, tenantAdmin),
		pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithPolicy("caller.rego", callerPolicy("name", "edge-gateway")),
		pdptest.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		pdptest.WithConfig(func(c *config.Config) { c.MetricsPublic = false }),
	)

	// The pep key decides, and Rego sees its name.
	resp, err := s.Decisions.Check(secCtx(t), secCheck())
	if err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("pep Check = %v, %v; want ALLOW", resp.GetDecision(), err)
	}
	// The admin key may decide too; the policy sees "root" and denies.
	resp, err = pdpv1.NewDecisionServiceClient(s.DialAs(t, admin.Key)).Check(secCtx(t), secCheck())
	if err != nil || !slices.Contains(codesOf(resp), "custom.caller_not_allowed") {
		t.Fatalf("admin Check = %v, %v; want the caller policy's deny", codesOf(resp), err)
	}
	for name, c := range map[string]struct {
		key  string
		want codes.Code
	}{
		"no key":       {"", codes.Unauthenticated},
		"unknown key":  {pdptest.NewKey(t, "x", authn.RolePEP).Key, codes.Unauthenticated},
		"tenant-admin": {tenantAdmin.Key, codes.PermissionDenied},
	} {
		_, err := pdpv1.NewDecisionServiceClient(s.DialAs(t, c.key)).Check(secCtx(t), secCheck())
		if status.Code(err) != c.want {
			t.Errorf("Check with %s: %v, want %s", name, err, c.want)
		}
	}
	if _, err := healthpb.NewHealthClient(s.DialAs(t, "")).Check(secCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without a key: %v", err)
	}

	// The HTTP port asks for the same keys.
	if code, body := postCheck(t, s.HTTP, s.HTTPURL); code != 200 || !strings.Contains(string(body), "DECISION_ALLOW") {
		t.Errorf("HTTP check as pep: %d %s", code, body)
	}
	for key, want := range map[string]int{"": 401, tenantAdmin.Key: 403} {
		if code, body := postCheck(t, s.HTTPAs(key), s.HTTPURL); code != want {
			t.Errorf("HTTP check with key %.8s: %d %s, want %d", key, code, body, want)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 401} {
		resp, err := s.HTTPAs("").Get(s.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a key: %d, want %d", path, resp.StatusCode, want)
		}
	}

	// Replacing the key file takes effect without a restart.
	s.WriteAPIKeys(t, admin)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Decisions.Check(secCtx(t), secCheck())
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed pep key still works: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	out := logs.String()
	for _, k := range []pdptest.Key{pep, admin, tenantAdmin} {
		if strings.Contains(out, k.Key) || strings.Contains(out, authn.HashKey(k.Key)) {
			t.Fatalf("a key or its hash reached the server log")
		}
	}
	if !strings.Contains(out, "API keys reloaded") || strings.Contains(strings.ToLower(out), "bearer pdp_") {
		t.Fatalf("server log lacks the reload or carries a bearer header:\n%s", out)
	}
}

// leafOf connects to addr over TLS and returns the server certificate.
func leafOf(t *testing.T, addr string, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestTLSEndToEnd(t *testing.T) {
	t.Parallel()
	pki := pdptest.NewPKI(t)
	first := pki.ServerCert
	s := pdptest.Start(t, pdptest.WithTLS(pki), pdptest.WithTenant("sec.yaml", secTenant))
	if !strings.HasPrefix(s.HTTPURL, "https://") {
		t.Fatalf("HTTPURL = %s", s.HTTPURL)
	}
	if resp, err := s.Decisions.Check(secCtx(t), secCheck()); err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("gRPC over TLS: %v, %v", resp.GetDecision(), err)
	}
	if code, body := postCheck(t, s.HTTP, s.HTTPURL); code != 200 {
		t.Fatalf("HTTP over TLS: %d %s", code, body)
	}
	// Plaintext is not served (Go's TLS server answers a bare 400).
	if resp, err := http.Get("http://" + strings.TrimPrefix(s.HTTPURL, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d", resp.StatusCode)
		}
	}

	// TLS 1.1 is refused.
	old := s.ClientTLS()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.Dial("tcp", s.GRPCAddr, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// Rotating the files changes the certificate of new connections on
	// both ports.
	httpAddr := strings.TrimPrefix(s.HTTPURL, "https://")
	grpcTLS := s.ClientTLS()
	grpcTLS.NextProtos = []string{"h2"}
	if got := leafOf(t, s.GRPCAddr, grpcTLS); !got.Equal(first) {
		t.Fatal("gRPC port serves another certificate than the first")
	}
	second := pki.RotateServer(t)
	deadline := time.Now().Add(10 * time.Second)
	for !leafOf(t, s.GRPCAddr, grpcTLS).Equal(second) || !leafOf(t, httpAddr, s.ClientTLS()).Equal(second) {
		if time.Now().After(deadline) {
			t.Fatal("new connections still see the first certificate after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A fresh gRPC connection decides over the new certificate.
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(s.ClientTLS())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := pdpv1.NewDecisionServiceClient(conn).Check(secCtx(t), secCheck()); err != nil {
		t.Fatalf("Check after rotation: %v", err)
	}
}

func TestMutualTLSCallerReachesPolicy(t *testing.T) {
	t.Parallel()
	const gateway = "spiffe://example.org/ns/edge/sa/gateway"
	pki := pdptest.NewPKI(t)
	s := pdptest.Start(t,
		pdptest.WithMutualTLS(pki, pki.Client(t, "gateway", gateway)),
		pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithPolicy("caller.rego", callerPolicy("spiffe_id", gateway)),
	)
	resp, err := s.Decisions.Check(secCtx(t), secCheck())
	if err != nil || resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("the expected gateway: %v %v, %v; want ALLOW", resp.GetDecision(), codesOf(resp), err)
	}
	if code, body := postCheck(t, s.HTTP, s.HTTPURL); code != 200 || !strings.Contains(string(body), "DECISION_ALLOW") {
		t.Fatalf("the expected gateway over HTTP: %d %s", code, body)
	}

	// Another workload's certificate is authenticated, and policy refuses it.
	other := s.ClientTLS()
	other.Certificates = []tls.Certificate{pki.Client(t, "batch", "spiffe://example.org/ns/jobs/sa/batch")}
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(other)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err = pdpv1.NewDecisionServiceClient(conn).Check(secCtx(t), secCheck())
	if err != nil || !slices.Contains(codesOf(resp), "custom.caller_not_allowed") {
		t.Fatalf("another workload: %v, %v; want the caller policy's deny", codesOf(resp), err)
	}

	// Without a client certificate there is no connection at all.
	none := s.ClientTLS()
	none.Certificates = nil
	conn2, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(none)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := pdpv1.NewDecisionServiceClient(conn2).Check(secCtx(t), secCheck()); status.Code(err) != codes.Unavailable {
		t.Fatalf("gRPC without a client certificate: %v, want UNAVAILABLE", err)
	}
	httpNone := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: none}}
	if resp, err := httpNone.Get(s.HTTPURL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("HTTP without a client certificate succeeded")
	}
}

func TestDecisionLogEndToEnd(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "decisions.log")
	s := pdptest.Start(t,
		pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithConfig(func(c *config.Config) {
			c.DecisionLog = path
			c.DecisionLogMask = []string{"subject.email=redact", "network.ip=truncate"}
		}),
	)
	var ids []string
	for i := 0; i < 3; i++ {
		resp, err := s.Decisions.Check(secCtx(t), secCheck())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetDecisionId())
	}
	s.Stop() // flushes the log

	type logLine struct {
		DecisionID string `json:"decision_id"`
		Tenant     string `json:"tenant"`
		Decision   string `json:"decision"`
		Subject    struct{ ID, Email string }
		Network    struct{ IP string }
	}
	var logged []string
	eachLogLine(t, path, func(line logLine, text string) {
		if line.Tenant != "sec" || line.Decision != "allow" || line.Subject.ID != "u1" ||
			line.Subject.Email != "[redacted]" || line.Network.IP != "198.51.100.0/24" {
			t.Errorf("line %s", text)
		}
		logged = append(logged, line.DecisionID)
	})
	if !slices.Equal(ids, logged) {
		t.Fatalf("logged decision ids %v, want the responses' %v", logged, ids)
	}
}

func TestInsecureNoAuthWarnsLoudly(t *testing.T) {
	t.Parallel()
	logs := &logSink{}
	s := pdptest.Start(t,
		pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithConfig(func(c *config.Config) { c.InsecureNoAuth = true }),
		pdptest.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))),
	)
	if _, err := s.Decisions.Check(secCtx(t), secCheck()); err != nil {
		t.Fatal(err)
	}
	var warned bool
	for line := range strings.Lines(logs.String()) {
		warned = warned || (strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "INSECURE") &&
			strings.Contains(line, "--insecure-no-auth"))
	}
	if !warned {
		t.Fatalf("no warning about --insecure-no-auth:\n%s", logs)
	}
}
