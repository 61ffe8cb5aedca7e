package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/iprules"
)

// IP rules keys:
//
//	pdp:{acme}:iprules        hash: rule id → stored rule (iprules.Rule.MarshalBinary), one per scope
//	pdp:{acme}:iprules:ids    sorted set of the scope's ids, for paging
//	pdp:{acme}:iprules:v      the scope's version, incremented by every change
//	pdp:iprules:scopes        set of the scopes that may hold rules ("" is global)
//	pdp:iprules:where         hash: rule id → its scope, for the rules
//	                          added (and maybe since removed)
//
// The global scope is the empty tenant, "pdp:{!iprules}:iprules" ('!' is
// not allowed in tenant names; before, it was "pdp:{}:iprules", whose keys
// a Cluster spreads over three slots, and Open moves them). Add and Remove
// change a scope with one script in its slot, with the scope's version
// incremented in it, so an audited change commits them with its record
// (txn); the two global keys are written before Add's script and never
// removed, so they name a superset, which readers check against the
// scope's hash. After every change a KindIPRules Change naming the scope
// is published on the Notifier, so other replicas reload it.
// Imports send importChunkSize HSETNX commands per pipelined round trip; the
// HSETNX replies say which rules are new, and those are indexed with one
// ZADD and one HSET per chunk.
//
// An atomic import (iprules.Stager) stages its rules in a hash of the
// scope's slot that no reader opens,
//
//	pdp:{acme}:iprules:import:ID      hash: rule id → stored rule
//	pdp:{acme}:iprules:import:ID:ids  sorted set of its ids
//	pdp:iprules:imports               hash: import id → its scope
//
// (the global index names its rules at once, as Add does; the staging
// expires stagingTTL after the last batch). Publish makes them live in
// the audited change's script, guarded by the scope's version, so that
// the import and its record are one script: into a scope without rules
// the two staging keys are renamed to the scope's, otherwise the scope's
// rules are first written over a copy of the staging (the stored rules
// win) and the copy is renamed. No step holds Redis for long but the
// copy. Staging a crash left behind expires.

const (
	importChunkSize = 10_000
	importWorkers   = 4
	// stagingTTL is how long an import's staging outlives its last batch.
	stagingTTL = time.Hour
)

// IPRules is the Redis backend of iprules.Store.
type IPRules struct {
	s *Store
	n *Notifier
}

var (
	_ iprules.Store   = (*IPRules)(nil)
	_ iprules.Stager  = (*IPRules)(nil)
	_ iprules.Watcher = (*IPRules)(nil)
)

// IPRules returns the store's IP rules; every change is announced on n,
// unless n is nil.
func (s *Store) IPRules(n *Notifier) *IPRules { return &IPRules{s: s, n: n} }

// watchRulesWait bounds waiting for the change subscription of
// WatchRules: changes made before it is in place are caught by no one.
const watchRulesWait = 10 * time.Second

// WatchRules implements iprules.Watcher on the notifier the rules'
// changes are announced on: it calls changed with the scope of every
// KindIPRules change another replica published and resync after every
// reconnect (KindResync), until ctx ends.
func (r *IPRules) WatchRules(ctx context.Context, changed func(scope string), resync func()) error {
	if r.n == nil {
		return errors.New("IP rule notifications: the rules have no notifier")
	}
	sub := r.n.Subscribe(ctx, func(c Change) {
		switch {
		case c.Kind == KindResync:
			resync()
		case c.Kind == KindIPRules && c.Origin != r.n.Origin():
			changed(c.Tenant)
		}
	})
	select {
	case <-sub.Ready():
		return nil
	case <-sub.Done():
		return errors.New("IP rule notifications: the subscription ended before it started")
	case <-time.After(watchRulesWait):
		return fmt.Errorf("IP rule notifications: not subscribed within %s", watchRulesWait)
	}
}

func (r *IPRules) rulesKey(tenant string) string   { return r.s.scopePart(tenant) + "iprules" }
func (r *IPRules) idsKey(tenant string) string     { return r.s.scopePart(tenant) + "iprules:ids" }
func (r *IPRules) versionKey(tenant string) string { return r.s.scopePart(tenant) + "iprules:v" }
func (r *IPRules) scopesKey() string               { return r.s.cfg.Prefix + ":iprules:scopes" }
func (r *IPRules) whereKey() string                { return r.s.cfg.Prefix + ":iprules:where" }
func (r *IPRules) importsKey() string              { return r.s.cfg.Prefix + ":iprules:imports" }
func (r *IPRules) stagingKey(tenant, id string) string {
	return r.s.scopePart(tenant) + "iprules:import:" + id
}
func (r *IPRules) stagingIDsKey(tenant, id string) string { return r.stagingKey(tenant, id) + ":ids" }

// scopePart is the start of an IP rule scope's keys: the tenant's, and
// for the global scope one hash tag no tenant can spell.
func (s *Store) scopePart(tenant string) string {
	if tenant == "" {
		return s.cfg.Prefix + ":{!iprules}:"
	}
	return s.tenantPart(tenant)
}

// moveGlobalRules moves the global scope's keys from where earlier
// versions kept them ("{}", three slots in a Cluster) to scopePart(""). A
// key already at its new name is left where it was (another replica moved
// it, or wrote there first).
func (s *Store) moveGlobalRules(ctx context.Context) error {
	c := s.client
	for _, kind := range []string{"iprules", "iprules:ids", "iprules:v"} {
		from, to := s.cfg.Prefix+":{}:"+kind, s.scopePart("")+kind
		dump, err := c.Do(ctx, c.B().Dump().Key(from).Build()).ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("move %s: %w", from, err)
		}
		err = c.Do(ctx, c.B().Restore().Key(to).Ttl(0).SerializedValue(dump).Build()).Error()
		if err != nil && !strings.Contains(err.Error(), "BUSYKEY") {
			return fmt.Errorf("move %s to %s: %w", from, to, err)
		}
		if err == nil {
			if err := c.Do(ctx, c.B().Del().Key(from).Build()).Error(); err != nil {
				return fmt.Errorf("move %s: %w", from, err)
			}
		}
	}
	return nil
}

// announce tells other replicas the scope changed.
func (r *IPRules) announce(ctx context.Context, tenant string) error {
	if r.n == nil {
		return nil
	}
	if err := r.n.Publish(ctx, Change{Kind: KindIPRules, Tenant: tenant}); err != nil {
		return r.s.fail(ctx, err, "IP rules notification")
	}
	return nil
}

// changed bumps the scope's version and announces the change.
func (r *IPRules) changed(ctx context.Context, tenant string) error {
	c := r.s.client
	if err := c.Do(ctx, c.B().Incr().Key(r.versionKey(tenant)).Build()).Error(); err != nil {
		return r.s.fail(ctx, err, "IP rules version")
	}
	return r.announce(ctx, tenant)
}

// Version returns the scope's version: 0 before its first change.
func (r *IPRules) Version(ctx context.Context, tenant string) (int64, error) {
	if err := r.s.check(ctx); err != nil {
		return 0, err
	}
	c := r.s.client
	v, err := c.Do(ctx, c.B().Get().Key(r.versionKey(tenant)).Build()).AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		return 0, r.s.fail(ctx, err, "IP rules version")
	}
	return v, nil
}

// Add implements iprules.Store.
func (r *IPRules) Add(ctx context.Context, rule iprules.Rule) (iprules.Rule, error) {
	if err := r.s.check(ctx); err != nil {
		return iprules.Rule{}, err
	}
	rule, err := iprules.Prepare(rule)
	if err != nil {
		return iprules.Rule{}, err
	}
	v, err := rule.MarshalBinary()
	if err != nil {
		return iprules.Rule{}, err
	}
	c := r.s.client
	// The global index first: a superset when the script does not run.
	for _, res := range c.DoMulti(ctx,
		c.B().Hset().Key(r.whereKey()).FieldValue().FieldValue(rule.ID, rule.Tenant).Build(),
		c.B().Sadd().Key(r.scopesKey()).Member(rule.Tenant).Build()) {
		if err := res.Error(); err != nil {
			return iprules.Rule{}, r.s.fail(ctx, err, "add IP rule")
		}
	}
	err = r.s.write(ctx, "add IP rule", func(t *txn) error {
		t.do("HSET", r.rulesKey(rule.Tenant), rule.ID, string(v))
		t.do("ZADD", r.idsKey(rule.Tenant), "0", rule.ID)
		t.do("INCR", r.versionKey(rule.Tenant))
		return nil
	}, func(ctx context.Context) error { return r.announce(ctx, rule.Tenant) })
	if err != nil {
		return iprules.Rule{}, err
	}
	return rule, nil
}

// Get implements iprules.Store.
func (r *IPRules) Get(ctx context.Context, id string) (iprules.Rule, error) {
	if err := r.s.check(ctx); err != nil {
		return iprules.Rule{}, err
	}
	c := r.s.client
	tenant, err := c.Do(ctx, c.B().Hget().Key(r.whereKey()).Field(id).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return iprules.Rule{}, iprules.NotFound(id)
	}
	if err != nil {
		return iprules.Rule{}, r.s.fail(ctx, err, "get IP rule")
	}
	v, ok, err := r.s.hget(ctx, r.rulesKey(tenant), id)
	if err != nil {
		return iprules.Rule{}, r.s.fail(ctx, err, "get IP rule")
	}
	if !ok {
		return iprules.Rule{}, iprules.NotFound(id)
	}
	return decodeRule(v)
}

func decodeRule(v string) (iprules.Rule, error) {
	var rule iprules.Rule
	if err := rule.UnmarshalBinary([]byte(v)); err != nil {
		return rule, fmt.Errorf("decode IP rule: %w", err)
	}
	return rule, nil
}

// Remove implements iprules.Store. The rule's entry in the global index
// stays (see the keys above).
func (r *IPRules) Remove(ctx context.Context, id string) (iprules.Rule, error) {
	rule, err := r.Get(ctx, id)
	if err != nil {
		return iprules.Rule{}, err
	}
	rulesKey := r.rulesKey(rule.Tenant)
	err = r.s.write(ctx, "remove IP rule", func(t *txn) error {
		v, ok, err := r.s.hget(ctx, rulesKey, id)
		if err != nil {
			return r.s.fail(ctx, err, "remove IP rule")
		}
		if !ok {
			return iprules.NotFound(id) // removed meanwhile
		}
		t.hdel(rulesKey, id, v)
		t.do("ZREM", r.idsKey(rule.Tenant), id)
		t.do("INCR", r.versionKey(rule.Tenant))
		return nil
	}, func(ctx context.Context) error { return r.announce(ctx, rule.Tenant) })
	if err != nil {
		return iprules.Rule{}, err
	}
	return rule, nil
}

// List implements iprules.Store.
func (r *IPRules) List(ctx context.Context, q iprules.Query) ([]iprules.Rule, string, error) {
	if err := r.s.check(ctx); err != nil {
		return nil, "", err
	}
	c := r.s.client
	size := q.PageSize()
	batch := int64(size + 1)
	after := q.After
	var page []iprules.Rule
	for {
		lo := "-"
		if after != "" {
			lo = "(" + after
		}
		ids, err := c.Do(ctx, c.B().Zrange().Key(r.idsKey(q.Tenant)).Min(lo).Max("+").Bylex().Limit(0, batch).Build()).AsStrSlice()
		if err != nil {
			return nil, "", r.s.fail(ctx, err, "list IP rules")
		}
		if len(ids) == 0 {
			return page, "", nil
		}
		vals, err := c.Do(ctx, c.B().Hmget().Key(r.rulesKey(q.Tenant)).Field(ids...).Build()).ToArray()
		if err != nil {
			return nil, "", r.s.fail(ctx, err, "list IP rules")
		}
		for i := range vals {
			if vals[i].IsNil() {
				continue
			}
			v, _ := vals[i].ToString()
			rule, err := decodeRule(v)
			if err != nil {
				return nil, "", err
			}
			if q.List != "" && rule.List != q.List {
				continue
			}
			if len(page) == size {
				return page, page[len(page)-1].ID, nil
			}
			page = append(page, rule)
		}
		if int64(len(ids)) < batch {
			return page, "", nil
		}
		after = ids[len(ids)-1]
	}
}

// Import implements iprules.Store.
func (r *IPRules) Import(ctx context.Context, tenant, list, source string, in []iprules.Rule) (int, int, error) {
	if err := r.s.check(ctx); err != nil {
		return 0, 0, err
	}
	prepared, err := iprules.PrepareImport(tenant, list, source, in)
	if err != nil {
		return 0, 0, err
	}
	c := r.s.client
	if err := c.Do(ctx, c.B().Sadd().Key(r.scopesKey()).Member(tenant).Build()).Error(); err != nil {
		return 0, 0, r.s.fail(ctx, err, "import IP rules")
	}
	// Chunks go out from importWorkers goroutines, so encoding the next
	// chunk overlaps the server executing the previous one.
	chunks := slices.Collect(slices.Chunk(prepared, importChunkSize))
	var (
		mu       sync.Mutex
		added    int
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range min(importWorkers, len(chunks)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(chunks) {
					return
				}
				n, err := r.importChunk(ctx, tenant, chunks[i])
				mu.Lock()
				added += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return added, 0, firstErr
	}
	if len(prepared) > 0 {
		if err := r.changed(ctx, tenant); err != nil {
			return added, len(prepared) - added, err
		}
	}
	return added, len(prepared) - added, nil
}

// importChunk writes one chunk: HSETNX each rule, then index those that
// were new. It returns how many were new.
func (r *IPRules) importChunk(ctx context.Context, tenant string, chunk []iprules.Rule) (int, error) {
	c := r.s.client
	rulesKey := r.rulesKey(tenant)
	cmds := make(rueidis.Commands, 0, len(chunk))
	// The values are appended to one buffer and never overwritten (a
	// buffer that grows leaves the earlier values in the old array), so
	// BinaryString, which does not copy, is safe.
	buf := make([]byte, 0, 64*len(chunk))
	for _, rule := range chunk {
		start := len(buf)
		var err error
		if buf, err = rule.AppendBinary(buf); err != nil {
			return 0, err
		}
		cmds = append(cmds, c.B().Hsetnx().Key(rulesKey).Field(rule.ID).Value(rueidis.BinaryString(buf[start:])).Build())
	}
	zadd := c.B().Zadd().Key(r.idsKey(tenant)).ScoreMember()
	where := c.B().Hset().Key(r.whereKey()).FieldValue()
	n := 0
	for i, res := range c.DoMulti(ctx, cmds...) {
		set, err := res.AsInt64()
		if err != nil {
			return 0, r.s.fail(ctx, err, "import IP rules")
		}
		if set == 1 {
			zadd = zadd.ScoreMember(0, chunk[i].ID)
			where = where.FieldValue(chunk[i].ID, tenant)
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, res := range c.DoMulti(ctx, zadd.Build(), where.Build()) {
		if err := res.Error(); err != nil {
			return 0, r.s.fail(ctx, err, "import IP rules")
		}
	}
	return n, nil
}

// Stage implements iprules.Stager: HSETNX into the import's staging,
// importChunkSize a round trip; the HSETNX replies count the repeats.
func (r *IPRules) Stage(ctx context.Context, id, tenant, list, source string, in []iprules.Rule) (int, error) {
	if err := r.s.check(ctx); err != nil {
		return 0, err
	}
	prepared, err := iprules.PrepareImport(tenant, list, source, in)
	if err != nil {
		return 0, err
	}
	c := r.s.client
	staging, stagingIDs := r.stagingKey(tenant, id), r.stagingIDsKey(tenant, id)
	if err := c.Do(ctx, c.B().Hset().Key(r.importsKey()).FieldValue().FieldValue(id, tenant).Build()).Error(); err != nil {
		return 0, r.s.fail(ctx, err, "stage IP rules")
	}
	if err := c.Do(ctx, c.B().Sadd().Key(r.scopesKey()).Member(tenant).Build()).Error(); err != nil {
		return 0, r.s.fail(ctx, err, "stage IP rules")
	}
	repeats := 0
	for chunk := range slices.Chunk(prepared, importChunkSize) {
		cmds := make(rueidis.Commands, 0, len(chunk)+4)
		buf := make([]byte, 0, 64*len(chunk)) // never overwritten, see importChunk
		where := c.B().Hset().Key(r.whereKey()).FieldValue()
		zadd := c.B().Zadd().Key(stagingIDs).ScoreMember()
		for _, rule := range chunk {
			start := len(buf)
			if buf, err = rule.AppendBinary(buf); err != nil {
				return 0, err
			}
			cmds = append(cmds, c.B().Hsetnx().Key(staging).Field(rule.ID).Value(rueidis.BinaryString(buf[start:])).Build())
			where = where.FieldValue(rule.ID, tenant)
			zadd = zadd.ScoreMember(0, rule.ID)
		}
		ttl := stagingTTL.Milliseconds()
		cmds = append(cmds, where.Build(), zadd.Build(),
			c.B().Pexpire().Key(staging).Milliseconds(ttl).Build(), c.B().Pexpire().Key(stagingIDs).Milliseconds(ttl).Build())
		for i, res := range c.DoMulti(ctx, cmds...) {
			n, err := res.AsInt64()
			if err != nil {
				return 0, r.s.fail(ctx, err, "stage IP rules")
			}
			if i < len(chunk) && n == 0 {
				repeats++
			}
		}
	}
	return repeats, nil
}

// Publish implements iprules.Stager. It counts the staged rules already
// in the scope first, guarding the count by the scope's version (which
// every change of the scope increments), then the script publishes; when
// the version moved, it counts again (the audited change runs again, or,
// on its own, Publish does).
func (r *IPRules) Publish(ctx context.Context, id string) (int, int, error) {
	if err := r.s.check(ctx); err != nil {
		return 0, 0, err
	}
	c := r.s.client
	tenant, err := c.Do(ctx, c.B().Hget().Key(r.importsKey()).Field(id).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, r.s.fail(ctx, err, "publish IP rules")
	}
	after := func(ctx context.Context) error {
		_ = c.Do(ctx, c.B().Hdel().Key(r.importsKey()).Field(id).Build()).Error()
		return r.announce(ctx, tenant)
	}
	if t := r.s.txnOf(ctx); t != nil {
		added, dups, err := r.publish(ctx, t, tenant, id)
		if err != nil {
			return 0, 0, err
		}
		t.onCommit(after)
		return added, dups, nil
	}
	var added, dups int
	err = r.s.retry(ctx, "publish IP rules", func() (bool, error) {
		t := newTxn(r.s)
		if added, dups, err = r.publish(ctx, t, tenant, id); err != nil {
			return false, err
		}
		ok, err := t.exec(ctx, "", "")
		if err != nil {
			return false, r.s.fail(ctx, err, "publish IP rules")
		}
		return ok, nil
	})
	if err != nil {
		return 0, 0, err
	}
	return added, dups, after(ctx)
}

// publish counts the import's rules and leaves its publication in t:
// renaming the staging to the scope's keys, after, when the scope has
// rules, merging them into a copy of the staging (the stored rules win).
func (r *IPRules) publish(ctx context.Context, t *txn, tenant, id string) (added, dups int, err error) {
	c := r.s.client
	fail := func(err error) (int, int, error) { return 0, 0, r.s.fail(ctx, err, "publish IP rules") }
	staging, stagingIDs := r.stagingKey(tenant, id), r.stagingIDsKey(tenant, id)
	rulesKey, idsKey, versionKey := r.rulesKey(tenant), r.idsKey(tenant), r.versionKey(tenant)
	version, err := c.Do(ctx, c.B().Get().Key(versionKey).Build()).ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		return fail(err)
	}
	staged, err := c.Do(ctx, c.B().Hlen().Key(staging).Build()).AsInt64()
	if err != nil {
		return fail(err)
	}
	live, err := c.Do(ctx, c.B().Hlen().Key(rulesKey).Build()).AsInt64()
	if err != nil {
		return fail(err)
	}
	if staged == 0 {
		t.do("DEL", staging)
		t.do("DEL", stagingIDs)
		return 0, 0, nil
	}
	t.guardString(versionKey, version)
	from, fromIDs := staging, stagingIDs
	merged := staged
	if live > 0 {
		from, fromIDs = staging+":merge", stagingIDs+":merge"
		if merged, err = r.merge(ctx, rulesKey, staging, stagingIDs, from, fromIDs); err != nil {
			return fail(err)
		}
		t.do("DEL", staging)
		t.do("DEL", stagingIDs)
	}
	// RENAME keeps the staging's expiry; PERSIST drops it.
	t.declare(rulesKey, idsKey)
	t.do("RENAME", from, rulesKey)
	t.do("PERSIST", rulesKey)
	t.do("RENAME", fromIDs, idsKey)
	t.do("PERSIST", idsKey)
	t.do("INCR", versionKey)
	added = int(merged - live)
	return added, int(staged) - added, nil
}

// merge copies the staging to a merge hash and ids and writes the scope's
// rules over them, and returns how many rules the merge holds. The scope's
// version guards what was read: the script writes nothing when it moved.
func (r *IPRules) merge(ctx context.Context, rulesKey, staging, stagingIDs, merge, mergeIDs string) (int64, error) {
	c := r.s.client
	for _, res := range c.DoMulti(ctx,
		c.B().Copy().Source(staging).Destination(merge).Replace().Build(),
		c.B().Copy().Source(stagingIDs).Destination(mergeIDs).Replace().Build(),
		c.B().Pexpire().Key(merge).Milliseconds(stagingTTL.Milliseconds()).Build(),
		c.B().Pexpire().Key(mergeIDs).Milliseconds(stagingTTL.Milliseconds()).Build()) {
		if err := res.Error(); err != nil {
			return 0, err
		}
	}
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Hscan().Key(rulesKey).Cursor(cursor).Count(importChunkSize).Build()).AsScanEntry()
		if err != nil {
			return 0, err
		}
		if len(e.Elements) > 0 {
			hset := c.B().Hset().Key(merge).FieldValue()
			zadd := c.B().Zadd().Key(mergeIDs).ScoreMember()
			for i := 0; i+1 < len(e.Elements); i += 2 {
				hset = hset.FieldValue(e.Elements[i], e.Elements[i+1])
				zadd = zadd.ScoreMember(0, e.Elements[i])
			}
			for _, res := range c.DoMulti(ctx, hset.Build(), zadd.Build()) {
				if err := res.Error(); err != nil {
					return 0, err
				}
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	return c.Do(ctx, c.B().Hlen().Key(merge).Build()).AsInt64()
}

// Discard implements iprules.Stager.
func (r *IPRules) Discard(ctx context.Context, id string) error {
	if err := r.s.check(ctx); err != nil {
		return err
	}
	c := r.s.client
	tenant, err := c.Do(ctx, c.B().Hget().Key(r.importsKey()).Field(id).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return nil
	}
	if err != nil {
		return r.s.fail(ctx, err, "discard IP rules")
	}
	for _, res := range c.DoMulti(ctx,
		c.B().Del().Key(r.stagingKey(tenant, id), r.stagingIDsKey(tenant, id)).Build(),
		c.B().Hdel().Key(r.importsKey()).Field(id).Build()) {
		if err := res.Error(); err != nil {
			return r.s.fail(ctx, err, "discard IP rules")
		}
	}
	return nil
}

// All implements iprules.Store: every scope is read with HSCAN.
func (r *IPRules) All(ctx context.Context) ([]iprules.Rule, error) {
	if err := r.s.check(ctx); err != nil {
		return nil, err
	}
	c := r.s.client
	scopes, err := c.Do(ctx, c.B().Smembers().Key(r.scopesKey()).Build()).AsStrSlice()
	if err != nil {
		return nil, r.s.fail(ctx, err, "read IP rules")
	}
	var out []iprules.Rule
	for _, tenant := range scopes {
		if out, err = r.appendScope(ctx, out, tenant); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Scope returns every rule of one scope.
func (r *IPRules) Scope(ctx context.Context, tenant string) ([]iprules.Rule, error) {
	if err := r.s.check(ctx); err != nil {
		return nil, err
	}
	return r.appendScope(ctx, nil, tenant)
}

func (r *IPRules) appendScope(ctx context.Context, out []iprules.Rule, tenant string) ([]iprules.Rule, error) {
	c := r.s.client
	key := r.rulesKey(tenant)
	if n, err := c.Do(ctx, c.B().Hlen().Key(key).Build()).AsInt64(); err == nil {
		out = slices.Grow(out, int(n))
	}
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Hscan().Key(key).Cursor(cursor).Count(20000).Build()).AsScanEntry()
		if err != nil {
			return nil, r.s.fail(ctx, err, "read IP rules")
		}
		for i := 1; i < len(e.Elements); i += 2 {
			rule, err := decodeRule(e.Elements[i])
			if err != nil {
				return nil, err
			}
			out = append(out, rule)
		}
		if cursor = e.Cursor; cursor == 0 {
			return out, nil
		}
	}
}
