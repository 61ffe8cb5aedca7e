package main

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pdp-dev/pdp/server/benchkit"
)

func TestWorkloadShape(t *testing.T) {
	w, err := makeWorkload(1200, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.reqs) != 1200 || len(w.wire) != 1200 || len(w.bodies) != 1200 {
		t.Fatalf("%d requests, %d encoded, %d OPA bodies", len(w.reqs), len(w.wire), len(w.bodies))
	}
	seen := map[string]bool{}
	var v4, v6, allow int
	for i, rq := range w.reqs {
		seen[string(w.wire[i])] = true
		a, err := netip.ParseAddr(rq.GetNetwork().GetIp())
		if err != nil {
			t.Fatalf("request %d: address %q: %v", i, rq.GetNetwork().GetIp(), err)
		}
		if a.Is4() {
			v4++
		} else {
			v6++
		}
		if w.kinds[i] == "allow" {
			allow++
		}
	}
	if len(seen) != 1200 {
		t.Fatalf("%d distinct requests of 1200", len(seen))
	}
	if v4 == 0 || v6 == 0 {
		t.Fatalf("IPv4 %d, IPv6 %d: want both", v4, v6)
	}
	if share := float64(allow) / 1200; share < 0.75 || share > 0.85 {
		t.Fatalf("%.0f%% written to be allowed, want about 80%%", 100*share)
	}
	again, err := makeWorkload(1200, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := range w.wire {
		if !bytes.Equal(w.wire[i], again.wire[i]) {
			t.Fatalf("request %d differs between two runs with the same seed", i)
		}
	}
}

func TestFormatFactors(t *testing.T) {
	got := formatFactors(map[string]int{"unusual_location": 2, "": 90, "unusual_behavior": 8}, 100)
	want := "none 90.0%, unusual_behavior 8.0%, unusual_location 2.0%"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// sample is a CPU sample whose stack is the given functions, leaf first.
func sample(fns ...string) *profile.Sample {
	s := &profile.Sample{Value: []int64{1, 10}}
	for _, f := range fns {
		s.Location = append(s.Location, &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: f}}}})
	}
	return s
}

func TestCategoryOf(t *testing.T) {
	tests := []struct {
		stack []string
		want  string
	}{
		{[]string{"runtime.mallocgc", "github.com/open-policy-agent/opa/v1/topdown.(*eval).evalStep", "github.com/pdp-dev/pdp/server/internal/engine.(*prepared).eval"}, "Rego evaluation (OPA topdown)"},
		{[]string{"runtime.memmove", "runtime.copystack", "runtime.newstack", "github.com/open-policy-agent/opa/v1/topdown.evalTerm.eval"}, "stack growth (runtime.newstack)"},
		{[]string{"go.opentelemetry.io/otel/attribute.hashKV", "google.golang.org/grpc.(*Server).handleStream"}, "telemetry (OpenTelemetry, Prometheus)"},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, "garbage collection (background)"},
		{[]string{"syscall.Syscall6", "internal/poll.(*FD).Write", "golang.org/x/net/http2.(*Framer).WriteData"}, "gRPC, HTTP/2, protobuf, network"},
		{[]string{"github.com/pdp-dev/pdp/server/internal/store/bolt.decodeProfile", "github.com/pdp-dev/pdp/server/internal/signals.(*Enricher).Enrich"}, "pdp: mapping, signals, store, input, guards"},
		{[]string{"runtime.schedule", "runtime.mcall"}, otherCategory},
		{[]string{"runtime.mallocgc", "github.com/pdp-dev/pdp/server/internal/engine.(*enumStep).walk", compiledRoot, "github.com/pdp-dev/pdp/server/internal/engine.(*specialised).eval"}, compiledCategory},
		{[]string{"github.com/open-policy-agent/opa/v1/topdown.builtinSprintf", "github.com/pdp-dev/pdp/server/internal/engine.(*callStep).run", compiledRoot}, compiledCategory},
		{[]string{"runtime.memmove", "runtime.copystack", "runtime.newstack", "github.com/pdp-dev/pdp/server/internal/engine.(*body).from", compiledRoot}, "stack growth (runtime.newstack)"},
	}
	for _, tt := range tests {
		if got := categoryOf(sample(tt.stack...)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.stack[0], got, tt.want)
		}
	}
	// Inlined frames: a location's first line is the innermost function,
	// its last the caller it was inlined into; here the innermost is OPA's
	// AST, which counts for its caller.
	s := &profile.Sample{Location: []*profile.Location{{Line: []profile.Line{
		{Function: &profile.Function{Name: "github.com/open-policy-agent/opa/v1/ast.NewObject"}},
		{Function: &profile.Function{Name: "github.com/pdp-dev/pdp/server/internal/engine.buildInput"}},
	}}}}
	if got := categoryOf(s); got != "pdp: mapping, signals, store, input, guards" {
		t.Errorf("inlined: got %q", got)
	}
	// OPA's AST counts for its caller: evaluation or pdp.
	if got := categoryOf(sample("runtime.mallocgc", "github.com/open-policy-agent/opa/v1/ast.(*object).Insert", "github.com/open-policy-agent/opa/v1/topdown.evalTerm.eval")); got != "Rego evaluation (OPA topdown)" {
		t.Errorf("AST under topdown: got %q", got)
	}
}

func TestCPUShareTable(t *testing.T) {
	out := cpuShareTable([]cpuShare{{"Rego evaluation (OPA topdown)", 0.75}, {otherCategory, 0.25}}, 800*time.Microsecond)
	for _, want := range []string{"| Rego evaluation (OPA topdown) | 75.0% | 600 |", "| " + otherCategory + " | 25.0% | 200 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkInProcess is one decision of the in-process run: pdp's engine
// called directly on the workload's requests in rotation (1,200 requests,
// seed 7, as `make bench` builds them), each prepared as inProcess prepares
// it. Its instruction counts under callgrind are in bench/README.md: N=1400
// less N=200 is exactly one pass over the request set.
func BenchmarkInProcess(b *testing.B) {
	w, err := makeWorkload(1200, 7)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	e, err := benchkit.NewEngine(ctx, "../../../server/demo/tenants", benchEpoch)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*benchkit.Request, len(w.reqs))
	for i, rq := range w.reqs {
		if reqs[i], err = e.Prepare(rq); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := e.Decide(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// measured is a bench whose every phase ran, with round figures.
func measured() *bench {
	run := func(sys string, requests int, cpu time.Duration, p99 time.Duration) *result {
		return &result{system: sys, run: "max", requests: requests, elapsed: time.Second, cpu: cpu,
			latencies: []time.Duration{p99 / 2, p99}}
	}
	sys := func(name string, requests int, cpu time.Duration) *systemResult {
		return &systemResult{name: name, max: run(name, requests, cpu, time.Millisecond),
			runs: []*result{run(name, requests/4, cpu/4, 900*time.Microsecond), run(name, requests/2, cpu/2, 2500*time.Microsecond)}}
	}
	return &bench{
		systems: []*systemResult{sys("noop", 8000, 400*time.Millisecond), sys("pdp", 2000, 1400*time.Millisecond), sys("opa", 500, 900*time.Millisecond)},
		inproc:  &inProcResult{n: 6000, p50: 38 * time.Microsecond, p90: 120 * time.Microsecond, p99: 290 * time.Microsecond, allocs: 1077},
		tenants: &tenantScaleResult{tenants: 1000, load: 1619260 * time.Microsecond, reload: 42300 * time.Microsecond},
		mixes:   map[string]string{},
	}
}

func TestBenchLineCarriesEveryFigureInOrder(t *testing.T) {
	got := measured().benchLine()
	want := "bench: pdp/noop=0.25 pdp/opa=4.00 p99_us=2500 pdp_cpu_us=700 noop_cpu_us=50 " +
		"inproc_p50_us=38 inproc_p99_us=290 load_1000_ms=1619.3 reload_one_ms=42.3"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// lineFields are the last line's fields, in order.
var lineFields = []string{"pdp/noop", "pdp/opa", "p99_us", "pdp_cpu_us", "noop_cpu_us",
	"inproc_p50_us", "inproc_p99_us", "load_1000_ms", "reload_one_ms"}

// checkLine fails t unless line is "bench:" and every field of lineFields,
// in order, each a number.
func checkLine(t *testing.T, line string) {
	t.Helper()
	parts := strings.Fields(line)
	if len(parts) != len(lineFields)+1 || parts[0] != "bench:" {
		t.Fatalf("line %q: want bench: and %d fields", line, len(lineFields))
	}
	for i, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if k != lineFields[i] {
			t.Errorf("field %d is %q, want %q", i+1, k, lineFields[i])
		}
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			t.Errorf("%s=%q is not a number", k, v)
		}
	}
}

func TestBenchLineHasEveryFieldAsANumberEvenWhenAPhaseDidNotRun(t *testing.T) {
	checkLine(t, measured().benchLine())
	b := measured()
	b.inproc, b.tenants, b.systems = nil, nil, nil
	checkLine(t, b.benchLine())
	if got := b.benchLine(); !strings.Contains(got, "load_1000_ms=0.0 reload_one_ms=0.0") {
		t.Errorf("without a tenant scale run: %q", got)
	}
}

func TestMarkdownStartsWithTheLineAndReportsTheTenantScale(t *testing.T) {
	b := measured()
	b.w = &workload{}
	md := b.markdown()
	if first := strings.SplitN(md, "\n", 4)[2]; first != "`"+b.benchLine()+"`" {
		t.Errorf("the report's line is %q, want the bench line", first)
	}
	for _, want := range []string{
		"| 1000 × 3 | 1619.3 | 42.3 |",
		"| pdp server CPU per decision ≤ 4 × no-op's | 700 µs, 14.0 × the no-op's 50 µs | no |",
		"| in-process evaluation ≤ 40 µs median | 38 µs | yes |",
		"| in-process evaluation ≤ 300 µs p99 | 290 µs | yes |",
		"| in-process ≤ 300 allocations per decision | 1077 | no |",
		"| 1000 tenants × 3 environments load ≤ 10 s | 1619.3 ms | yes |",
		"| one tenant's reload ≤ 100 ms | 42.3 ms | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestNearestRank(t *testing.T) {
	lat := make([]time.Duration, 200)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Microsecond
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.50, 100 * time.Microsecond}, {0.99, 198 * time.Microsecond}, {1, 200 * time.Microsecond}, {0, time.Microsecond}} {
		if got := nearestRank(lat, tt.q); got != tt.want {
			t.Errorf("q %.2f: %s, want %s", tt.q, got, tt.want)
		}
	}
	if got := nearestRank(nil, 0.5); got != 0 {
		t.Errorf("no latencies: %s, want 0", got)
	}
}
