package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/gctune"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
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
// known device, opaBody). The GC is tuned as `pdp serve` tunes it.
func (b *bench) inProcess(tenantsDir string) (*inProcResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go gctune.Run(ctx, gctune.Options{Headroom: 64 << 20})

	pols, err := tenantdata.LoadDir(tenantsDir)
	if err != nil {
		return nil, err
	}
	data := tenantdata.Data(pols)
	snap, err := ipset.FromTenantPolicies(data)
	if err != nil {
		return nil, err
	}
	ips := ipset.NewSet(snap)
	e := engine.New(engine.Options{Now: func() time.Time { return benchEpoch }})
	if _, err := e.Load(ctx, engine.Bundle{Tenants: data}); err != nil {
		return nil, err
	}
	reqs := make([]*decision.Request, len(b.w.reqs))
	for i, rq := range b.w.reqs {
		dr, err := pdpsvc.ToRequest(rq, benchEpoch)
		if err != nil {
			return nil, err
		}
		dr.Signals = knownUserSignals(rq.GetNetwork().GetCountry())
		if ip := dr.Network.IP; ip.IsValid() {
			dr.Signals.IP = ipSignals(ips.Lookup(dr.Tenant, dr.Environment, ip, benchEpoch))
		}
		reqs[i] = dr
	}
	decide := func(r *decision.Request) error {
		_, err := e.Decide(ctx, r)
		return err
	}
	for _, r := range reqs { // warm-up pass
		if err := decide(r); err != nil {
			return nil, err
		}
	}
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
	slices.Sort(lat)
	n := len(lat)
	at := func(q float64) time.Duration { return lat[min(n-1, int(q*float64(n)))] }
	return &inProcResult{
		n: n, p50: at(0.50), p90: at(0.90), p99: at(0.99),
		cpu:    (cpu1 - cpu0) / time.Duration(n),
		allocs: (m1.Mallocs - m0.Mallocs) / uint64(n),
	}, nil
}

// knownUserSignals are the profile signals of a user with a history: the
// device and the action known, the hour usual, the country seen.
func knownUserSignals(country string) decision.Signals {
	return decision.Signals{
		Profile: decision.ProfileSignals{
			Known: true, DeviceKnown: true, LoginCount: 20,
			Countries: []string{country}, HourUsual: true, ActionSeen: true,
		},
	}
}

// ipSignals are the IP signals of a lookup, as pdp's enricher sets them.
func ipSignals(r ipset.Result) decision.IPSignals {
	s := decision.IPSignals{
		Checked:    true,
		Denied:     r.Deny.Found(),
		Allowed:    r.Allow.Found(),
		Suspicious: r.Suspicious.Found(),
	}
	if s.Denied {
		s.DeniedBy = r.Deny.Description()
	}
	if s.Suspicious {
		s.SuspiciousBy = r.Suspicious.Description()
	}
	return s
}

func (r *inProcResult) summary() string {
	return fmt.Sprintf("%d decisions: p50 %s µs  p90 %s µs  p99 %s µs  cpu %s µs/decision  %d allocs/decision",
		r.n, us(r.p50), us(r.p90), us(r.p99), us(r.cpu), r.allocs)
}
