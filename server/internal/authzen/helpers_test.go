package authzen_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

// t0 is the clock of the handler under test.
var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// fakeChecker decides with decide and remembers every request.
type fakeChecker struct {
	mu     sync.Mutex
	seen   []*decision.Request
	decide func(*decision.Request) (*decision.Decision, error)
}

func (f *fakeChecker) Check(_ context.Context, req *decision.Request) (*decision.Decision, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	if f.decide == nil {
		return &decision.Decision{Kind: decision.KindAllow, ID: "d-1", Enforced: true}, nil
	}
	return f.decide(req)
}

func (f *fakeChecker) requests() []*decision.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*decision.Request(nil), f.seen...)
}

// allowIf allows the requests ok accepts and denies the others.
func allowIf(ok func(*decision.Request) bool) func(*decision.Request) (*decision.Decision, error) {
	return func(r *decision.Request) (*decision.Decision, error) {
		if ok(r) {
			return &decision.Decision{Kind: decision.KindAllow, ID: "d-allow", Enforced: true}, nil
		}
		return &decision.Decision{Kind: decision.KindDeny, ID: "d-deny", Enforced: true,
			Reasons: []decision.Reason{{Code: "authz.role_forbidden", Message: "no role grants it", Rule: "core.role_forbidden"}}}, nil
	}
}

// serve starts the handler with opts (the checker defaults to an allow
// for everything) in front of a handler answering 418 for other paths.
func serve(t *testing.T, opts authzen.Options) *httptest.Server {
	t.Helper()
	if opts.Checker == nil {
		opts.Checker = &fakeChecker{}
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	h, err := authzen.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := httptest.NewServer(authzen.Mount(h, other))
	t.Cleanup(srv.Close)
	return srv
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, srv *httptest.Server, path, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func get(t *testing.T, srv *httptest.Server, path string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// object decodes a JSON object answer.
func (a answer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %s", a.status, a.body)
	}
	return m
}

func (a answer) want(t *testing.T, status int) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	return a
}

// errorMessage is the JSON string of an error answer.
func (a answer) errorMessage(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(a.body, &s); err != nil {
		t.Fatalf("error answer is not a JSON string: %s", a.body)
	}
	return s
}

const aliceReadsAccount = `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "resource": {"type": "account", "id": "123"},
  "action": {"name": "can_read"}
}`
