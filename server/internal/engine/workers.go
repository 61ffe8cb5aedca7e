package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// workers runs evaluations on long-lived goroutines, at most size at a
// time.
//
// Why: topdown recurses deeply, so an evaluation needs a large goroutine
// stack. A fresh goroutine (one per gRPC stream or HTTP connection beyond
// grpc-go's few stream workers) starts small and grows by copying its
// stack several times per decision; under load that copying
// (runtime.newstack/copystack) was a third of pdp's CPU profile. A worker
// keeps its grown stack from one evaluation to the next. Bounding the
// evaluations in flight also suits CPU-bound work: more than the cores
// can run only adds latency to all of them. Callers beyond the bound wait
// (or give up when their context ends) before evaluating.
//
// Workers start on demand and exit after idleWorker without work, so an
// idle Engine holds no goroutines.
type workers struct {
	slots chan struct{} // one token per evaluation in flight
	jobs  chan *evalJob // hands a job to an idle worker
	pool  sync.Pool     // *evalJob
	idle  time.Duration // how long a worker waits for work before exiting
	// started counts the workers ever started.
	started atomic.Int64
	// evalFn evaluates one job; its evaluator's eval but in tests.
	evalFn func(evaluator, context.Context, ast.Value) (rego.ResultSet, error)
}

// evaluator is a prepared query: a policy set's reference query
// (*prepared) or one tenant environment's specialised one (*specialised).
type evaluator interface {
	eval(ctx context.Context, input ast.Value) (rego.ResultSet, error)
}

// evalJob is one evaluation handed to a worker.
type evalJob struct {
	ctx   context.Context
	p     evaluator
	input ast.Value
	rs    rego.ResultSet
	err   error
	done  chan struct{}
}

// idleWorker is how long a worker waits for the next job.
const idleWorker = 30 * time.Second

// defaultWorkers is the evaluations in flight when Options.EvalWorkers is
// not set: one per core. Evaluation is CPU-bound, so more would only share
// the cores and make every decision in flight slower (bench/README.md,
// "What this round changed": one worker per core). A policy
// set whose modules wait (on http.send, say) wants more.
func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

func newWorkers(size int) *workers {
	if size <= 0 {
		size = defaultWorkers()
	}
	w := &workers{
		slots:  make(chan struct{}, size),
		jobs:   make(chan *evalJob),
		idle:   idleWorker,
		evalFn: evaluator.eval,
	}
	w.pool.New = func() any { return &evalJob{done: make(chan struct{}, 1)} }
	return w
}

// eval evaluates p for input on a worker. It waits for a free slot first
// and returns ctx's error if ctx ends before one frees.
func (w *workers) eval(ctx context.Context, p evaluator, input ast.Value) (rego.ResultSet, error) {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	j := w.pool.Get().(*evalJob)
	j.ctx, j.p, j.input = ctx, p, input
	select {
	case w.jobs <- j: // an idle worker took it
	default:
		w.started.Add(1)
		go w.work(j)
	}
	<-j.done
	rs, err := j.rs, j.err
	*j = evalJob{done: j.done}
	w.pool.Put(j)
	return rs, err
}

// work runs j and then every job handed to it, until it has been idle
// for w.idle.
func (w *workers) work(j *evalJob) {
	timer := time.NewTimer(w.idle)
	defer timer.Stop()
	for {
		j.rs, j.err = w.run(j)
		<-w.slots
		j.done <- struct{}{}
		timer.Reset(w.idle)
		select {
		case j = <-w.jobs:
		case <-timer.C:
			return
		}
	}
}

// errEvalPanic is the error of an evaluation that panicked.
var errEvalPanic = errors.New("policy evaluation panicked")

// run evaluates j. A panic inside the evaluator (a bug in a built-in, say)
// becomes an error of this evaluation alone, as it would have been on the
// request's own goroutine under the server's recovery interceptor; the
// worker goes on serving.
func (w *workers) run(j *evalJob) (rs rego.ResultSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			rs, err = nil, fmt.Errorf("%w: %v\n%s", errEvalPanic, r, debug.Stack())
		}
	}()
	return w.evalFn(j.p, j.ctx, j.input)
}
