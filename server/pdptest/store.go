package pdptest

import "github.com/pdp-dev/pdp/server/internal/config"

// WithStore runs the server on the store --store names: "memory:" (the
// harness default), "bolt:PATH", or a redis:// URL shared with other
// servers, as replicas of one deployment.
func WithStore(url string) Option {
	return WithConfig(func(c *config.Config) { c.Store = url })
}
