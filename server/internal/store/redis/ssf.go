package redis

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/ssf"
)

// SSF is the Redis ssf.Store. Every key is in its tenant's hash tag, so
// an application (the replay check, the jti and the effect's bucket) is
// one script in one Cluster slot, and joins an audited change's:
//
//	pdp:{acme}:ssf:BUCKET          hash: d = the bucket's effects (ssf.Encode)
//	pdp:{acme}:ssfjti:STREAM:JTI   hash: u = kept until, Unix milliseconds
//	pdp:{acme}:ssfuser:USER        hash: b:BUCKET = 1 for each bucket that
//	                               got an effect naming the user id,
//	                               max = the latest Until, Unix milliseconds
//
// Each expires with what it holds: a jti at the end of its replay window,
// a bucket with its last effect, a user's index with the last effect
// naming the user (DeleteUser reads it). Windows follow the events' times, so the
// time to live is the time left after the application's (PEXPIRE), not a
// wall-clock instant. A decision reads its buckets in one round trip.
type SSF struct {
	s *Store
}

var _ ssf.Store = (*SSF)(nil)

// SSF returns the shared-signals store kept in s's Redis.
func (s *Store) SSF() *SSF { return &SSF{s: s} }

func (x *SSF) bucketKey(tenant, bucket string) string {
	return x.s.tenantPart(tenant) + "ssf:" + bucket
}

func (x *SSF) jtiKey(tenant, stream, jti string) string {
	return x.s.tenantPart(tenant) + "ssfjti:" + stream + ":" + jti
}

func (x *SSF) userKey(tenant, userID string) string {
	return x.s.tenantPart(tenant) + "ssfuser:" + userID
}

// Apply implements ssf.Store.
func (x *SSF) Apply(ctx context.Context, e ssf.Effect, replayUntil time.Time) error {
	if err := ssf.Check(e); err != nil {
		return err
	}
	if err := x.s.check(ctx); err != nil {
		return err
	}
	const op = "apply shared-signals event"
	now := e.Received
	jk, bk := x.jtiKey(e.Tenant, e.Stream, e.JTI), x.bucketKey(e.Tenant, e.Subject.Bucket())
	return x.s.write(ctx, op, func(t *txn) error {
		seen, ok, err := x.s.hget(ctx, jk, "u")
		if err != nil {
			return x.s.fail(ctx, err, op)
		}
		if ms, perr := strconv.ParseInt(seen, 10, 64); ok && perr == nil && time.UnixMilli(ms).After(now) {
			return ssf.ErrReplay
		}
		cur, _, err := x.s.hget(ctx, bk, "d")
		if err != nil {
			return x.s.fail(ctx, err, op)
		}
		list, err := ssf.Decode([]byte(cur))
		if err != nil {
			return err
		}
		merged := ssf.Merge(list, e, now)
		data, err := ssf.Encode(merged)
		if err != nil {
			return err
		}
		last := e.Until
		for _, m := range merged {
			if m.Until.After(last) {
				last = m.Until
			}
		}
		t.hset(jk, "u", seen, strconv.FormatInt(replayUntil.UnixMilli(), 10))
		t.do("PEXPIRE", jk, ttl(replayUntil.Sub(now)))
		t.hset(bk, "d", cur, string(data))
		t.do("PEXPIRE", bk, ttl(last.Sub(now)))
		if e.Subject.User != "" {
			// The user's index lives as long as its longest-lived effect:
			// max is guarded, so concurrent applications cannot shorten it.
			uk := x.userKey(e.Tenant, e.Subject.User)
			prev, _, err := x.s.hget(ctx, uk, "max")
			if err != nil {
				return x.s.fail(ctx, err, op)
			}
			until := e.Until.UnixMilli()
			if ms, perr := strconv.ParseInt(prev, 10, 64); perr == nil {
				until = max(until, ms)
			}
			t.hset(uk, "max", prev, strconv.FormatInt(until, 10))
			t.do("HSET", uk, "b:"+e.Subject.Bucket(), "1")
			t.do("PEXPIRE", uk, ttl(time.UnixMilli(until).Sub(now)))
		}
		return nil
	}, nil)
}

// DeleteUser implements ssf.Store: the user's index names the buckets
// that can hold effects naming the user; each is rewritten guarded by
// what was read, in one script (the audited change's, when there is one).
// Rewritten buckets keep their time to live.
func (x *SSF) DeleteUser(ctx context.Context, tenant, userID string) (int, error) {
	if err := x.s.check(ctx); err != nil {
		return 0, err
	}
	const op = "erase a user's shared-signals effects"
	uk := x.userKey(tenant, userID)
	n := 0
	err := x.s.write(ctx, op, func(t *txn) error {
		n = 0
		index, err := x.s.client.Do(ctx, x.s.client.B().Hkeys().Key(uk).Build()).AsStrSlice()
		if err != nil && !rueidis.IsRedisNil(err) {
			return x.s.fail(ctx, err, op)
		}
		buckets := []string{"u:" + userID}
		for _, f := range index {
			if b, ok := strings.CutPrefix(f, "b:"); ok && b != buckets[0] {
				buckets = append(buckets, b)
			}
		}
		for _, b := range buckets {
			bk := x.bucketKey(tenant, b)
			cur, ok, err := x.s.hget(ctx, bk, "d")
			if err != nil {
				return x.s.fail(ctx, err, op)
			}
			if !ok {
				continue
			}
			rest, dropped, err := ssf.EraseUser([]byte(cur), userID)
			if err != nil {
				return err
			}
			if dropped == 0 {
				continue
			}
			n += dropped
			if rest == nil {
				t.hdel(bk, "d", cur)
				continue
			}
			t.hset(bk, "d", cur, string(rest))
		}
		if len(index) > 0 {
			t.do("HDEL", uk, index...)
		}
		return nil
	}, nil)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ttl is a key's time to live in milliseconds, at least one.
func ttl(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// Read implements ssf.Store.
func (x *SSF) Read(ctx context.Context, tenant string, keys []string, now time.Time, dst []ssf.Effect) ([]ssf.Effect, error) {
	if err := x.s.check(ctx); err != nil {
		return dst, err
	}
	c := x.s.client
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Hget().Key(x.bucketKey(tenant, k)).Field("d").Build()
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		v, err := r.AsBytes()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return dst, x.s.fail(ctx, err, "read shared-signals effects")
		}
		list, err := ssf.Decode(v)
		if err != nil {
			return dst, err
		}
		dst = ssf.Live(dst, list, now)
	}
	return dst, nil
}
