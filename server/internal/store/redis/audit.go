package redis

import (
	"context"
	"strconv"
	"sync"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// The audit log is one chain per deployment, shared by every replica, in
// keys of one Cluster slot (the {audit} hash tag):
//
//	pdp:{audit}:log:events    hash: field SEQ (decimal) = the event as
//	                          audit.Encode writes it
//	pdp:{audit}:log:head      hash: seq, hash, id of the last event
//	pdp:{audit}:log:linked    hash: outbox token -> the seq it was linked at
//	pdp:{audit}:log:outboxes  set: the outboxes that may hold records
//
// Redis has no SHA-256 in Lua, so a replica links the event in Go against
// the head it believes current and appendScript stores it only if that is
// still the head, atomically with moving the head; otherwise the script
// returns the real head and the replica links again. Two replicas appending
// at once therefore still form one chain. Within a replica appends are also
// serialised by a mutex, so they do not contend with each other. An append
// is acknowledged once Redis executed the script; what survives a Redis
// crash is what its persistence keeps (see the package comment).
//
// An admin change and its record are committed by Commit (commit.go): the
// record goes into the outbox of the change's own slot in the change's
// script, and is linked into the chain from there.

// appendScript appends one event if the chain's head is the one expected.
//
//	KEYS[1]  the head hash, KEYS[2] the events hash, KEYS[3] the linked
//	         hash (outbox token -> seq)
//	ARGV     expected seq ("0" for an empty chain), expected hash, new seq,
//	         new record, new hash, new id, the record's outbox token ("" for
//	         a record appended directly)
//
// It returns {1} when it appended, {0, seq, hash, id} with the current
// head when the head moved, {2, seq} when the token was linked before (at
// seq), and an error when the new seq already holds a record.
var appendScript = rueidis.NewLuaScript(`
if ARGV[7] ~= '' then
  local at = redis.call('HGET', KEYS[3], ARGV[7])
  if at then return {2, at} end
end
local h = redis.call('HMGET', KEYS[1], 'seq', 'hash', 'id')
local seq, hash, id = h[1] or '0', h[2] or '', h[3] or ''
if seq ~= ARGV[1] or hash ~= ARGV[2] then
  return {0, seq, hash, id}
end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 0 then
  return redis.error_reply('audit record ' .. ARGV[3] .. ' exists beyond the head')
end
redis.call('HSET', KEYS[1], 'seq', ARGV[3], 'hash', ARGV[5], 'id', ARGV[6])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[7], ARGV[3])
end
return {1}
`)

// AuditLog returns the deployment's audit log, shared by every replica on
// the same Redis and key prefix, and starts its outbox sweeper (see
// Commit) unless Options.SweepInterval is negative. After Close every call fails with store.ErrClosed.
func (s *Store) AuditLog() audit.Log {
	s.auditOnce.Do(func() {
		s.audit = &auditLog{s: s}
		s.audit.startSweeper()
	})
	return s.audit
}

// auditLog is the Redis backend's audit.Log.
type auditLog struct {
	s    *Store
	mu   sync.Mutex // serialises this replica's appends
	head audit.Head // the head last seen; a hint, checked by appendScript
}

var (
	_ audit.Log       = (*auditLog)(nil)
	_ audit.Header    = (*auditLog)(nil)
	_ audit.Committer = (*auditLog)(nil)
)

func (l *auditLog) headKey() string     { return l.s.cfg.Prefix + ":{audit}:log:head" }
func (l *auditLog) eventsKey() string   { return l.s.cfg.Prefix + ":{audit}:log:events" }
func (l *auditLog) linkedKey() string   { return l.s.cfg.Prefix + ":{audit}:log:linked" }
func (l *auditLog) outboxesKey() string { return l.s.cfg.Prefix + ":{audit}:log:outboxes" }

// outboxKey is the outbox of the slot of hash tag tag.
func (l *auditLog) outboxKey(tag string) string {
	return l.s.cfg.Prefix + ":{" + tag + "}:audit:outbox"
}

// Append implements audit.Log.
func (l *auditLog) Append(ctx context.Context, e audit.Entry) (audit.Event, error) {
	if err := l.s.check(ctx); err != nil {
		return audit.Event{}, err
	}
	return l.append(ctx, e, "")
}

// append links e to the chain; a non-empty token is the outbox token of
// e's record, linked at most once: when it was linked before, append
// returns the event it became.
func (l *auditLog) append(ctx context.Context, e audit.Entry, token string) (audit.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := []string{l.headKey(), l.eventsKey(), l.linkedKey()}
	var (
		ev     audit.Event
		linked string // the seq token was linked at before
	)
	err := l.s.retry(ctx, "audit append", func() (bool, error) {
		var err error
		if ev, err = audit.Link(l.head, e, l.s.opts.Now()); err != nil {
			return false, err
		}
		rec, err := audit.Encode(ev)
		if err != nil {
			return false, fault.Wrap(err, fault.Internal, "audit: encode the event")
		}
		args := []string{strconv.FormatUint(l.head.Seq, 10), l.head.Hash, strconv.FormatUint(ev.Seq, 10),
			string(rec), ev.Hash, ev.ID, token}
		res, err := appendScript.Exec(ctx, l.s.client, keys, args).ToArray()
		if err != nil {
			if _, ok := rueidis.IsRedisErr(err); ok {
				return false, fault.Wrap(err, fault.Internal, "audit append")
			}
			return false, l.s.fail(ctx, err, "audit append")
		}
		ok, err := res[0].AsInt64()
		switch {
		case err != nil:
			return false, fault.Wrap(err, fault.Internal, "audit append reply")
		case ok == 1:
			l.head = audit.HeadOf(ev)
			return true, nil
		case ok == 2 && len(res) == 2:
			linked, err = res[1].ToString()
			if err != nil {
				return false, fault.Wrap(err, fault.Internal, "audit append reply")
			}
			return true, nil
		}
		if l.head, err = headOf(res[1:]); err != nil {
			return false, fault.Wrap(err, fault.Internal, "audit append reply")
		}
		return false, nil
	})
	if err != nil {
		return audit.Event{}, err
	}
	if linked != "" {
		return l.event(ctx, linked)
	}
	return ev, nil
}

// event reads the event at seq.
func (l *auditLog) event(ctx context.Context, seq string) (audit.Event, error) {
	b, err := l.s.client.Do(ctx, l.s.client.B().Hget().Key(l.eventsKey()).Field(seq).Build()).AsBytes()
	if err != nil {
		return audit.Event{}, l.s.fail(ctx, err, "audit record "+seq)
	}
	ev, err := audit.Decode(b)
	if err != nil {
		return audit.Event{}, fault.Wrap(err, fault.Internal, "audit record "+seq)
	}
	return ev, nil
}

// headOf reads seq, hash and id replies.
func headOf(vals []rueidis.RedisMessage) (audit.Head, error) {
	var h audit.Head
	if len(vals) != 3 {
		return h, fault.New(fault.Internal, "audit head of %d values", len(vals))
	}
	var f [3]string
	for i, v := range vals {
		if v.IsNil() {
			continue
		}
		s, err := v.ToString()
		if err != nil {
			return h, err
		}
		f[i] = s
	}
	if f[0] != "" {
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return h, err
		}
		h.Seq = n
	}
	h.Hash, h.ID = f[1], f[2]
	return h, nil
}

// Head implements audit.Header.
func (l *auditLog) Head(ctx context.Context) (audit.Head, error) {
	if err := l.s.check(ctx); err != nil {
		return audit.Head{}, err
	}
	vals, err := l.s.client.Do(ctx, l.s.client.B().Hmget().Key(l.headKey()).Field("seq", "hash", "id").Build()).ToArray()
	if err != nil {
		return audit.Head{}, l.s.fail(ctx, err, "audit head")
	}
	h, err := headOf(vals)
	if err != nil {
		return audit.Head{}, fault.Wrap(err, fault.Internal, "audit head")
	}
	return h, nil
}

// auditBatch is how many records List asks for in one round trip.
const auditBatch = 256

// List implements audit.Log. It reads the records after q.After up to the
// head, a batch per round trip, and keeps those q matches; a record
// missing below the head is skipped (Verify reports it).
func (l *auditLog) List(ctx context.Context, q audit.Query) ([]audit.Event, uint64, error) {
	h, err := l.Head(ctx)
	if err != nil {
		return nil, 0, err
	}
	size := q.PageSize()
	var out []audit.Event
	fields := make([]string, 0, auditBatch)
	for from := q.After + 1; from <= h.Seq; from += auditBatch {
		to := min(h.Seq, from+auditBatch-1)
		fields = fields[:0]
		for seq := from; seq <= to; seq++ {
			fields = append(fields, strconv.FormatUint(seq, 10))
		}
		vals, err := l.s.client.Do(ctx, l.s.client.B().Hmget().Key(l.eventsKey()).Field(fields...).Build()).ToArray()
		if err != nil {
			return nil, 0, l.s.fail(ctx, err, "audit list")
		}
		for i, v := range vals {
			if v.IsNil() {
				continue
			}
			seq := from + uint64(i)
			b, err := v.AsBytes()
			if err != nil {
				return nil, 0, fault.Wrap(err, fault.Internal, "audit list")
			}
			ev, err := audit.Decode(b)
			if err != nil {
				return nil, 0, fault.Wrap(err, fault.Internal, "audit record "+fields[i])
			}
			if !q.Match(&ev) {
				continue
			}
			out = append(out, ev)
			if len(out) == size {
				if seq < h.Seq {
					return out, seq, nil
				}
				return out, 0, nil
			}
		}
	}
	return out, 0, nil
}
