package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/benchkit"
)

// inProcPasses is how many times the in-process run evaluates the whole
// request set (after one unmeasured pass).
const inProcPasses = 5

// inProcResult is the in-process evaluation of the request set: pdp's
// engine called directly, without transport or store.
type inProcResult struct {
	n             int
	p50, p90, p99 time.Duration
	cpu           time.Duration // process CPU per decision, GC included
	allocs        uint64        // heap allocations per decision
}

// inProcess evaluates every request of the workload through pdp's engine
// in this process (on the generator's core when pinned): the built-in
// library and the demo tenants, the IP signals from the tenants' lists as
// pdp computes them, and the profile signals OPA gets (a known user on a
// known device, opaBody; see package benchkit). The GC is tuned as `pdp
// serve` tunes it.
func (b *bench) inProcess(tenantsDir string) (*inProcResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go benchkit.TuneGC(ctx, 64<<20)

	e, err := benchkit.NewEngine(ctx, tenantsDir, benchEpoch)
	if err != nil {
		return nil, err
	}
	reqs := make([]*benchkit.Request, len(b.w.reqs))
	for i, rq := range b.w.reqs {
		if reqs[i], err = e.Prepare(rq); err != nil {
			return nil, err
		}
	}
	decide := func(r *benchkit.Request) error { return e.Decide(ctx, r) }
	for _, r := range reqs { // warm-up pass
		if err := decide(r); err != nil {
			return nil, err
		}
	}
	// The steady state: the tenant environments the load left pending are
	// specialised after their first request, in the background.
	e.Settle()
	lat := make([]time.Duration, 0, inProcPasses*len(reqs))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0, err := cpuTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	for range inProcPasses {
		for _, r := range reqs {
			t := time.Now()
			if err := decide(r); err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t))
		}
	}
	cpu1, err := cpuTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	runtime.ReadMemStats(&m1)
	// One latency per engine.Decide, every request of every pass: the
	// percentiles are per decision over the whole workload, by nearest
	// rank as the load runs'.
	slices.Sort(lat)
	n := len(lat)
	return &inProcResult{
		n: n, p50: nearestRank(lat, 0.50), p90: nearestRank(lat, 0.90), p99: nearestRank(lat, 0.99),
		cpu:    (cpu1 - cpu0) / time.Duration(n),
		allocs: (m1.Mallocs - m0.Mallocs) / uint64(n),
	}, nil
}

func (r *inProcResult) summary() string {
	return fmt.Sprintf("%d decisions: p50 %s µs  p90 %s µs  p99 %s µs  cpu %s µs/decision  %d allocs/decision",
		r.n, us(r.p50), us(r.p90), us(r.p99), us(r.cpu), r.allocs)
}
