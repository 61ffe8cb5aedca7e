package engine

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// mustPrepared is sp's residual prepared for topdown.
func mustPrepared(tb testing.TB, sp *specialised) *rego.PreparedEvalQuery {
	tb.Helper()
	pq, err := sp.full.get(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return pq
}

// numberSpecialised is acme/production specialised with numberModule,
// whose compiled residual fails on a request whose attribute n is not a
// number.
func numberSpecialised(tb testing.TB) *specialised {
	tb.Helper()
	e := loaded(tb, Options{}, Bundle{Tenants: demoTenants(tb), Modules: map[string]string{"custom/number.rego": numberModule}})
	fillAll(tb, e)
	sp := e.current.Load().special.slots[envKey{"acme", "production"}].sp.Load()
	if sp == nil || sp.compiled == nil {
		tb.Fatal("acme/production has no compiled residual")
	}
	return sp
}

// numberInput is the demo request's input with attribute n.
func numberInput(tb testing.TB, n string) ast.Value {
	tb.Helper()
	req := demoRequest()
	req.Attributes = map[string]any{"n": n}
	in, err := buildInputAt(req, req.Time)
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

// A compiled tenant environment holds no topdown query until a request
// the compiled residual fails on needs one; requests it decides leave it
// unprepared.
func TestACompiledTenantEnvironmentPreparesTopdownOnItsFirstFallback(t *testing.T) {
	t.Parallel()
	sp := numberSpecialised(t)
	if sp.full.prepared.Load() != nil {
		t.Fatal("the compiled residual's topdown query is prepared at specialisation")
	}
	if _, err := sp.eval(context.Background(), numberInput(t, "7")); err != nil {
		t.Fatal(err)
	}
	if sp.full.prepared.Load() != nil {
		t.Fatal("a request the compiled residual decides prepared topdown's query")
	}
	if _, err := sp.eval(context.Background(), numberInput(t, "abc")); err == nil {
		t.Fatal("want to_number's error")
	}
	if sp.full.prepared.Load() == nil {
		t.Fatal("the fallback left topdown's query unprepared")
	}
	if sp.full.query != nil || sp.full.text != nil {
		t.Error("the prepared residual still holds the residual's query and modules")
	}
}

// withModule adds a deny whose residual keeps a with, which the
// compiler refuses.
const withModule = `package pdp.custom

over(x) if {
	input.attributes.n > x
}

deny contains {"code": "custom.with", "message": "with", "rule": "custom.with"} if {
	over(1) with input.attributes.n as 3
}
`

// A residual the compiler refuses is prepared for topdown at
// specialisation, as topdown decides its every request.
func TestARefusedResidualIsPreparedForTopdownAtSpecialisation(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t), Modules: map[string]string{"custom/with.rego": withModule}})
	fillAll(t, e)
	sp := e.current.Load().special.slots[envKey{"acme", "production"}].sp.Load()
	if sp == nil {
		t.Fatalf("acme/production is not specialised: %v", *e.current.Load().special.slots[envKey{"acme", "production"}].refused.Load())
	}
	if sp.compiled != nil {
		t.Fatal("the compiler compiled the residual")
	}
	if sp.full.prepared.Load() == nil {
		t.Fatal("the refused residual's topdown query is not prepared at specialisation")
	}
}

// Concurrent first fallbacks prepare topdown's query once, and every one
// gets what the query prepared at specialisation gives.
func TestConcurrentFirstFallbacksPrepareTopdownOnceAndAgree(t *testing.T) {
	t.Parallel()
	sp := numberSpecialised(t)
	// The residual prepared at once, as specialisation did before.
	eager := &topdownResidual{query: sp.full.query, strict: sp.full.strict}
	support, err := parseSupport(sp.full.text)
	if err != nil {
		t.Fatal(err)
	}
	c, err := compileSupport(support)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eager.prepareOn(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	evalEager := func(in ast.Value) (rego.ResultSet, error) {
		return want.Eval(ctx, rego.EvalParsedInput(in), noMetrics, sp.builtins, rego.EvalRuleIndexing(!sp.noIndex))
	}
	inputs := map[string]ast.Value{"7": numberInput(t, "7"), "abc": numberInput(t, "abc")}
	const n = 16
	got := make([]*rego.PreparedEvalQuery, n)
	diffs := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			name := "abc"
			var rs rego.ResultSet
			var err error
			if i%2 == 0 {
				// The compiled residual fails: its fallback decides.
				rs, err = sp.eval(ctx, inputs[name])
				got[i], _ = sp.full.get(ctx)
			} else {
				// The query each first caller is given.
				name = "7"
				got[i], _ = sp.full.get(ctx)
				rs, err = sp.topdown(ctx, inputs[name], topdown.NewCancel())
			}
			wantRS, wantErr := evalEager(inputs[name])
			if d := sameResults(rs, wantRS, err, wantErr); d != "" {
				diffs[i] = fmt.Sprintf("n = %s: %s", name, d)
			} else if err != nil && err.Error() != wantErr.Error() {
				diffs[i] = fmt.Sprintf("n = %s: error %v, want %v", name, err, wantErr)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, d := range diffs {
		if d != "" {
			t.Errorf("request %d: %s", i, d)
		}
	}
	if n := sp.full.prepares.Load(); n != 1 {
		t.Errorf("the fallback's query was prepared %d times", n)
	}
	for i, pq := range got {
		if pq == nil || pq != got[0] {
			t.Fatalf("request %d got prepared query %p, request 0 %p: prepared more than once", i, pq, got[0])
		}
	}
}

// BenchmarkSpecialisedHeap specialises every environment of 100 copies
// of the demo tenant and reports the heap each specialised tenant
// environment holds, after a collection.
func BenchmarkSpecialisedHeap(b *testing.B) {
	const copies = 100
	tenants := map[string]any{}
	for i := range copies {
		tenants[fmt.Sprintf("t%03d", i)] = copyTenant(b)
	}
	for b.Loop() {
		e := loaded(b, Options{SpecialiseAtLoad: -1, SpecialisedLimit: 1 << 20}, Bundle{Tenants: tenants})
		before := heapInuse()
		fillAll(b, e)
		after := heapInuse()
		p := e.current.Load()
		b.ReportMetric(float64(after-before)/float64(p.special.count.Load())/1024, "heap-KB/env")
		runtime.KeepAlive(e)
	}
}

// heapInuse is the heap in use after a collection.
func heapInuse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
