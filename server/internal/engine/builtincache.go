package engine

import (
	"context"

	"github.com/open-policy-agent/opa/v1/topdown/cache"
)

// builtinCacheEntries bounds the compiled patterns an engine keeps between
// evaluations. Without an inter-query value cache, glob.match and the regex
// built-ins share OPA's process-wide caches of 100 patterns each, evicted at
// random: the action globs of many tenants would thrash them, and every
// miss compiles its pattern again. This leaves room for 1,000 tenants × 3
// environments with a handful of distinct patterns each (most are shared
// between tenants); an entry is one compiled glob or regular expression.
const builtinCacheEntries = 16384

// newBuiltinCache is the inter-query built-in value cache an engine hands
// to every evaluation, whichever policy set it runs: a pattern means the
// same in every set, so a reload keeps the compiled ones.
func newBuiltinCache() cache.InterQueryValueCache {
	n := builtinCacheEntries
	return cache.NewInterQueryValueCache(context.Background(), &cache.Config{
		InterQueryBuiltinValueCache: cache.InterQueryBuiltinValueCacheConfig{MaxNumEntries: &n},
	})
}
