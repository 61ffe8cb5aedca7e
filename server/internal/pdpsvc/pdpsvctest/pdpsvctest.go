// Package pdpsvctest holds the test doubles the gRPC and HTTP servers'
// tests share: a DecisionService over a scripted evaluator, and a log sink
// a test can read while the server writes to it.
package pdpsvctest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// Evaluator decides from the action name: "allow", "deny", "challenge";
// "unavailable" fails as with no policy loaded, "internal" with a secret
// cause, "panic" panics and "block" waits for the context to end. Any
// other name is a deny.
type Evaluator struct{}

// Decide implements decide.Evaluator.
func (Evaluator) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
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

// Applier records every event as "ev-1".
type Applier struct{}

// Apply implements decide.Applier.
func (Applier) Apply(_ context.Context, ev *decision.Event) (signals.Recorded, error) {
	return signals.Recorded{EventID: "ev-1", Event: *ev}, nil
}

// Clock is the time Service's DecisionService reads.
var Clock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Service is the DecisionService over Evaluator and Applier at Clock.
func Service(t testing.TB) *pdpsvc.Service {
	t.Helper()
	return ServiceOver(t, Evaluator{}, Applier{}, Clock)
}

// ServiceOver is the DecisionService over the decision service,
// evaluating with ev and applying reports with ap, its clock at now.
func ServiceOver(t testing.TB, ev decide.Evaluator, ap decide.Applier, now time.Time) *pdpsvc.Service {
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

// LogBuffer is a concurrency-safe sink for a JSON slog logger.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewLogger is a JSON logger at debug level writing to a new LogBuffer.
func NewLogger() (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
