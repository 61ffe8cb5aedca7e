package config

import (
	"flag"
	"time"
)

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
	// Specialise decides each request with its tenant environment's
	// specialised residual instead of the whole library (--specialise,
	// PDP_SPECIALISE; on by default); see docs/performance.md.
	Specialise bool
	// SpecialiseAtLoad is how many tenant environments a load specialises
	// before the new policy set serves; the others are specialised after
	// their first request (--specialise-at-load, PDP_SPECIALISE_AT_LOAD).
	SpecialiseAtLoad int
	// SpecialiseBudget is the most time a load spends specialising before
	// the new policy set serves (--specialise-budget,
	// PDP_SPECIALISE_BUDGET).
	SpecialiseBudget time.Duration
	// SpecialisedLimit bounds the tenant environments with a residual
	// (--specialised-limit, PDP_SPECIALISED_LIMIT).
	SpecialisedLimit int
	// PolicyHistory is how many of the last served policy sets the engine
	// keeps, the serving one included, so that a logged decision is
	// explained with the revision that made it (--policy-history,
	// PDP_POLICY_HISTORY).
	PolicyHistory int
}

// Defaults of Runtime.SpecialiseAtLoad, Runtime.SpecialisedLimit,
// Runtime.SpecialiseBudget and Runtime.PolicyHistory.
const (
	DefaultSpecialiseAtLoad = 32
	DefaultSpecialisedLimit = 4096
	DefaultSpecialiseBudget = time.Second
	DefaultPolicyHistory    = 8
)

func (c *Config) registerRuntime(fs *flag.FlagSet) {
	fs.IntVar(&c.GCHeadroomMB, "gc-headroom-mb", c.GCHeadroomMB, "least heap growth between garbage collections, MiB (0, GOGC or GOMEMLIMIT leave the collector alone)")
	fs.BoolVar(&c.Specialise, "specialise", c.Specialise, "decide each request with its tenant environment's residual, partially evaluated at load, instead of the whole library (same decisions; --specialise=false decides everything with the whole library)")
	fs.IntVar(&c.SpecialiseAtLoad, "specialise-at-load", c.SpecialiseAtLoad, "tenant environments a load specialises before the new policy set serves; the others are specialised after their first request")
	fs.DurationVar(&c.SpecialiseBudget, "specialise-budget", c.SpecialiseBudget, "most time a load spends specialising tenant environments before the new policy set serves")
	fs.IntVar(&c.SpecialisedLimit, "specialised-limit", c.SpecialisedLimit, "most tenant environments with a specialised residual; the whole library decides the others")
	fs.IntVar(&c.EvalWorkers, "eval-workers", c.EvalWorkers, "policy evaluations in flight; more requests wait for a free one (0: one per core; raise it when modules wait on http.send)")
	fs.IntVar(&c.PolicyHistory, "policy-history", c.PolicyHistory, "policy sets kept, the serving one included, so that a logged decision is explained with the revision that made it (pdp explain); an older one is explained with the current set, and says so")
}

func (c Config) checkRuntime(bad func(string, ...any)) {
	if c.GCHeadroomMB < 0 || c.GCHeadroomMB > 1<<20 {
		bad("--gc-headroom-mb %d: must be between 0 and 1048576", c.GCHeadroomMB)
	}
	if c.SpecialiseAtLoad < 0 || c.SpecialiseAtLoad > 1<<20 {
		bad("--specialise-at-load %d: must be between 0 and 1048576", c.SpecialiseAtLoad)
	}
	if c.SpecialiseBudget < 0 || c.SpecialiseBudget > time.Hour {
		bad("--specialise-budget %v: must be between 0 and 1h", c.SpecialiseBudget)
	}
	if c.SpecialisedLimit < 1 || c.SpecialisedLimit > 1<<20 {
		bad("--specialised-limit %d: must be between 1 and 1048576", c.SpecialisedLimit)
	}
	if c.EvalWorkers < 0 || c.EvalWorkers > 4096 {
		bad("--eval-workers %d: must be between 0 and 4096", c.EvalWorkers)
	}
	if c.PolicyHistory < 1 || c.PolicyHistory > 1024 {
		bad("--policy-history %d: must be between 1 and 1024", c.PolicyHistory)
	}
}
