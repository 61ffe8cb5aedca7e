package config

import "flag"

// Debug holds diagnostics settings that are off by default.
type Debug struct {
	// PprofAddr is a loopback address on which Go's runtime profiles
	// (net/http/pprof under /debug/pprof/) are served, with no
	// authentication; empty serves none (--pprof-addr, PDP_PPROF_ADDR).
	PprofAddr string
}

func (c *Config) registerDebug(fs *flag.FlagSet) {
	fs.StringVar(&c.PprofAddr, "pprof-addr", c.PprofAddr, "loopback address serving Go's runtime profiles at /debug/pprof/, unauthenticated (empty: off)")
}

// checkDebug refuses a profiling address beyond loopback: profiles carry
// no authentication and can reveal request data in memory.
func (c Config) checkDebug(bad func(string, ...any)) {
	if c.PprofAddr == "" {
		return
	}
	if err := checkAddr(c.PprofAddr); err != nil {
		bad("--pprof-addr: %v", err)
		return
	}
	if !isLoopback(c.PprofAddr) {
		bad("--pprof-addr %s: must be a loopback address (profiles are served without authentication)", c.PprofAddr)
	}
}
