package forwardauth_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// exampleConfig is the documented nginx configuration the test runs.
const exampleConfig = "../../../clients/nginx/nginx.conf"

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// startNginx runs clients/nginx/nginx.conf with its three addresses
// replaced, in a private prefix, until the test ends. It returns the port
// nginx listens on (127.0.0.1 and [::1]).
func startNginx(t *testing.T, pdpAddr, appAddr string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatal("nginx is not installed; install it with: apt-get update && apt-get install -y nginx")
	}
	conf, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	text := string(conf)
	for old, repl := range map[string]string{
		"server 127.0.0.1:8181;": "server " + pdpAddr + ";",
		"server 127.0.0.1:8080;": "server " + appAddr + ";",
		"listen 127.0.0.1:8000;": "listen 127.0.0.1:" + port + ";",
		"listen [::1]:8000;":     "listen [::1]:" + port + ";",
	} {
		if strings.Count(text, old) != 1 {
			t.Fatalf("%s: %q must occur once", exampleConfig, old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	prefix := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	global := "daemon off;"
	if os.Geteuid() == 0 {
		// Workers would switch to nobody, who cannot write the test's
		// private temporary directory.
		global += " user root;"
	}
	cmd := exec.Command(bin, "-p", prefix+"/", "-c", confPath, "-g", global)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), logs)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return port
		}
		select {
		case <-done:
			t.Fatalf("nginx exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %s", port, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// upstream is the application behind nginx; it records what reached it.
type upstream struct {
	mu   sync.Mutex
	seen []http.Header
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Header.Clone())
	u.mu.Unlock()
	_, _ = io.WriteString(w, "upstream ok")
}

func (u *upstream) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// TestBehindRealNginx runs the documented nginx configuration in front of
// an application, with the PDP deciding every request.
func TestBehindRealNginx(t *testing.T) {
	t.Parallel()
	idp := newIssuer(t, "idp-2026-03")
	jwks := writeJWKS(t, t.TempDir(), idp)
	s := pdptest.Start(t, pdptest.WithTenant("shop.yaml", shopTenant), pdptest.WithConfig(func(c *config.Config) {
		c.Gateway.JWKSFile = jwks
		c.Gateway.JWTIssuer = "https://idp.example.com"
		c.Gateway.JWTAudience = []string{"shop-api"}
		// nginx reaches the PDP from 127.0.0.1; clients reach nginx on [::1].
		c.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}))
	app := &upstream{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	port := startNginx(t, strings.TrimPrefix(s.HTTPURL, "http://"), appSrv.Listener.Addr().String())
	client := &http.Client{Timeout: 10 * time.Second}

	do := func(t *testing.T, method, host, path, token string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+net.JoinHostPort(host, port)+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	checkDecisionHeaders := func(t *testing.T, resp *http.Response) {
		t.Helper()
		if resp.Header.Get("X-PDP-Decision-Id") == "" || resp.Header.Get("X-PDP-Risk-Score") == "" {
			t.Errorf("decision headers missing: %v", resp.Header)
		}
	}

	t.Run("allowed reaches the upstream", func(t *testing.T) {
		resp, body := do(t, "GET", "::1", "/api/orders/1042?expand=items", idp.token(t, customer()))
		if resp.StatusCode != 200 || body != "upstream ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		checkDecisionHeaders(t, resp)
		if got := app.last().Get("X-PDP-Decision-Id"); got != resp.Header.Get("X-PDP-Decision-Id") {
			t.Errorf("upstream saw decision id %q, client %q", got, resp.Header.Get("X-PDP-Decision-Id"))
		}
	})
	t.Run("a spoofed X-Forwarded-For is not believed", func(t *testing.T) {
		// 203.0.113.66 is denied; the client is really ::1, which nginx
		// appends, and ::1 is no trusted proxy.
		resp, body := do(t, "GET", "::1", "/api/orders", idp.token(t, customer()), "X-Forwarded-For", "203.0.113.66")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("behind a trusted proxy the forwarded client decides", func(t *testing.T) {
		// From 127.0.0.1, a trusted proxy in front of nginx: its
		// X-Forwarded-For is read, and 203.0.113.66 is denied.
		resp, body := do(t, "GET", "127.0.0.1", "/api/orders", idp.token(t, customer()), "X-Forwarded-For", "203.0.113.66")
		if resp.StatusCode != 403 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("a challenge is 401 with the RFC 9470 header", func(t *testing.T) {
		resp, body := do(t, "POST", "127.0.0.1", "/admin/users/u-2/roles", idp.token(t, admin()))
		if resp.StatusCode != 401 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != wantChallenge {
			t.Fatalf("WWW-Authenticate %q, want %q", got, wantChallenge)
		}
		checkDecisionHeaders(t, resp)
		if !strings.Contains(body, resp.Header.Get("X-PDP-Decision-Id")) {
			t.Errorf("body %q lacks the decision id", body)
		}
	})
	t.Run("a deny is 403", func(t *testing.T) {
		resp, body := do(t, "DELETE", "::1", "/api/orders/1042", idp.token(t, customer()))
		if resp.StatusCode != 403 {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		checkDecisionHeaders(t, resp)
	})
	t.Run("an expired token is 401 invalid_token", func(t *testing.T) {
		claims := customer()
		claims["exp"] = time.Now().Add(-time.Hour).Unix()
		resp, body := do(t, "GET", "::1", "/api/orders", idp.token(t, claims))
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="token expired"` {
			t.Fatalf("status %d, WWW-Authenticate %q, body %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
	t.Run("identity headers from the client are cleared", func(t *testing.T) {
		resp, body := do(t, "DELETE", "::1", "/api/orders/1042", "", "X-PDP-User-Id", "u-7", "X-PDP-Roles", "admin")
		if resp.StatusCode != 403 {
			t.Fatalf("status %d body %q: a client chose its own roles", resp.StatusCode, body)
		}
	})
}
