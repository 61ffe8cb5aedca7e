package pdptest

import (
	"sync"
	"testing"
	"time"
)

// Clock is a wall clock a test moves by hand. It is safe for concurrent
// use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// StartWithClock is Start with the server's wall clock replaced by clock
// (app.WithClock): requests without a time, IP-list expiry and incident
// response (auto-block expiry) all read it. It takes the same options.
func StartWithClock(t testing.TB, clock *Clock, opts ...Option) *Server {
	t.Helper()
	return Start(t, append(opts, func(s *settings) { s.clock = clock })...)
}
