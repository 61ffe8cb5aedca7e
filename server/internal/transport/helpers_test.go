package transport_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
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

func (fakeRecorder) Record(context.Context, *decision.Event) (string, error) { return "ev-1", nil }

func newService(t *testing.T) *pdpsvc.Service {
	t.Helper()
	svc, err := pdpsvc.New(pdpsvc.Options{
		Decider: fakeDecider{}, Recorder: fakeRecorder{},
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
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
