package config

import "flag"

// DefaultGCHeadroomMB is the default of Runtime.GCHeadroomMB.
const DefaultGCHeadroomMB = 64

// Runtime holds how the process uses the machine.
type Runtime struct {
	// GCHeadroomMB is the least the heap may grow past its live size
	// between garbage collections, in MiB: while the live heap is smaller,
	// GOGC is raised (up to 1000) so that collections run less often. 0
	// leaves GOGC alone, as do GOGC or GOMEMLIMIT set in the environment
	// (--gc-headroom-mb, PDP_GC_HEADROOM_MB). See package gctune.
	GCHeadroomMB int
	// EvalWorkers bounds the policy evaluations in flight; more requests
	// wait for a free one. 0 means GOMAXPROCS, one per core (--eval-workers,
	// PDP_EVAL_WORKERS).
	EvalWorkers int
}

func (c *Config) registerRuntime(fs *flag.FlagSet) {
	fs.IntVar(&c.GCHeadroomMB, "gc-headroom-mb", c.GCHeadroomMB, "least heap growth between garbage collections, MiB (0, GOGC or GOMEMLIMIT leave the collector alone)")
	fs.IntVar(&c.EvalWorkers, "eval-workers", c.EvalWorkers, "policy evaluations in flight; more requests wait for a free one (0: one per core; raise it when modules wait on http.send)")
}

func (c Config) checkRuntime(bad func(string, ...any)) {
	if c.GCHeadroomMB < 0 || c.GCHeadroomMB > 1<<20 {
		bad("--gc-headroom-mb %d: must be between 0 and 1048576", c.GCHeadroomMB)
	}
	if c.EvalWorkers < 0 || c.EvalWorkers > 4096 {
		bad("--eval-workers %d: must be between 0 and 4096", c.EvalWorkers)
	}
}
