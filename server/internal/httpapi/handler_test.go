package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pdp-dev/pdp/server/internal/httpapi"
)

type errorJSON struct {
	Code            string `json:"code"`
	Message         string `json:"message"`
	FieldViolations []struct {
		Field       string `json:"field"`
		Description string `json:"description"`
	} `json:"field_violations"`
}

func newHTTP(t *testing.T, opts httpapi.Options) (http.Handler, *logBuffer) {
	t.Helper()
	logger, logs := newLogger()
	opts.Logger = logger
	if opts.Decisions == nil {
		opts.Decisions = newService(t)
	}
	return httpapi.NewHandler(opts), logs
}

func do(h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorJSON {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e errorJSON
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return e
}

func TestHTTPCheckFieldErrors(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	w := do(h, http.MethodPost, "/v1/check", "application/json", `{"network":{"ip":"not-an-ip"},"action":{"name":"allow"}}`)
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", w.Code, w.Body)
	}
	e := decodeError(t, w)
	var fields []string
	for _, v := range e.FieldViolations {
		fields = append(fields, v.Field)
	}
	if e.Code != "INVALID_ARGUMENT" || !strings.HasPrefix(e.Message, "invalid request") {
		t.Errorf("code %q message %q", e.Code, e.Message)
	}
	if diff := cmp.Diff([]string{"tenant", "network.ip"}, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestHTTPCheckBothSpellings(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	bodies := map[string]string{
		"lowerCamel": `{"tenant":"acme","action":{"name":"allow"},"subject":{"id":"u","mfaEnrolled":true},"authentication":{"mfaVerifiedAt":"2026-01-01T00:00:00Z"}}`,
		"snake_case": `{"tenant":"acme","action":{"name":"allow"},"subject":{"id":"u","mfa_enrolled":true},"authentication":{"mfa_verified_at":"2026-01-01T00:00:00Z"}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := do(h, http.MethodPost, "/v1/check", "application/json", body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"decision": "DECISION_ALLOW", "allowed": true, "decisionId": "dec-1", "policyRevision": "rev-1",
				"cacheTtl": "0s", "enforced": true, "wouldDecide": "DECISION_UNSPECIFIED",
				"risk":    map[string]any{"score": 0.1, "level": "RISK_LEVEL_LOW", "factors": []any{}},
				"stepUps": []any{}, "reasons": []any{}, "obligations": []any{}, "explanation": []any{},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPRequestErrors(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{MaxBodyBytes: 256})
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
	}{
		{"unknown field", http.MethodPost, "/v1/check", "application/json", `{"tenant":"acme","bogus":1}`, 400, "INVALID_ARGUMENT"},
		{"malformed JSON", http.MethodPost, "/v1/check", "application/json", `{"tenant":`, 400, "INVALID_ARGUMENT"},
		{"empty body names required fields", http.MethodPost, "/v1/check", "", ``, 400, "INVALID_ARGUMENT"},
		{"too large", http.MethodPost, "/v1/check", "application/json", `{"tenant":"` + strings.Repeat("a", 300) + `"}`, 413, "RESOURCE_EXHAUSTED"},
		{"GET check", http.MethodGet, "/v1/check", "", "", 405, "UNIMPLEMENTED"},
		{"PUT report", http.MethodPut, "/v1/report", "", "", 405, "UNIMPLEMENTED"},
		{"POST healthz", http.MethodPost, "/healthz", "", "", 405, "UNIMPLEMENTED"},
		{"not JSON and unparsable", http.MethodPost, "/v1/check", "text/plain", `tenant=acme`, 415, "INVALID_ARGUMENT"},
		{"unknown path", http.MethodGet, "/v2/check", "", "", 404, "NOT_FOUND"},
		{"metrics unset", http.MethodGet, "/metrics", "", "", 404, "NOT_FOUND"},
		{"unavailable", http.MethodPost, "/v1/check", "application/json", `{"tenant":"a","action":{"name":"unavailable"}}`, 503, "UNAVAILABLE"},
		{"internal", http.MethodPost, "/v1/check", "application/json", `{"tenant":"a","action":{"name":"internal"}}`, 500, "INTERNAL"},
		{"panic", http.MethodPost, "/v1/check", "application/json", `{"tenant":"a","action":{"name":"panic"}}`, 500, "INTERNAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := do(h, tc.method, tc.path, tc.contentType, tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if e := decodeError(t, w); e.Code != tc.code {
				t.Errorf("code %q, want %q (%s)", e.Code, tc.code, e.Message)
			}
			if tc.status == 405 {
				want := "POST"
				if tc.path == "/healthz" {
					want = "GET, HEAD"
				}
				if got := w.Header().Get("Allow"); got != want {
					t.Errorf("Allow = %q, want %q", got, want)
				}
			}
			if tc.status == 500 && strings.Contains(w.Body.String(), "password") {
				t.Errorf("internal detail leaked: %s", w.Body)
			}
		})
	}
}

func TestHTTPToleratesOtherContentTypeWhenBodyParses(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	w := do(h, http.MethodPost, "/v1/check", "text/plain", `{"tenant":"acme","action":{"name":"deny"}}`)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"decision":"DECISION_DENY"`) {
		t.Fatalf("status %d body %s, want a 200 deny", w.Code, w.Body)
	}
}

func TestHTTPDeadline(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{RequestTimeout: 20 * time.Millisecond})
	w := do(h, http.MethodPost, "/v1/check", "application/json", `{"tenant":"a","action":{"name":"block"}}`)
	if w.Code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", w.Code, w.Body)
	}
}

func TestHTTPInternalAndPanicLogged(t *testing.T) {
	t.Parallel()
	h, logs := newHTTP(t, httpapi.Options{})
	do(h, http.MethodPost, "/v1/check", "application/json", `{"tenant":"a","action":{"name":"internal"}}`)
	do(h, http.MethodPost, "/v1/check", "application/json", `{"tenant":"a","action":{"name":"panic"}}`)
	for _, want := range []string{"database password rejected", "panic in HTTP handler", "decider exploded"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestHTTPReport(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	w := do(h, http.MethodPost, "/v1/report", "application/json", `{"tenant":"acme","event":"EVENT_LOGIN_FAILED","subject":{"id":"u1"}}`)
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"eventId":"ev-1"}` {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	w = do(h, http.MethodPost, "/v1/report", "application/json", `{"tenant":"acme"}`)
	e := decodeError(t, w)
	if w.Code != http.StatusBadRequest || len(e.FieldViolations) != 2 || e.FieldViolations[0].Field != "event" {
		t.Fatalf("status %d body %s, want 400 naming event and subject.id", w.Code, w.Body)
	}
}

func TestHTTPHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	var ready error = errors.New("no policy loaded")
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("pdp_up 1\n")) })
	h, _ := newHTTP(t, httpapi.Options{
		Ready:   func(context.Context) error { return ready },
		Metrics: metrics,
	})
	if w := do(h, http.MethodGet, "/healthz", "", ""); w.Code != http.StatusOK {
		t.Errorf("healthz %d", w.Code)
	}
	w := do(h, http.MethodGet, "/readyz", "", "")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no policy loaded") {
		t.Errorf("readyz %d %s, want 503 with the reason", w.Code, w.Body)
	}
	ready = nil
	if w := do(h, http.MethodGet, "/readyz", "", ""); w.Code != http.StatusOK {
		t.Errorf("readyz %d after ready, want 200", w.Code)
	}
	if w := do(h, http.MethodGet, "/metrics", "", ""); w.Code != http.StatusOK || w.Body.String() != "pdp_up 1\n" {
		t.Errorf("metrics %d %q", w.Code, w.Body)
	}
}

func TestHTTPTracing(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h, _ := newHTTP(t, httpapi.Options{TracerProvider: tp})
	do(h, http.MethodPost, "/v1/check", "application/json", `{"tenant":"acme","action":{"name":"allow"}}`)
	do(h, http.MethodGet, "/random/path/123", "", "")
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if diff := cmp.Diff([]string{"POST /v1/check", "GET unknown route"}, names); diff != "" {
		t.Errorf("span names (-want +got):\n%s", diff)
	}
}
