// Package gctune keeps a minimum of heap headroom between garbage
// collections.
//
// Go's collector sets the next heap goal at live heap × (1 + GOGC/100). A
// PDP's live heap is small (tens of MB: the policy, tenant data, caches)
// while every decision allocates tens of KB, so with the default GOGC of
// 100 the collector runs many times a second and its marking, assists and
// write barriers take a large share of a decision's CPU (bench/README.md,
// "What this round changed": GC headroom). Run
// raises GOGC while the live heap is small so that the heap may grow by at
// least Options.Headroom bytes before the next collection, and leaves it at
// 100 once the live heap is larger than the headroom: the extra memory is
// bounded by the headroom, whatever the heap holds.
package gctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options configure Run.
type Options struct {
	// Headroom is the least the heap may grow past the live heap between
	// two collections, in bytes. Zero or less leaves GOGC alone.
	Headroom int64
	// Interval is how often the live heap is read; zero means a second.
	Interval time.Duration
	// MaxPercent caps the GOGC value Run sets; zero means 1000.
	MaxPercent int
}

const (
	defaultInterval   = time.Second
	defaultMaxPercent = 1000
	minPercent        = 100 // Go's default: Run never collects more often
	liveMetric        = "/gc/heap/live:bytes"
)

// Percent is the GOGC value that gives a heap of live bytes at least
// headroom bytes of growth, between 100 and maxPercent.
func Percent(live, headroom int64, maxPercent int) int {
	if maxPercent < minPercent {
		maxPercent = minPercent
	}
	if live <= 0 {
		return maxPercent
	}
	p := (headroom*100 + live - 1) / live // ceil(headroom/live × 100)
	return int(min(max(p, minPercent), int64(maxPercent)))
}

// Run adjusts GOGC every interval until ctx ends, then restores the value
// it found. It does nothing when o.Headroom is not positive. Call it once
// per process, only when the operator did not set GOGC or GOMEMLIMIT.
func Run(ctx context.Context, o Options) {
	if o.Headroom <= 0 {
		return
	}
	interval := o.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	maxPercent := o.MaxPercent
	if maxPercent <= 0 {
		maxPercent = defaultMaxPercent
	}
	sample := []metrics.Sample{{Name: liveMetric}}
	current := -1
	orig := -1
	defer func() {
		if orig >= 0 {
			debug.SetGCPercent(orig)
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if p := Percent(int64(sample[0].Value.Uint64()), o.Headroom, maxPercent); p != current {
				prev := debug.SetGCPercent(p)
				if orig < 0 {
					orig = prev
				}
				current = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
