package pdpclient_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// newClient starts a client of fake over plaintext loopback, closed when the
// test ends.
func newClient(t *testing.T, fake *pdpfake.Server, opts ...pdpclient.Option) *pdpclient.Client {
	t.Helper()
	c, err := pdpclient.New(fake.Addr(), append([]pdpclient.Option{pdpclient.WithInsecure(), pdpclient.WithTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// request is a typical check for user alice.
func request(user string) *pdpv1.CheckRequest {
	return &pdpv1.CheckRequest{
		Tenant:  "acme",
		Subject: &pdpv1.Subject{Id: user, Roles: []string{"member"}},
		Network: &pdpv1.Network{Ip: "203.0.113.7"},
		Action:  &pdpv1.Action{Name: "api.read", Resource: "/docs"},
	}
}

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// failing answers code for the first n checks, then resp.
func failing(n int32, code codes.Code, resp *pdpv1.CheckResponse) pdpfake.CheckFunc {
	var calls atomic.Int32
	return func(context.Context, *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		if calls.Add(1) <= n {
			return nil, status.Error(code, "not now")
		}
		return resp, nil
	}
}
