package redis

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// An audited change (auditLog.Commit) is one Lua script in one Cluster
// slot. The context its change runs with carries a txn, and every admin
// write path of the store (profiles, SSO status, erasure, tenant policies,
// pending changes, IP rules) joins it instead of writing: it reads what it
// needs as usual, checks what it must (an etag, a duplicate id) at once,
// and leaves in the txn what it would write, guarded by the value or
// version it read. Commit then runs txScript once: if every guard holds it
// pushes the audit record onto the slot's outbox and makes every write,
// otherwise it writes nothing and the change runs again. Reads inside the
// change see the txn's own writes of profiles, IP records and hash fields.
//
// Work that is not state (notifications) runs once the script wrote.

// txScript makes the writes of an audited change if no guard moved.
//
//	KEYS     every key the writes name
//	ARGV[1]  the number of guards, then for each: key index, hash field
//	         ("" guards a string key), the value read ("" when missing)
//	then     the number of writes, then for each: the command, key index,
//	         the number of arguments and the arguments
//
// It returns 1 when it wrote and 0 when a guard differed.
var txScript = rueidis.NewLuaScript(`
local i = 1
local g = tonumber(ARGV[i]); i = i + 1
for _ = 1, g do
  local v
  if ARGV[i + 1] == '' then
    v = redis.call('GET', KEYS[tonumber(ARGV[i])])
  else
    v = redis.call('HGET', KEYS[tonumber(ARGV[i])], ARGV[i + 1])
  end
  if v == false then v = '' end
  if v ~= ARGV[i + 2] then return 0 end
  i = i + 3
end
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local c = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + c))
  i = i + 3 + c
end
return 1
`)

// txn is the writes an audited change leaves for its script.
type txn struct {
	s  *Store
	mu sync.Mutex

	keys   []string
	index  map[string]int // key -> its position in keys, from 1
	guards []string       // triples of txScript's guard arguments
	nops   int
	ops    []string

	guarded map[string]bool               // key "\x00" field already guarded
	records map[string]record             // profiles and IP records the txn wrote
	fields  map[string]*string            // hash fields the txn wrote; nil = deleted
	after   []func(context.Context) error // run once the script wrote
}

type txnKey struct{}

func newTxn(s *Store) *txn {
	return &txn{s: s, index: map[string]int{}, guarded: map[string]bool{},
		records: map[string]record{}, fields: map[string]*string{}}
}

// withTxn returns ctx carrying t.
func withTxn(ctx context.Context, t *txn) context.Context {
	return context.WithValue(ctx, txnKey{}, t)
}

// txnOf returns the txn of s that ctx carries, or nil.
func (s *Store) txnOf(ctx context.Context) *txn {
	if t, ok := ctx.Value(txnKey{}).(*txn); ok && t.s == s {
		return t
	}
	return nil
}

func (t *txn) key(k string) string {
	i, ok := t.index[k]
	if !ok {
		t.keys = append(t.keys, k)
		i = len(t.keys)
		t.index[k] = i
	}
	return strconv.Itoa(i)
}

// guard makes the script write nothing unless field of key still holds
// value ("" for missing); only the first read of a field is guarded, later
// ones read the txn's own write.
func (t *txn) guard(key, field, value string) {
	id := key + "\x00" + field
	if t.guarded[id] {
		return
	}
	t.guarded[id] = true
	t.guards = append(t.guards, t.key(key), field, value)
}

// op adds one write command.
func (t *txn) op(cmd, key string, args ...string) {
	t.nops++
	t.ops = append(t.ops, cmd, t.key(key), strconv.Itoa(len(args)))
	t.ops = append(t.ops, args...)
}

// field returns what the txn wrote to field of key: the value, whether it
// exists, and whether the txn wrote it at all.
func (t *txn) field(key, field string) (string, bool, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.fields[key+"\x00"+field]
	if !ok {
		return "", false, false
	}
	if v == nil {
		return "", false, true
	}
	return *v, true, true
}

// hset and hdel write one hash field, guarded by the value read.
func (t *txn) hset(key, field, read, value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.guard(key, field, read)
	t.op("HSET", key, field, value)
	t.fields[key+"\x00"+field] = &value
}

func (t *txn) hdel(key, field, read string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.guard(key, field, read)
	t.op("HDEL", key, field)
	t.fields[key+"\x00"+field] = nil
}

// guardString makes the script write nothing unless the string key still
// holds value ("" for missing).
func (t *txn) guardString(key, value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.guard(key, "", value)
}

// declare names keys a write takes as arguments (RENAME's destination),
// so that the script declares them and the slot check sees them.
func (t *txn) declare(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		t.key(k)
	}
}

// do adds unguarded writes.
func (t *txn) do(cmd, key string, args ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.op(cmd, key, args...)
}

// onCommit runs fn once the script wrote.
func (t *txn) onCommit(fn func(context.Context) error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.after = append(t.after, fn)
}

// cas is Store.cas inside the txn: each record is guarded by the version
// read (unless the txn wrote it before, and so was read from the txn).
func (t *txn) cas(writes []write, idx indexOp) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range writes {
		if _, ok := t.records[w.key]; !ok {
			t.guard(w.key, "v", w.expected)
		}
		if w.data == nil {
			t.op("DEL", w.key)
			t.records[w.key] = record{}
			continue
		}
		v := newVersion()
		t.op("HSET", w.key, "d", string(w.data), "v", v)
		switch {
		case w.ttl > 0:
			t.op("PEXPIRE", w.key, strconv.FormatInt(max(w.ttl.Milliseconds(), 1), 10))
		case w.ttl == 0:
			t.op("PERSIST", w.key)
		}
		t.records[w.key] = record{data: w.data, version: v}
	}
	switch idx.op {
	case "add":
		t.op("ZADD", idx.key, strconv.FormatInt(idx.score, 10), idx.member)
		t.op("ZREMRANGEBYSCORE", idx.key, "-inf", "("+strconv.FormatInt(idx.score-idx.keep.Milliseconds(), 10))
		t.op("PEXPIRE", idx.key, strconv.FormatInt(idx.keep.Milliseconds(), 10))
	case "del":
		t.op("DEL", idx.key)
	}
}

// record returns what the txn wrote to key in place of r, read from Redis.
func (t *txn) record(key string, r record) record {
	if t == nil {
		return r
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.records[key]; ok {
		return w
	}
	return r
}

// empty reports whether the change wrote nothing.
func (t *txn) empty() bool { return t.nops == 0 }

// slot returns the hash tag every key of the txn shares, or an error in a
// Cluster when they do not share one (no script can write them together).
func (t *txn) slot() (string, error) {
	var tag string
	for i, k := range t.keys {
		kt := hashTag(k)
		if i == 0 {
			tag = kt
			continue
		}
		if kt != tag && t.s.Cluster() {
			return "", fault.New(fault.Internal, "an audited change writes %s and %s, which a Redis Cluster keeps in different slots", t.keys[0], k)
		}
	}
	return tag, nil
}

// exec runs the script with the record pushed onto outbox first, so that a
// script that stops half-way never leaves a change without its record. It
// reports whether the guards held.
func (t *txn) exec(ctx context.Context, outbox, rec string) (bool, error) {
	args := make([]string, 0, 2+len(t.guards)+len(t.ops)+4)
	args = append(args, strconv.Itoa(len(t.guards)/3))
	args = append(args, t.guards...)
	n := t.nops
	var push []string
	if outbox != "" {
		n++
		push = []string{"RPUSH", t.key(outbox), "1", rec}
	}
	args = append(args, strconv.Itoa(n))
	args = append(args, push...)
	args = append(args, t.ops...)
	ok, err := txScript.Exec(ctx, t.s.client, t.keys, args).AsInt64()
	if err != nil {
		return false, err
	}
	return ok == 1, nil
}

// hashTag returns the part of key a Cluster hashes: the text between the
// first '{' and the next '}' when it is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// write runs a txn's writes built by build: into the txn ctx carries, or,
// outside an audited change, as one script at once (retrying while a
// guard moves). after runs once they are written; outside an audited
// change its error is write's.
func (s *Store) write(ctx context.Context, op string, build func(t *txn) error, after func(context.Context) error) error {
	if t := s.txnOf(ctx); t != nil {
		if err := build(t); err != nil {
			return err
		}
		if after != nil {
			t.onCommit(after)
		}
		return nil
	}
	err := s.retry(ctx, op, func() (bool, error) {
		t := newTxn(s)
		if err := build(t); err != nil {
			return false, err
		}
		if t.empty() {
			return true, nil
		}
		ok, err := t.exec(ctx, "", "")
		if err != nil {
			return false, s.fail(ctx, err, op)
		}
		return ok, nil
	})
	if err == nil && after != nil {
		err = after(ctx)
	}
	return err
}

// hget reads field of key: what the audited change ctx carries wrote
// there, if it did, else what Redis holds.
func (s *Store) hget(ctx context.Context, key, field string) (string, bool, error) {
	if t := s.txnOf(ctx); t != nil {
		if v, ok, wrote := t.field(key, field); wrote {
			return v, ok, nil
		}
	}
	v, err := s.client.Do(ctx, s.client.B().Hget().Key(key).Field(field).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}
