package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// recorder is a Destination that keeps the lines written; failing writes
// fail while it is above 0, and a non-nil gate holds every write until it
// is closed.
type recorder struct {
	mu      sync.Mutex
	lines   [][]byte
	failing int
	gate    chan struct{}
	closed  bool
}

func (r *recorder) Write(line []byte) error {
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing > 0 {
		r.failing--
		return errors.New("disk full")
	}
	r.lines = append(r.lines, bytes.Clone(line))
	return nil
}

func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// heads returns the heads the lines written so far sign.
func (r *recorder) heads(t *testing.T, ks Keys) []audit.Head {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Head
	for _, l := range r.lines {
		cp, err := ks.Verify(l)
		if err != nil {
			t.Fatalf("a written checkpoint does not verify: %v", err)
		}
		out = append(out, cp.Head())
	}
	return out
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func memoryLog(t *testing.T) audit.Log { return memoryStore(t) }

func memoryStore(t testing.TB) audit.Log {
	t.Helper()
	st := memory.New(memory.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = st.Close() })
	return st.AuditLog()
}

func newCheckpointer(t *testing.T, log audit.Log, dest Destination, o Options) (*Checkpointer, *Signer) {
	t.Helper()
	s := newSigner(t)
	o.Log, o.Signer, o.Dest = log.(audit.Header), s, dest
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func lastSeq(t *testing.T, r *recorder, ks Keys) uint64 {
	hs := r.heads(t, ks)
	if len(hs) == 0 {
		return ^uint64(0)
	}
	return hs[len(hs)-1].Seq
}

func TestCheckpointerWritesAtStartAfterChangesAndAtClose(t *testing.T) {
	ctx := context.Background()
	base := memoryLog(t)
	dest := &recorder{}
	c, s := newCheckpointer(t, base, dest, Options{})
	ks := keysOf(t, s)
	log := c.Wrap(base)
	c.Start()
	waitFor(t, "the start checkpoint", func() bool { return lastSeq(t, dest, ks) == 0 })
	for i := range 3 {
		if _, err := log.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a checkpoint after the change", func() bool { return lastSeq(t, dest, ks) == uint64(i+1) })
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	hs := dest.heads(t, ks)
	if len(hs) != 5 || hs[4].Seq != 3 || !dest.closed {
		t.Fatalf("checkpoints %v, closed %v; want start, 3 changes and the shutdown one", hs, dest.closed)
	}
	// An invalid entry changes nothing and marks nothing due.
	if _, err := log.Append(ctx, audit.Entry{}); err == nil {
		t.Fatal("an entry without actor appended")
	}
	lines := make([]Line, len(dest.lines))
	for i, l := range dest.lines {
		cp, err := ks.Verify(l)
		lines[i] = Line{N: i + 1, Checkpoint: cp, Err: err}
	}
	if r, err := Check(ctx, base, lines); err != nil || !r.OK() || r.Held != 5 {
		t.Fatalf("Check of the written checkpoints = %+v, %v", r, err)
	}
}

func TestWrapKeepsCommitsOfAChangeAndItsRecordAsOne(t *testing.T) {
	ctx := context.Background()
	base := memoryLog(t)
	dest := &recorder{}
	c, s := newCheckpointer(t, base, dest, Options{})
	ks := keysOf(t, s)
	log := c.Wrap(base)
	cm, ok := log.(audit.Committer)
	if !ok {
		t.Fatal("the wrapped log of a Committer is no Committer: admin changes would no longer commit with their records")
	}
	c.Start()
	waitFor(t, "the start checkpoint", func() bool { return lastSeq(t, dest, ks) == 0 })
	changed := false
	if _, err := cm.Commit(ctx, entry(0), func(context.Context, *audit.Entry) error { changed = true; return nil }); err != nil || !changed {
		t.Fatalf("Commit = %v, change ran %v", err, changed)
	}
	waitFor(t, "a checkpoint after the commit", func() bool { return lastSeq(t, dest, ks) == 1 })
	_ = c.Close(ctx)
	if _, ok := c.Wrap(&chainLog{}).(audit.Committer); ok {
		t.Error("the wrapped log of a log that cannot commit claims to")
	}
}

func TestCheckpointerIntervalCoalescesChanges(t *testing.T) {
	ctx := context.Background()
	base := memoryLog(t)
	dest := &recorder{}
	c, s := newCheckpointer(t, base, dest, Options{Interval: 300 * time.Millisecond})
	ks := keysOf(t, s)
	log := c.Wrap(base)
	c.Start()
	waitFor(t, "the start checkpoint", func() bool { return lastSeq(t, dest, ks) == 0 })
	for i := range 20 {
		if _, err := log.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a checkpoint of seq 20", func() bool { return lastSeq(t, dest, ks) == 20 })
	if n := len(dest.heads(t, ks)); n > 3 {
		t.Errorf("%d checkpoints for 20 changes within one interval", n)
	}
	_ = c.Close(ctx)
}

func TestAppendsDoNotWaitForAStuckDestination(t *testing.T) {
	ctx := context.Background()
	base := memoryLog(t)
	dest := &recorder{gate: make(chan struct{})}
	c, s := newCheckpointer(t, base, dest, Options{})
	log := c.Wrap(base)
	c.Start() // the start checkpoint hangs in Write
	// The gate stays shut until the appends are done, so an append that
	// waited for the destination would never return.
	appended := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := log.Append(ctx, entry(i)); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("appends wait for the stuck checkpoint destination")
	}
	// Close gives up on a write that does not finish.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Close(short); err == nil {
		t.Fatal("Close with a stuck destination reported no error")
	}
	close(dest.gate)
	ks := keysOf(t, s)
	waitFor(t, "the stuck write to land", func() bool { return len(dest.heads(t, ks)) == 1 })
}

func TestFailedCheckpointsAreLoggedCountedAndRetried(t *testing.T) {
	ctx := context.Background()
	base := memoryLog(t)
	dest := &recorder{failing: 3}
	reader := sdkmetric.NewManualReader()
	var logs bytes.Buffer
	var logMu sync.Mutex
	c, s := newCheckpointer(t, base, dest, Options{
		Retry:  5 * time.Millisecond,
		Meter:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil)),
	})
	ks := keysOf(t, s)
	log := c.Wrap(base)
	if _, err := log.Append(ctx, entry(0)); err != nil {
		t.Fatal(err)
	}
	c.Start()
	waitFor(t, "a checkpoint after three failures", func() bool { return lastSeq(t, dest, ks) == 1 })
	_ = c.Close(ctx)
	counts := counters(t, reader)
	if counts[failuresName] != 3 || counts[writtenName] != 2 {
		t.Errorf("counters %v; want 3 failures and 2 written (start, shutdown)", counts)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if got := bytes.Count(logs.Bytes(), []byte("audit checkpoint not written; retrying")); got != 3 {
		t.Errorf("%d failures logged:\n%s", got, logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func counters(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					out[m.Name] += dp.Value
				}
			}
		}
	}
	return out
}

func TestCloseGivesUpOnAShutdownCheckpointThatDoesNotFinish(t *testing.T) {
	base := memoryLog(t)
	dest := &recorder{gate: make(chan struct{})}
	c, _ := newCheckpointer(t, base, dest, Options{})
	// Never started: the shutdown checkpoint is the write that hangs.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- c.Close(short) }()
	select {
	case err := <-closed:
		if err == nil {
			t.Fatal("Close with a stuck destination reported no error")
		}
	case <-time.After(time.Minute):
		t.Fatal("Close waited for a stuck destination past its context")
	}
	close(dest.gate)
}

// slowHead is a chain whose head reads wait for release, or at most
// 200ms.
type slowHead struct {
	audit.Log
	release chan struct{}
}

func (s slowHead) Head(ctx context.Context) (audit.Head, error) {
	select {
	case <-s.release:
	case <-time.After(200 * time.Millisecond):
	}
	return s.Log.(audit.Header).Head(ctx)
}

func TestTheStartCheckpointIsTheHeadAtStart(t *testing.T) {
	ctx := context.Background()
	base := memoryLog(t)
	dest := &recorder{}
	c, s := newCheckpointer(t, slowHead{Log: base, release: make(chan struct{})}, dest, Options{})
	slow := c.opts.Log.(slowHead)
	log := c.Wrap(base)
	c.Start()
	// A change made once Start returned, while the background writer may
	// still be reading the head.
	if _, err := log.Append(ctx, entry(0)); err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	hs := dest.heads(t, keysOf(t, s))
	if len(hs) < 2 || hs[0].Seq != 0 || hs[len(hs)-1].Seq != 1 {
		t.Fatalf("checkpoints of %+v; want the empty chain at start and seq 1 at shutdown", hs)
	}
}
