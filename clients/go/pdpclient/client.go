package pdpclient

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// Client asks the PDP for decisions. It is safe for concurrent use; create
// one per process and share it.
type Client struct {
	conn    *grpc.ClientConn
	rpc     pdpv1.DecisionServiceClient
	cfg     config
	cache   *decisionCache // nil when disabled
	flight  singleflight.Group
	metrics *metrics
}

// New creates a client of the DecisionService at target, a gRPC target such
// as "127.0.0.1:9191" or "dns:///pdp.internal:9191". Like grpc.NewClient it
// does not connect until the first call. Every invalid option is reported
// at once.
func New(target string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(target); err != nil {
		return nil, fmt.Errorf("pdpclient: invalid options: %w", err)
	}
	m, err := newMetrics(cfg.meter)
	if err != nil {
		return nil, fmt.Errorf("pdpclient: creating metrics: %w", err)
	}
	dialOpts, err := cfg.dialOptionList()
	if err != nil {
		return nil, fmt.Errorf("pdpclient: service config: %w", err)
	}
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("pdpclient: %w", err)
	}
	c := &Client{conn: conn, rpc: pdpv1.NewDecisionServiceClient(conn), cfg: cfg, metrics: m}
	if cfg.cacheSize > 0 {
		c.cache = newDecisionCache(cfg.cacheSize)
	}
	return c, nil
}

// Check asks for the decision on req. It always returns a non-nil Decision.
//
// When the server decided, the error is nil and the decision is the
// server's, possibly from the cache (Cached reports it). When it could not
// decide, Check fails closed: it returns the error (a gRPC status error, or
// one wrapping ErrInvalidResponse) together with a synthetic deny whose
// reason is ReasonNoDecision. With WithFailOpen and an error the predicate
// accepts, it returns a synthetic allow with reason ReasonFailOpen and a
// nil error instead; Decision.Err still holds the cause.
func (c *Client) Check(ctx context.Context, req *pdpv1.CheckRequest) (*Decision, error) {
	start := c.cfg.now()
	d, err := c.check(ctx, req)
	if err != nil {
		d, err = c.decideError(err)
	}
	c.metrics.check(ctx, d, c.cfg.now().Sub(start))
	return d, err
}

// decideError is the synthetic decision for err: a deny returned with err,
// or an allow returned with a nil error when WithFailOpen accepts err.
func (c *Client) decideError(err error) (*Decision, error) {
	if c.cfg.failOpen != nil && c.cfg.failOpen(err) {
		return failOpen(err), nil
	}
	return failClosed(err), err
}

// check returns the server's decision or the error that prevented one.
func (c *Client) check(ctx context.Context, req *pdpv1.CheckRequest) (*Decision, error) {
	if req == nil {
		return nil, status.Error(codes.InvalidArgument, "pdpclient: nil CheckRequest")
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if c.cache == nil {
		return c.call(ctx, req)
	}
	key, err := requestKey(req)
	if err != nil {
		// The request cannot be encoded; let gRPC report it.
		return c.call(ctx, req)
	}
	if req.GetExplain() {
		// Only the server can explain; the answer still refreshes the cache.
		d, err := c.call(ctx, req)
		if err == nil {
			c.store(key, d.resp)
		}
		return d, err
	}
	if resp, ok := c.cache.get(key, c.cfg.now()); ok {
		c.metrics.cacheLookup(ctx, true)
		return &Decision{resp: proto.CloneOf(resp), cached: true}, nil
	}
	c.metrics.cacheLookup(ctx, false)
	return c.shared(ctx, key, req)
}

// call sends one Check within the client's timeout.
func (c *Client) call(ctx context.Context, req *pdpv1.CheckRequest) (*Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	resp, err := c.rpc.Check(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := validate(resp); err != nil {
		return nil, err
	}
	return &Decision{resp: resp}, nil
}

// shared sends req once for all identical checks in flight and stores a
// cacheable answer. The call runs detached from any single caller's
// cancellation, within the client's timeout; each caller still returns as
// soon as its own context is done.
func (c *Client) shared(ctx context.Context, key cacheKey, req *pdpv1.CheckRequest) (*Decision, error) {
	ch := c.flight.DoChan(string(key[:]), func() (any, error) {
		d, err := c.call(context.WithoutCancel(ctx), req)
		if err != nil {
			return nil, err
		}
		c.store(key, d.resp)
		return d.resp, nil
	})
	select {
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		resp := r.Val.(*pdpv1.CheckResponse)
		if r.Shared {
			resp = proto.CloneOf(resp)
		}
		return &Decision{resp: resp}, nil
	}
}

// store keeps a copy of resp when the cache rules allow it.
func (c *Client) store(key cacheKey, resp *pdpv1.CheckResponse) {
	ttl := cacheTTL(resp, c.cfg.cacheMaxTTL)
	if ttl <= 0 {
		return
	}
	stored := proto.CloneOf(resp)
	stored.Explanation = nil
	now := c.cfg.now()
	c.cache.put(key, stored, now, now.Add(ttl))
}

// BatchCheck asks for up to 100 decisions in one call, bypassing the
// cache. It returns one non-nil Decision per request, in order. When the
// call itself fails, every decision is the synthetic one of that error and
// the error is returned; the WithFailOpen predicate applies as in Check.
// When only some items fail, their decisions are synthetic with Err set
// to the item's status, and the returned error is nil.
func (c *Client) BatchCheck(ctx context.Context, reqs []*pdpv1.CheckRequest) ([]*Decision, error) {
	out := make([]*Decision, len(reqs))
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	resp, err := c.rpc.BatchCheck(ctx, &pdpv1.BatchCheckRequest{Checks: reqs})
	if err == nil && len(resp.GetResults()) != len(reqs) {
		err = fmt.Errorf("%w: %d results for %d checks", ErrInvalidResponse, len(resp.GetResults()), len(reqs))
	}
	if err != nil {
		var callErr error
		for i := range out {
			out[i], callErr = c.decideError(err)
			c.metrics.decision(ctx, out[i])
		}
		return out, callErr
	}
	for i, r := range resp.GetResults() {
		out[i] = c.batchItem(r)
	}
	for _, d := range out {
		c.metrics.decision(ctx, d)
	}
	return out, nil
}

// batchItem is the decision of one BatchCheck result: its response, or
// the synthetic decision of its error.
func (c *Client) batchItem(r *pdpv1.BatchCheckResult) *Decision {
	var err error
	switch res := r.GetResult().(type) {
	case *pdpv1.BatchCheckResult_Response:
		if err = validate(res.Response); err == nil {
			return &Decision{resp: res.Response}
		}
	case *pdpv1.BatchCheckResult_Error:
		if err = status.FromProto(res.Error).Err(); err == nil {
			err = fmt.Errorf("%w: an item error with code OK", ErrInvalidResponse)
		}
	default:
		err = fmt.Errorf("%w: an item with neither a response nor an error", ErrInvalidResponse)
	}
	d, _ := c.decideError(err)
	return d
}

// Report records an event the enforcement point observed (login, MFA,
// logout, activity) so the server's risk signals stay current. It is bounded
// by the client's timeout and, not being idempotent, never retried.
func (c *Client) Report(ctx context.Context, req *pdpv1.ReportRequest) (*pdpv1.ReportResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	resp, err := c.rpc.Report(ctx, req)
	c.metrics.report(ctx, err)
	return resp, err
}

// PurgeCache forgets every cached decision, for example after a policy
// change the application knows about.
func (c *Client) PurgeCache() {
	if c.cache != nil {
		c.cache.purge()
	}
}

// Close closes the connection. Checks after Close fail closed.
func (c *Client) Close() error {
	return c.conn.Close()
}

// FailOpenOnUnavailable is a WithFailOpen predicate that fails open only
// when the server is unreachable or did not answer in time (UNAVAILABLE,
// DEADLINE_EXCEEDED). A malformed request, a rejected API key, a cancelled
// call or an invalid response still fail closed.
func FailOpenOnUnavailable(err error) bool {
	if errors.Is(err, ErrInvalidResponse) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	default:
		return false
	}
}
