package authn_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

// echoHandler answers with the caller it sees and the credential headers
// that reached it.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := authn.CallerFrom(r.Context())
		if !ok {
			http.Error(w, "no caller", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"name": c.Name, "role": string(c.Role),
			"authorization": r.Header.Get("Authorization"), "api_key": r.Header.Get(authn.APIKeyHeader),
		})
	})
}

func TestHTTPMiddleware(t *testing.T) {
	t.Parallel()
	logger, logs := debugLogger()
	a := authn.New(authn.Options{Keys: authn.NewStaticKeys(mustKeys(t)), MetricsPublic: true, Logger: logger})
	srv := httptest.NewServer(a.HTTPMiddleware(echoHandler()))
	t.Cleanup(srv.Close)

	const userJWT = "Bearer eyJhbGciOiJSUzI1NiJ9.user.token"
	tests := []struct {
		name, path string
		headers    map[string]string
		want       int
		wantCode   string
		wantSeen   map[string]string
	}{
		{name: "health is public", path: "/healthz", want: 200},
		{name: "readiness is public", path: "/readyz", want: 200},
		{name: "metrics when public", path: "/metrics", want: 200},
		{name: "check without key", path: "/v1/check", want: 401, wantCode: "UNAUTHENTICATED"},
		{name: "check with unknown key", path: "/v1/check", headers: map[string]string{"Authorization": "Bearer " + strangers}, want: 401, wantCode: "UNAUTHENTICATED"},
		{name: "check as pep", path: "/v1/check", headers: map[string]string{"Authorization": "Bearer " + pepKey}, want: 200,
			wantSeen: map[string]string{"name": "edge-gateway", "role": "pep", "authorization": "", "api_key": ""}},
		{name: "report as admin", path: "/v1/report", headers: map[string]string{"Authorization": "Bearer " + adminKey}, want: 200,
			wantSeen: map[string]string{"name": "root", "role": "admin"}},
		{name: "check as tenant-admin", path: "/v1/check", headers: map[string]string{"Authorization": "Bearer " + acmeKey}, want: 403, wantCode: "PERMISSION_DENIED"},
		{name: "forward-auth keeps the user's token", path: "/v1/forward-auth",
			headers: map[string]string{"Authorization": userJWT, authn.APIKeyHeader: pepKey}, want: 200,
			wantSeen: map[string]string{"name": "edge-gateway", "authorization": userJWT, "api_key": ""}},
		{name: "forward-auth with only the user's token", path: "/v1/forward-auth",
			headers: map[string]string{"Authorization": userJWT}, want: 401, wantCode: "UNAUTHENTICATED"},
		{name: "unknown path as pep", path: "/v1/nothing", headers: map[string]string{"Authorization": "Bearer " + pepKey}, want: 403, wantCode: "PERMISSION_DENIED"},
		{name: "unknown path as admin", path: "/v1/nothing", headers: map[string]string{"Authorization": "Bearer " + adminKey}, want: 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader("{}"))
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d: %s", tt.name, resp.StatusCode, tt.want, body)
			continue
		}
		var got map[string]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s: body %q: %v", tt.name, body, err)
			continue
		}
		if tt.wantCode != "" {
			if got["code"] != tt.wantCode {
				t.Errorf("%s: code %q, want %q", tt.name, got["code"], tt.wantCode)
			}
			for _, name := range []string{"edge-gateway", "root", "acme-admin"} {
				if strings.Contains(got["message"], name) {
					t.Errorf("%s: message %q names a key", tt.name, got["message"])
				}
			}
			if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="pdp"`) {
				t.Errorf("%s: WWW-Authenticate %q", tt.name, resp.Header.Get("WWW-Authenticate"))
			}
		}
		for k, v := range tt.wantSeen {
			if got[k] != v {
				t.Errorf("%s: handler saw %s=%q, want %q", tt.name, k, got[k], v)
			}
		}
	}
	assertNoSecrets(t, logs.String())
}

func TestHTTPMiddlewarePrivateMetrics(t *testing.T) {
	t.Parallel()
	a := authn.New(authn.Options{Keys: authn.NewStaticKeys(mustKeys(t)), MetricsPublic: false})
	h := a.HTTPMiddleware(echoHandler())
	for key, want := range map[string]int{"": 401, pepKey: 200, acmeKey: 200, adminKey: 200} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("metrics with key %.8s: %d, want %d", key, rec.Code, want)
		}
	}
}

func TestHTTPMiddlewareWithoutKeys(t *testing.T) {
	t.Parallel()
	h := authn.New(authn.Options{}).HTTPMiddleware(echoHandler())
	req := httptest.NewRequest(http.MethodPost, "/v1/check", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("open server: %d %s", rec.Code, rec.Body)
	}
}

// Without keys the port is on loopback; a page of another name resolved to
// 127.0.0.1 (DNS rebinding) still names its own host, and is refused.
func TestWithoutKeysOnlyALoopbackHostIsAnswered(t *testing.T) {
	t.Parallel()
	a := authn.New(authn.Options{LoopbackHostsOnly: true})
	srv := httptest.NewServer(a.HTTPMiddleware(echoHandler()))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path, host string
		want       int
	}{
		{"/v1/check", "", http.StatusOK},
		{"/v1/check", "localhost:8181", http.StatusOK},
		{"/v1/report", "[::1]:8181", http.StatusOK},
		{"/v1/check", "evil.example:8181", http.StatusForbidden},
		{"/v1/report", "evil.example", http.StatusForbidden},
		{"/access/v1/evaluation", "evil.example", http.StatusForbidden},
		{"/ssf/streams/idp/events", "127.0.0.1.evil.example", http.StatusBadRequest}, // RFC 8935's refusal
		{"/metrics", "evil.example", http.StatusForbidden},
		{"/healthz", "evil.example", http.StatusOK},
		{"/v1/forward-auth", "app.example.com", http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.host != "" {
			req.Host = c.host
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s with Host %q: %d, want %d", c.path, c.host, resp.StatusCode, c.want)
		}
	}
}
