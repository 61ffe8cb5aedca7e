package pdpclient_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// withTTL returns resp with cache_ttl set.
func withTTL(resp *pdpv1.CheckResponse, ttl time.Duration) *pdpv1.CheckResponse {
	resp.CacheTtl = durationpb.New(ttl)
	return resp
}

func TestCacheRules(t *testing.T) {
	t.Parallel()
	obligation := []*pdpv1.Obligation{{Kind: pdpv1.ObligationKind_OBLIGATION_SUSPEND_USER}}
	audited := withTTL(pdpfake.Allow(0), time.Minute)
	audited.Obligations = []*pdpv1.Obligation{{Kind: pdpv1.ObligationKind_OBLIGATION_AUDIT}}
	tests := []struct {
		name   string
		resp   *pdpv1.CheckResponse
		cached bool
	}{
		{name: "allow with ttl", resp: pdpfake.Allow(time.Minute), cached: true},
		{name: "allow with obligations and ttl", resp: audited, cached: true},
		{name: "allow with ttl 0", resp: pdpfake.Allow(0)},
		{name: "allow with negative ttl", resp: pdpfake.Allow(-time.Minute)},
		{name: "deny with ttl", resp: withTTL(pdpfake.Deny("network.ip_denied"), time.Minute), cached: true},
		{name: "deny with obligations", resp: withTTL(&pdpv1.CheckResponse{
			Decision: pdpv1.Decision_DECISION_DENY, Obligations: obligation}, time.Minute)},
		{name: "challenge with ttl", resp: withTTL(pdpfake.Challenge(pdpfake.MFA(time.Minute)), time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pdpfake.Start(t, pdpfake.Respond(tt.resp))
			c := newClient(t, fake)
			first, err := c.Check(context.Background(), request("alice"))
			if err != nil {
				t.Fatal(err)
			}
			second, err := c.Check(context.Background(), request("alice"))
			if err != nil {
				t.Fatal(err)
			}
			wantCalls := 2
			if tt.cached {
				wantCalls = 1
			}
			if got := fake.CheckCount(); got != wantCalls {
				t.Errorf("server saw %d checks; want %d", got, wantCalls)
			}
			if first.Cached() || second.Cached() != tt.cached {
				t.Errorf("cached = %t, %t; want false, %t", first.Cached(), second.Cached(), tt.cached)
			}
			if tt.cached && (second.ID() != first.ID() || second.Outcome() != first.Outcome() ||
				len(second.Obligations()) != len(first.Obligations())) {
				t.Errorf("cached decision %v differs from %v", second.Response(), first.Response())
			}
		})
	}
}

func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Allow(10*time.Second)))
	c := newClient(t, fake, pdpclient.WithClock(clock.Now))
	steps := []struct {
		advance time.Duration
		cached  bool
	}{
		{0, false},
		{5 * time.Second, true},
		{4 * time.Second, true},
		{time.Second, false}, // exactly at the expiry: stale
		{time.Second, true},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		d, err := c.Check(context.Background(), request("alice"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Cached() != s.cached {
			t.Errorf("step %d: cached = %t; want %t", i, d.Cached(), s.cached)
		}
	}
	if got := fake.CheckCount(); got != 2 {
		t.Errorf("server saw %d checks; want 2", got)
	}
}

func TestCacheMaxTTL(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Allow(time.Hour)))
	c := newClient(t, fake, pdpclient.WithClock(clock.Now), pdpclient.WithCacheMaxTTL(2*time.Second))
	for _, advance := range []time.Duration{0, time.Second, 2 * time.Second} {
		clock.Advance(advance)
		if _, err := c.Check(context.Background(), request("alice")); err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.CheckCount(); got != 2 {
		t.Errorf("server saw %d checks; want 2 (capped ttl)", got)
	}
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		resp := pdpfake.Allow(time.Minute)
		if req.GetExplain() {
			resp.Explanation = []*pdpv1.Explanation{{Rule: "pdp.allow", Matched: true}}
		}
		return resp, nil
	})
	c := newClient(t, fake)
	check := func(req *pdpv1.CheckRequest) *pdpclient.Decision {
		t.Helper()
		d, err := c.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := request("alice")
	base.Attributes, _ = structpb.NewStruct(map[string]any{"a": 1, "b": "x", "c": true, "d": "y"})
	check(base)

	timed := request("alice")
	timed.Attributes, _ = structpb.NewStruct(map[string]any{"d": "y", "c": true, "b": "x", "a": 1})
	timed.Time = timestamppb.Now()
	if d := check(timed); !d.Cached() {
		t.Error("the time or the order of attributes changed the key")
	}

	explained := request("alice")
	explained.Attributes = base.Attributes
	explained.Explain = true
	if d := check(explained); d.Cached() || len(d.Response().GetExplanation()) != 1 {
		t.Errorf("explain: cached %t, %d explanations; want a server answer with one",
			d.Cached(), len(d.Response().GetExplanation()))
	}
	if d := check(base); !d.Cached() || len(d.Response().GetExplanation()) != 0 {
		t.Errorf("after explain: cached %t, %d explanations; want cached without explanation",
			d.Cached(), len(d.Response().GetExplanation()))
	}

	for name, req := range map[string]*pdpv1.CheckRequest{
		"user":     request("bob"),
		"no attrs": request("alice"),
		"env": func() *pdpv1.CheckRequest {
			r := request("alice")
			r.Attributes = base.Attributes
			r.Environment = "staging"
			return r
		}(),
		"ip": func() *pdpv1.CheckRequest {
			r := request("alice")
			r.Attributes = base.Attributes
			r.Network.Ip = "203.0.113.8"
			return r
		}(),
		"mfa time": func() *pdpv1.CheckRequest {
			r := request("alice")
			r.Attributes = base.Attributes
			r.Authentication = &pdpv1.Authentication{MfaVerifiedAt: timestamppb.Now()}
			return r
		}(),
		"subject tenant": func() *pdpv1.CheckRequest {
			r := request("alice")
			r.Attributes = base.Attributes
			r.Subject.Tenant = "other"
			return r
		}(),
	} {
		if d := check(req); d.Cached() {
			t.Errorf("%s: a different request hit the cache", name)
		}
	}
	if got, want := fake.CheckCount(), 8; got != want {
		t.Errorf("server saw %d checks; want %d", got, want)
	}
}

func TestCachedResponseIsACopy(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Allow(time.Minute)))
	c := newClient(t, fake)
	for range 3 {
		d, err := c.Check(context.Background(), request("alice"))
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allowed() {
			t.Fatalf("a caller's change leaked into the cache: %v", d.Response())
		}
		d.Response().Decision = pdpv1.Decision_DECISION_DENY
		d.Response().Allowed = false
	}
}

func TestCacheBound(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Allow(time.Minute)))
	c := newClient(t, fake, pdpclient.WithCacheSize(2))
	for _, user := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := c.Check(context.Background(), request(user)); err != nil {
			t.Fatal(err)
		}
	}
	// a, b miss; a hits; c evicts b; a hits; b misses and evicts c.
	if got := fake.CheckCount(); got != 4 {
		t.Errorf("server saw %d checks; want 4", got)
	}
	if got := c.CacheLen(); got != 2 {
		t.Errorf("cache holds %d; want 2", got)
	}
	c.PurgeCache()
	if got := c.CacheLen(); got != 0 {
		t.Errorf("cache holds %d after purge", got)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Allow(time.Minute)))
	c := newClient(t, fake, pdpclient.WithCacheSize(0))
	for range 3 {
		if d, err := c.Check(context.Background(), request("alice")); err != nil || d.Cached() {
			t.Fatalf("err %v cached %t", err, d.Cached())
		}
	}
	if got := fake.CheckCount(); got != 3 {
		t.Errorf("server saw %d checks; want 3", got)
	}
}

// blockingFake answers resp once release is closed, and tells when the
// first check arrived.
func blockingFake(t *testing.T, resp *pdpv1.CheckResponse) (fake *pdpfake.Server, arrived <-chan struct{}, release chan struct{}) {
	first := make(chan struct{})
	var once sync.Once
	release = make(chan struct{})
	fake = pdpfake.Start(t, func(ctx context.Context, _ *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		once.Do(func() { close(first) })
		select {
		case <-release:
			return resp, nil
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	})
	return fake, first, release
}

func TestIdenticalChecksInFlightAreSentOnce(t *testing.T) {
	t.Parallel()
	// A challenge is never cached, so only in-flight sharing explains a
	// single server call.
	fake, arrived, release := blockingFake(t, pdpfake.Challenge(pdpfake.MFA(time.Minute)))
	c := newClient(t, fake)
	const n = 20
	var wg sync.WaitGroup
	results := make(chan *pdpclient.Decision, n)
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		// The first caller gives up; the others still get the answer.
		_, err := c.Check(leaderCtx, request("alice"))
		if status.Code(err) != codes.Canceled {
			t.Errorf("cancelled caller: err = %v", err)
		}
	}()
	<-arrived
	for range n {
		wg.Go(func() {
			d, err := c.Check(context.Background(), request("alice"))
			if err != nil {
				t.Error(err)
			}
			results <- d
		})
	}
	time.Sleep(300 * time.Millisecond) // let the callers join the flight
	cancelLeader()
	<-leaderDone
	close(release)
	wg.Wait()
	close(results)
	ids := map[string]bool{}
	for d := range results {
		if d == nil || !d.Challenged() {
			t.Fatalf("decision %v; want the shared challenge", d)
		}
		ids[d.ID()] = true
	}
	if got := fake.CheckCount(); got != 1 || len(ids) != 1 {
		t.Errorf("server saw %d checks, %d decision ids; want 1 and 1", got, len(ids))
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		switch req.GetSubject().GetId()[len(req.GetSubject().GetId())-1] % 3 {
		case 0:
			return pdpfake.Allow(50 * time.Millisecond), nil
		case 1:
			return withTTL(pdpfake.Deny("authz.role_forbidden"), time.Second), nil
		default:
			return pdpfake.Challenge(pdpfake.MFA(time.Minute)), nil
		}
	})
	c := newClient(t, fake, pdpclient.WithCacheSize(8))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				user := fmt.Sprintf("user-%d", (g+i)%12)
				d, err := c.Check(context.Background(), request(user))
				if err != nil {
					t.Error(err)
					return
				}
				if d.Outcome() == pdpv1.Decision_DECISION_UNSPECIFIED || d.ID() == "" {
					t.Errorf("bad decision %v", d.Response())
				}
				if i%17 == 0 {
					c.PurgeCache()
				}
			}
		})
	}
	wg.Wait()
	if got := c.CacheLen(); got > 8 {
		t.Errorf("cache holds %d; bound is 8", got)
	}
}
