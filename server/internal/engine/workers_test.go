package engine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// echoPrepared is a loaded policy set whose decision is input.n.
func echoPrepared(t *testing.T) *prepared {
	t.Helper()
	lib := fstest.MapFS{"rego/p.rego": {Data: []byte("package pdp\n\ndecision := input.n\n")}}
	return loaded(t, Options{Library: lib}, Bundle{}).current.Load()
}

func nInput(n int) ast.Value {
	return ast.NewObject(ast.Item(ast.StringTerm("n"), ast.IntNumberTerm(n)))
}

func TestWorkersAnswerEachCaller(t *testing.T) {
	t.Parallel()
	p := echoPrepared(t)
	w := newWorkers(2)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			rs, err := w.eval(context.Background(), p, nInput(i))
			if err != nil {
				t.Error(err)
				return
			}
			got := rs[0].Expressions[0].Value.(ast.Value)
			if got.Compare(ast.IntNumberTerm(i).Value) != 0 {
				t.Errorf("caller %d got %v", i, got)
			}
		})
	}
	wg.Wait()
	if n := len(w.slots); n != 0 {
		t.Fatalf("%d slots still taken", n)
	}
}

func TestWorkersReuseGoroutines(t *testing.T) {
	t.Parallel()
	p := echoPrepared(t)
	w := newWorkers(2)
	for i := range 50 {
		if _, err := w.eval(context.Background(), p, nInput(i)); err != nil {
			t.Fatal(err)
		}
	}
	// One caller at a time: the first worker takes every job, or a second
	// one starts while the first is between jobs; never one per call.
	if n := w.started.Load(); n > 2 {
		t.Fatalf("%d workers started for 50 sequential evaluations", n)
	}
}

func TestWorkersWaitForSlotHonoursContext(t *testing.T) {
	t.Parallel()
	p := echoPrepared(t)
	w := newWorkers(1)
	w.slots <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := w.eval(ctx, p, nInput(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if w.started.Load() != 0 {
		t.Fatal("an evaluation started without a slot")
	}
	<-w.slots
	if _, err := w.eval(context.Background(), p, nInput(2)); err != nil {
		t.Fatalf("after the slot freed: %v", err)
	}
}

func TestWorkersExitWhenIdle(t *testing.T) {
	p := echoPrepared(t)
	before := runtime.NumGoroutine()
	w := newWorkers(4)
	w.idle = 10 * time.Millisecond
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := w.eval(context.Background(), p, nInput(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before: idle workers did not exit", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDecideThroughWorkersHonoursDeadline(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{EvalWorkers: 1}, Bundle{Tenants: demoTenants(t)})
	e.workers.slots <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	d, err := e.Decide(ctx, demoRequest())
	if d != nil || err == nil {
		t.Fatalf("decision %v, err %v: want no decision and an error", d, err)
	}
	<-e.workers.slots
	if _, err := e.Decide(context.Background(), demoRequest()); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerPanicIsThatEvaluationsError(t *testing.T) {
	t.Parallel()
	p := echoPrepared(t)
	w := newWorkers(1)
	real := w.evalFn
	w.evalFn = func(p evaluator, ctx context.Context, in ast.Value) (rego.ResultSet, error) {
		if in.Compare(nInput(13)) == 0 {
			panic("unlucky")
		}
		return real(p, ctx, in)
	}
	_, err := w.eval(context.Background(), p, nInput(13))
	if !errors.Is(err, errEvalPanic) || !strings.Contains(err.Error(), "unlucky") {
		t.Fatalf("err %v, want the panic as an error", err)
	}
	// The worker and its slot survive.
	rs, err := w.eval(context.Background(), p, nInput(14))
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].Expressions[0].Value.(ast.Value); got.Compare(ast.IntNumberTerm(14).Value) != 0 {
		t.Fatalf("after the panic: %v", got)
	}
	if n := w.started.Load(); n != 1 {
		t.Fatalf("%d workers started; the one that recovered should have gone on", n)
	}
}
