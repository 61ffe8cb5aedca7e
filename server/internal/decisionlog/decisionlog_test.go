package decisionlog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// buffer is a writer safe for the logger's goroutine and the test's.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func request() *decision.Request {
	return &decision.Request{
		Tenant:      "acme",
		Environment: "production",
		Subject:     decision.Subject{ID: "u-42", Email: "ada@acme.example"},
		Network:     decision.Network{IP: netip.MustParseAddr("203.0.113.77"), Country: "DE"},
		Device:      decision.Device{ID: "laptop-7"},
		Session:     decision.Session{ID: "s-1"},
		Action:      decision.Action{Name: "export.reports", Resource: "/reports/q3"},
		Caller:      decision.Caller{Name: "edge-gateway", Role: "pep"},
	}
}

func challenge() *decision.Decision {
	return &decision.Decision{
		Kind:           decision.KindChallenge,
		ID:             "dec-123",
		PolicyRevision: "rev-9",
		Enforced:       true,
		Reasons:        []decision.Reason{{Code: "mfa.required", Message: "ada@acme.example must verify"}},
		StepUps:        []decision.StepUp{{Kind: decision.StepUpMFA, MaxAge: time.Hour}},
		Risk: decision.Risk{Score: 0.45, Level: decision.RiskMedium,
			Factors: []decision.RiskFactor{{Name: "new_device", Weight: 0.25, Detail: "laptop-7 never seen"}}},
	}
}

// decider decides one request.
type decider interface {
	Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error)
}

// logged decides with next through the decision service, which writes
// every decision to l as the server does.
func logged(l *decisionlog.Logger, next decide.Evaluator) decider {
	svc, err := decide.New(decide.Options{Evaluator: next, Applier: noReports{}, DecisionLog: l})
	if err != nil {
		panic(err)
	}
	return checker{svc}
}

type checker struct{ svc *decide.Service }

func (c checker) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	return c.svc.Check(ctx, req)
}

// noReports refuses reports; these tests send none.
type noReports struct{}

func (noReports) Apply(context.Context, *decision.Event) (signals.Recorded, error) {
	return signals.Recorded{}, errors.New("no reports in this test")
}

type fixedDecider struct{ d *decision.Decision }

func (f fixedDecider) Decide(context.Context, *decision.Request) (*decision.Decision, error) {
	return f.d, nil
}

type failingDecider struct{}

func (failingDecider) Decide(context.Context, *decision.Request) (*decision.Decision, error) {
	return nil, errors.New("no policy")
}

func TestWrapWritesOneLinePerDecision(t *testing.T) {
	t.Parallel()
	var buf buffer
	l := decisionlog.New(decisionlog.Options{Writer: &buf})
	d := logged(l, fixedDecider{challenge()})

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	got, err := d.Decide(ctx, request())
	if err != nil || got.ID != "dec-123" {
		t.Fatalf("Decide = %v, %v", got, err)
	}
	if _, err := logged(l, failingDecider{}).Decide(ctx, request()); err == nil {
		t.Fatal("the wrapper swallowed an error")
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := buf.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1 (errors are not decisions)", len(lines))
	}
	line := lines[0]
	if _, err := time.Parse(time.RFC3339Nano, line["time"].(string)); err != nil {
		t.Errorf("time %v: %v", line["time"], err)
	}
	if lat, ok := line["latency_ms"].(float64); !ok || lat < 0 {
		t.Errorf("latency_ms = %v", line["latency_ms"])
	}
	delete(line, "time")
	delete(line, "latency_ms")
	want := map[string]any{
		"decision_id": "dec-123", "tenant": "acme", "environment": "production",
		"subject":  map[string]any{"id": "u-42", "email": "ada@acme.example"},
		"network":  map[string]any{"ip": "203.0.113.77", "country": "DE"},
		"device":   map[string]any{"id": "laptop-7"},
		"session":  map[string]any{"id": "s-1"},
		"action":   map[string]any{"name": "export.reports", "resource": "/reports/q3"},
		"caller":   map[string]any{"name": "edge-gateway", "role": "pep"},
		"decision": "challenge", "enforced": true,
		"reasons":  []any{"mfa.required"},
		"step_ups": []any{"mfa"},
		"risk": map[string]any{"score": 0.45, "level": "medium",
			"factors": []any{map[string]any{"name": "new_device", "weight": 0.25}}},
		"policy_revision": "rev-9",
		"trace_id":        "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	if diff := cmp.Diff(want, line); diff != "" {
		t.Fatalf("line (-want +got):\n%s", diff)
	}
}

func TestMasks(t *testing.T) {
	t.Parallel()
	masks, err := decisionlog.ParseMasks([]string{"subject.email, network.ip=truncate", "subject.id=hash", "device.id=redact,caller.name=redact"})
	if err != nil {
		t.Fatal(err)
	}
	var buf buffer
	l := decisionlog.New(decisionlog.Options{Writer: &buf, Masks: masks})
	req := request()
	l.Log(decisionlog.NewEntry(context.Background(), req, challenge(), time.Now(), time.Millisecond))
	req6 := request()
	req6.Network.IP = netip.MustParseAddr("2001:db8:1234:5678::1")
	req6.Subject.Email = ""
	l.Log(decisionlog.NewEntry(context.Background(), req6, challenge(), time.Now(), time.Millisecond))
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := buf.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	sub := lines[0]["subject"].(map[string]any)
	if email := sub["email"].(string); !strings.HasPrefix(email, "sha256:") || len(email) != len("sha256:")+32 {
		t.Errorf("email = %q, want a hash", email)
	}
	if sub["id"] == "u-42" || sub["id"] == lines[0]["subject"].(map[string]any)["email"] {
		t.Errorf("id = %v, want its own hash", sub["id"])
	}
	if id2 := lines[1]["subject"].(map[string]any)["id"]; id2 != sub["id"] {
		t.Errorf("the same id hashed to %v and %v; hashes must correlate", sub["id"], id2)
	}
	if _, ok := lines[1]["subject"].(map[string]any)["email"]; ok {
		t.Error("an empty email was masked into a value")
	}
	if ip := lines[0]["network"].(map[string]any)["ip"]; ip != "203.0.113.0/24" {
		t.Errorf("IPv4 truncated to %v", ip)
	}
	if ip := lines[1]["network"].(map[string]any)["ip"]; ip != "2001:db8:1234::/48" {
		t.Errorf("IPv6 truncated to %v", ip)
	}
	if dev := lines[0]["device"].(map[string]any)["id"]; dev != decisionlog.Redacted {
		t.Errorf("device.id = %v", dev)
	}
	if c := lines[0]["caller"].(map[string]any); c["name"] != decisionlog.Redacted || c["role"] != "pep" {
		t.Errorf("caller = %v", c)
	}
	raw := func() string { buf.mu.Lock(); defer buf.mu.Unlock(); return buf.b.String() }()
	for _, secret := range []string{"ada@acme.example", "u-42", "203.0.113.77", "laptop-7", "never seen"} {
		if strings.Contains(raw, secret) {
			t.Errorf("masked or private value %q reached the log:\n%s", secret, raw)
		}
	}
}

func TestParseMasksErrors(t *testing.T) {
	t.Parallel()
	_, err := decisionlog.ParseMasks([]string{"subject.name", "subject.id=scramble", "subject.email=truncate", "network.ip,network.ip=redact"})
	if err == nil {
		t.Fatal("ParseMasks accepted bad masks")
	}
	for _, want := range []string{`unknown field "subject.name"`, `unknown mode "scramble"`, "truncate applies to network.ip only", "network.ip is masked more than once"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if m, err := decisionlog.ParseMasks(nil); err != nil || m != nil {
		t.Errorf("ParseMasks(nil) = %v, %v", m, err)
	}
}

// gate is a writer that blocks every write until opened, and tells when
// the first write arrives.
type gate struct {
	entered chan struct{}
	once    sync.Once
	open    chan struct{}
	buf     buffer
}

func newGate() *gate { return &gate{entered: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	return g.buf.Write(p)
}

func TestDropModeCountsWhenTheWriterIsBlocked(t *testing.T) {
	t.Parallel()
	g := newGate()
	var counted atomic.Int64
	l := decisionlog.New(decisionlog.Options{Writer: g, Buffer: 3, OnDrop: func() { counted.Add(1) }})
	entry := func(i int) *decisionlog.Entry {
		d := challenge()
		d.ID = "dec-" + string(rune('a'+i))
		return decisionlog.NewEntry(context.Background(), request(), d, time.Now(), 0)
	}
	l.Log(entry(0))
	<-g.entered // the writer holds line 0 and is stuck
	start := time.Now()
	for i := 1; i <= 10; i++ {
		l.Log(entry(i))
	}
	if time.Since(start) > time.Second {
		t.Fatal("Log waited for a blocked writer in drop mode")
	}
	if l.Dropped() != 7 || counted.Load() != 7 {
		t.Fatalf("dropped %d (counted %d), want 7: three lines fit the queue", l.Dropped(), counted.Load())
	}
	close(g.open)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(g.buf.lines(t)); n != 4 {
		t.Fatalf("%d lines written, want 4", n)
	}
	l.Log(entry(11))
	if l.Dropped() != 8 {
		t.Fatalf("a line logged after Close was not counted as dropped")
	}
}

// slowWriter takes a while per write.
type slowWriter struct{ buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	return w.buffer.Write(p)
}

func TestBlockModeNeverDrops(t *testing.T) {
	t.Parallel()
	w := &slowWriter{}
	l := decisionlog.New(decisionlog.Options{Writer: w, Mode: decisionlog.ModeBlock, Buffer: 1})
	var wg sync.WaitGroup
	const senders, each = 8, 50
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l.Log(decisionlog.NewEntry(context.Background(), request(), challenge(), time.Now(), 0))
			}
		}()
	}
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 0 {
		t.Fatalf("block mode dropped %d lines", l.Dropped())
	}
	if n := len(w.lines(t)); n != senders*each {
		t.Fatalf("%d lines written, want %d", n, senders*each)
	}
}

func TestCloseGivesUpOnAStuckWriter(t *testing.T) {
	t.Parallel()
	g := newGate()
	l := decisionlog.New(decisionlog.Options{Writer: g, Mode: decisionlog.ModeBlock, Buffer: 1})
	e := func() *decisionlog.Entry {
		return decisionlog.NewEntry(context.Background(), request(), challenge(), time.Now(), 0)
	}
	l.Log(e())
	<-g.entered
	l.Log(e()) // fills the queue
	blocked := make(chan struct{})
	go func() { l.Log(e()); close(blocked) }()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the deadline", err)
	}
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("a sender stayed blocked after Close gave up")
	}
	if l.Dropped() != 1 {
		t.Fatalf("dropped %d, want the one sender Close released", l.Dropped())
	}
	close(g.open)
}

func TestOpenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "decisions.log")
	w, err := decisionlog.Open(path, decisionlog.Rotation{MaxSizeMB: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("log file: %v, mode %v; want 0600", err, st.Mode())
	}
	l := decisionlog.New(decisionlog.Options{Writer: w})
	l.Log(decisionlog.NewEntry(context.Background(), request(), challenge(), time.Now(), 0))
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `"decision_id":"dec-123"`) {
		t.Fatalf("file holds %q, %v", data, err)
	}
	if _, err := decisionlog.Open(filepath.Join(path, "sub", "x.log"), decisionlog.Rotation{}); err == nil {
		t.Fatal("Open accepted a path under a file")
	}
}

func TestInputsAreRecordedVersionedAndMaskedFieldByField(t *testing.T) {
	t.Parallel()
	masks, err := decisionlog.ParseMasks([]string{"subject.email", "network.ip=truncate", "session.id=redact"})
	if err != nil {
		t.Fatal(err)
	}
	var buf buffer
	l := decisionlog.New(decisionlog.Options{Writer: &buf, Masks: masks, Inputs: true})
	d := challenge()
	req := request()
	req.Time = time.Date(2026, 3, 3, 10, 15, 0, 123, time.UTC) // as the engine sets it
	req.Subject.Email = ""                                     // nothing to mask: not listed as masked
	req.Signals.IP = decision.IPSignals{Checked: true, Denied: true, DeniedBy: "203.0.113.0/24 (tenant)"}
	if _, err := logged(l, fixedDecider{d}).Decide(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	line := buf.lines(t)[0]
	if line["input_format"] != float64(decisionlog.InputFormat) {
		t.Errorf("input_format = %v, want %d", line["input_format"], decisionlog.InputFormat)
	}
	input, _ := line["input"].(map[string]any)
	if input == nil {
		t.Fatalf("no input in %v", line)
	}
	if got, want := input["time_ns"], float64(req.Time.UnixNano()); got != want {
		t.Errorf("input.time_ns = %v, want the time the policy evaluated at, %v", got, want)
	}
	if got := input["network"].(map[string]any)["ip"]; got != "203.0.113.0/24" {
		t.Errorf("input.network.ip = %v, want it truncated like the line's", got)
	}
	if got := input["session"].(map[string]any)["id"]; got != decisionlog.Redacted {
		t.Errorf("input.session.id = %v, want it redacted", got)
	}
	if got := input["subject"].(map[string]any)["id"]; got != "u-42" {
		t.Errorf("input.subject.id = %v, an unmasked field must stay exact", got)
	}
	if got := input["signals"].(map[string]any)["ip"].(map[string]any)["denied"]; got != true {
		t.Errorf("input.signals.ip.denied = %v, want the enriched verdict", got)
	}
	if diff := cmp.Diff([]any{"network.ip", "session.id"}, line["masked"]); diff != "" {
		t.Errorf("masked (-want +got):\n%s", diff)
	}
}

func TestNoInputsUnlessAsked(t *testing.T) {
	t.Parallel()
	var buf buffer
	l := decisionlog.New(decisionlog.Options{Writer: &buf})
	if _, err := logged(l, fixedDecider{challenge()}).Decide(context.Background(), request()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"input", "input_format", "masked"} {
		if v, ok := buf.lines(t)[0][k]; ok {
			t.Errorf("%s = %v without Options.Inputs", k, v)
		}
	}
}
