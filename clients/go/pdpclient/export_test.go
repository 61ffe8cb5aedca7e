package pdpclient

import "time"

// WithClock replaces the clock of the cache and the metrics, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// CacheLen is the number of cached entries, for tests.
func (c *Client) CacheLen() int {
	if c.cache == nil {
		return 0
	}
	return c.cache.len()
}
