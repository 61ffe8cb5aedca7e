package redis

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// casScript replaces records only if none changed since they were read.
//
//	KEYS[1..n]  hashes (fields d = data, v = version)
//	KEYS[n+1]   the user's IP index, when ARGV[2] is not empty
//	ARGV[1]     n
//	ARGV[2..6]  index operation ("add", "del" or ""), member, score, cut,
//	            keep: "add" adds member at score, drops members scored
//	            below cut and sets the index to expire after keep ms;
//	            "del" deletes the index
//	then for each hash, four arguments: the version read ("" when the key
//	was missing), the new version, the new data ("" deletes the key) and
//	the TTL in ms (> 0 sets it, 0 removes it, < 0 keeps it)
//
// It returns 1 when it wrote and 0 when a version differed.
var casScript = rueidis.NewLuaScript(`
local n = tonumber(ARGV[1])
for i = 1, n do
  local v = redis.call('HGET', KEYS[i], 'v')
  if v == false then v = '' end
  if v ~= ARGV[3 + i * 4] then return 0 end
end
for i = 1, n do
  local b = 3 + i * 4
  local data = ARGV[b + 2]
  if data == '' then
    redis.call('DEL', KEYS[i])
  else
    redis.call('HSET', KEYS[i], 'd', data, 'v', ARGV[b + 1])
    local ttl = tonumber(ARGV[b + 3])
    if ttl > 0 then
      redis.call('PEXPIRE', KEYS[i], ttl)
    elseif ttl == 0 then
      redis.call('PERSIST', KEYS[i])
    end
  end
end
local op = ARGV[2]
if op == 'add' then
  local idx = KEYS[n + 1]
  redis.call('ZADD', idx, ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. ARGV[5])
  redis.call('PEXPIRE', idx, ARGV[6])
elseif op == 'del' then
  redis.call('DEL', KEYS[n + 1])
end
return 1
`)

// write is one hash of a compare-and-set.
type write struct {
	key      string
	expected string        // the version read; "" when the key was missing
	data     []byte        // the new value; nil deletes the key
	ttl      time.Duration // > 0 sets the TTL, 0 removes it, < 0 keeps it
}

// indexOp is what a compare-and-set does to the user's IP index.
type indexOp struct {
	op     string // "add", "del" or "" for nothing
	key    string
	member string
	score  int64 // unix milliseconds
	keep   time.Duration
}

// cas runs casScript and reports whether it wrote; inside an audited
// change it leaves the writes in the change's txn.
func (s *Store) cas(ctx context.Context, writes []write, idx indexOp) (bool, error) {
	if t := s.txnOf(ctx); t != nil {
		t.cas(writes, idx)
		return true, nil
	}
	keys := make([]string, 0, len(writes)+1)
	args := make([]string, 0, 6+4*len(writes))
	args = append(args, strconv.Itoa(len(writes)), idx.op, idx.member, strconv.FormatInt(idx.score, 10),
		strconv.FormatInt(idx.score-idx.keep.Milliseconds(), 10), strconv.FormatInt(idx.keep.Milliseconds(), 10))
	for _, w := range writes {
		keys = append(keys, w.key)
		ttl := w.ttl.Milliseconds()
		if w.ttl > 0 {
			ttl = max(ttl, 1)
		} else if w.ttl < 0 {
			ttl = -1
		}
		args = append(args, w.expected, newVersion(), string(w.data), strconv.FormatInt(ttl, 10))
	}
	if idx.op != "" {
		keys = append(keys, idx.key)
	}
	n, err := casScript.Exec(ctx, s.client, keys, args).AsInt64()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// newVersion returns a version token. Tokens are random rather than
// counted so that a key deleted and created again never repeats one.
func newVersion() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

// record is a hash as loaded: its data and version, both empty when the
// key does not exist.
type record struct {
	data    []byte
	version string
}

func (r record) exists() bool { return r.version != "" }

// loadRecord reads the reply of HMGET key d v.
func loadRecord(res rueidis.RedisResult) (record, error) {
	vals, err := res.ToArray()
	if err != nil {
		return record{}, err
	}
	var r record
	if len(vals) == 2 && !vals[0].IsNil() && !vals[1].IsNil() {
		d, err := vals[0].AsBytes()
		if err != nil {
			return record{}, err
		}
		if r.version, err = vals[1].ToString(); err != nil {
			return record{}, err
		}
		r.data = d
	}
	return r, nil
}

// retry runs attempt until it reports done, the context ends or
// MaxAttempts compare-and-sets lost, sleeping a little after the first
// few losses so that contending writers spread out.
func (s *Store) retry(ctx context.Context, op string, attempt func() (done bool, err error)) error {
	for i := range s.opts.MaxAttempts {
		if err := s.check(ctx); err != nil {
			return err
		}
		done, err := attempt()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if i >= 2 {
			d := rand.N(min(50*time.Microsecond<<min(i, 10), 20*time.Millisecond))
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
	return fault.New(fault.Aborted, "store contention: %s lost %d compare-and-sets in a row", op, s.opts.MaxAttempts)
}
