package grpcserver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/httpapi"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// fakeDecider decides from the action name: "allow", "deny", "challenge";
// "unavailable" fails as with no policy loaded, "internal" with a secret
// cause, "panic" panics and "block" waits for the context to end.
type fakeDecider struct{}

func (fakeDecider) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	switch req.Action.Name {
	case "unavailable":
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	case "internal":
		return nil, fault.Wrap(errors.New("database password rejected"), fault.Internal, "store failure")
	case "panic":
		panic("decider exploded")
	case "block":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	kind, ok := decision.ParseKind(req.Action.Name)
	if !ok {
		kind = decision.KindDeny
	}
	return &decision.Decision{Kind: kind, ID: "dec-1", PolicyRevision: "rev-1", Enforced: true,
		Risk: decision.Risk{Score: 0.1, Level: decision.RiskLow}}, nil
}

type fakeRecorder struct{}

func (fakeRecorder) Apply(_ context.Context, ev *decision.Event) (signals.Recorded, error) {
	return signals.Recorded{EventID: "ev-1", Event: *ev}, nil
}

func newService(t *testing.T) *pdpsvc.Service {
	t.Helper()
	return decisionService(t, fakeDecider{}, fakeRecorder{}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// decisionService is the DecisionService over the decision service,
// evaluating with ev and applying reports with ap.
func decisionService(t testing.TB, ev decide.Evaluator, ap decide.Applier, now time.Time) *pdpsvc.Service {
	t.Helper()
	d, err := decide.New(decide.Options{Evaluator: ev, Applier: ap})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := pdpsvc.New(pdpsvc.Options{Decisions: d, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// logBuffer is a concurrency-safe sink for a JSON slog logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// do serves one request with h and returns the recorded answer.
func do(h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// newHTTP is the HTTP port's handler over the test service, logging to a
// buffer.
func newHTTP(t *testing.T, opts httpapi.Options) (http.Handler, *logBuffer) {
	t.Helper()
	logger, logs := newLogger()
	opts.Logger = logger
	if opts.Decisions == nil {
		opts.Decisions = newService(t)
	}
	return httpapi.NewHandler(opts), logs
}
