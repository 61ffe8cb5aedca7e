package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// IP rules live in the ip_rules bucket of the store's file, in one nested
// bucket per scope (named by the tenant, "" for the global rules) mapping
// the rule id to the rule's stored form (iprules.Rule.MarshalBinary), so a scope's rules are one bucket in id
// order. Get and Remove look the id up in every scope bucket: there is one
// per tenant with rules, and a lookup is a B+tree descent. Imports commit
// importChunk rules per transaction, sorted by id.
//
// An atomic import (iprules.Stager) stages its rules in the ip_imports
// bucket, which no reader opens: one bucket per import id holding the
// number of rules staged (under stagedCount) and the rules in a bucket
// named like their scope bucket. Publish, in the audited change's
// transaction, moves that bucket into ip_rules when the scope has no
// rules yet (no page is copied), and otherwise copies the rules not
// stored yet into the scope; then it drops the staging. Staging is in
// transactions of its own because one transaction for a whole import
// would hold bbolt's writer lock, and so every state write, for as long
// as the client streams. Staging left by a crash is dropped when the
// file is opened.

var (
	bucketIPRules   = []byte("ip_rules")
	bucketIPImports = []byte("ip_imports")
	// stagedCount keys the number of rules an import staged; scope
	// bucket names start with 't'.
	stagedCount = []byte("n")
)

const importChunk = 100_000

// IPRules is the bbolt backend of iprules.Store, sharing the Store's file.
type IPRules struct{ s *Store }

var (
	_ iprules.Store  = IPRules{}
	_ iprules.Stager = IPRules{}
)

// IPRules returns the store's IP rules.
func (s *Store) IPRules() IPRules { return IPRules{s: s} }

// scopeName names a scope's bucket; bbolt refuses an empty name.
func scopeName(tenant string) []byte { return append([]byte{'t'}, tenant...) }

// update runs fn in a write transaction on the rules bucket: the audited
// change's transaction ctx carries (see txn), else one of its own,
// admitted by the store's gate.
func (r IPRules) update(ctx context.Context, op string, fn func(rules *bbolt.Bucket) error) error {
	if t := txnOf(ctx); t != nil {
		rules, err := t.tx.CreateBucketIfNotExists(bucketIPRules)
		if err != nil {
			return store.Unavailable(fmt.Errorf("%s: %w", r.s.path, err), op)
		}
		return fn(rules)
	}
	release, err := r.s.enter(ctx)
	if err != nil {
		return err
	}
	defer release()
	var inner error
	err = r.s.update(func(tx *bbolt.Tx) error {
		rules, err := tx.CreateBucketIfNotExists(bucketIPRules)
		if err != nil {
			return err
		}
		inner = fn(rules)
		return inner
	})
	if inner != nil {
		return inner
	}
	if err != nil {
		return store.Unavailable(fmt.Errorf("%s: %w", r.s.path, err), op)
	}
	return nil
}

// view runs fn in a read transaction; the bucket is nil before the first
// rule was written.
func (r IPRules) view(ctx context.Context, fn func(rules *bbolt.Bucket) error) error {
	if err := r.s.check(ctx); err != nil {
		return err
	}
	if t := txnOf(ctx); t != nil {
		return fn(t.tx.Bucket(bucketIPRules))
	}
	return r.s.view(func(tx *bbolt.Tx) error { return fn(tx.Bucket(bucketIPRules)) })
}

func decodeRule(v []byte) (iprules.Rule, error) {
	var rule iprules.Rule
	if err := rule.UnmarshalBinary(v); err != nil {
		return rule, fmt.Errorf("decode IP rule: %w", err)
	}
	return rule, nil
}

// Add implements iprules.Store.
func (r IPRules) Add(ctx context.Context, rule iprules.Rule) (iprules.Rule, error) {
	rule, err := iprules.Prepare(rule)
	if err != nil {
		return iprules.Rule{}, err
	}
	v, err := rule.MarshalBinary()
	if err != nil {
		return iprules.Rule{}, err
	}
	err = r.update(ctx, "add IP rule", func(rules *bbolt.Bucket) error {
		b, err := rules.CreateBucketIfNotExists(scopeName(rule.Tenant))
		if err != nil {
			return err
		}
		return b.Put([]byte(rule.ID), v)
	})
	if err != nil {
		return iprules.Rule{}, err
	}
	return rule, nil
}

// findRule returns the scope bucket holding id and the rule.
func findRule(rules *bbolt.Bucket, id string) (*bbolt.Bucket, iprules.Rule, error) {
	if rules == nil {
		return nil, iprules.Rule{}, iprules.NotFound(id)
	}
	c := rules.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue
		}
		b := rules.Bucket(k)
		if rv := b.Get([]byte(id)); rv != nil {
			rule, err := decodeRule(rv)
			return b, rule, err
		}
	}
	return nil, iprules.Rule{}, iprules.NotFound(id)
}

// Get implements iprules.Store.
func (r IPRules) Get(ctx context.Context, id string) (iprules.Rule, error) {
	var rule iprules.Rule
	err := r.view(ctx, func(rules *bbolt.Bucket) error {
		var err error
		_, rule, err = findRule(rules, id)
		return err
	})
	return rule, err
}

// Remove implements iprules.Store.
func (r IPRules) Remove(ctx context.Context, id string) (iprules.Rule, error) {
	var rule iprules.Rule
	err := r.update(ctx, "remove IP rule", func(rules *bbolt.Bucket) error {
		b, found, err := findRule(rules, id)
		if err != nil {
			return err
		}
		rule = found
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		if k, _ := b.Cursor().First(); k == nil {
			return rules.DeleteBucket(scopeName(rule.Tenant))
		}
		return nil
	})
	return rule, err
}

// List implements iprules.Store.
func (r IPRules) List(ctx context.Context, q iprules.Query) ([]iprules.Rule, string, error) {
	var page []iprules.Rule
	next := ""
	size := q.PageSize()
	err := r.view(ctx, func(rules *bbolt.Bucket) error {
		var b *bbolt.Bucket
		if rules != nil {
			b = rules.Bucket(scopeName(q.Tenant))
		}
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek([]byte(q.After))
		if k != nil && q.After != "" && string(k) == q.After {
			k, v = c.Next()
		}
		for ; k != nil; k, v = c.Next() {
			rule, err := decodeRule(v)
			if err != nil {
				return err
			}
			if q.List != "" && rule.List != q.List {
				continue
			}
			if len(page) == size {
				next = page[len(page)-1].ID
				return nil
			}
			page = append(page, rule)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// Import implements iprules.Store.
func (r IPRules) Import(ctx context.Context, tenant, list, source string, in []iprules.Rule) (int, int, error) {
	prepared, err := iprules.PrepareImport(tenant, list, source, in)
	if err != nil {
		return 0, 0, err
	}
	slices.SortFunc(prepared, func(a, b iprules.Rule) int { return strings.Compare(a.ID, b.ID) })
	prepared = slices.CompactFunc(prepared, func(a, b iprules.Rule) bool { return a.ID == b.ID })
	dups := len(in) - len(prepared) - invalidCount(in)
	added := 0
	for chunk := range slices.Chunk(prepared, importChunk) {
		err := r.update(ctx, "import IP rules", func(rules *bbolt.Bucket) error {
			b, err := rules.CreateBucketIfNotExists(scopeName(tenant))
			if err != nil {
				return err
			}
			b.FillPercent = 0.9
			n, skipped, err := putNew(b, chunk)
			added += n
			dups += skipped
			return err
		})
		if err != nil {
			return added, dups, err
		}
	}
	return added, dups, nil
}

// Stage implements iprules.Stager, in a transaction of its own.
func (r IPRules) Stage(ctx context.Context, id, tenant, list, source string, in []iprules.Rule) (int, error) {
	prepared, err := iprules.PrepareImport(tenant, list, source, in)
	if err != nil {
		return 0, err
	}
	slices.SortFunc(prepared, func(a, b iprules.Rule) int { return strings.Compare(a.ID, b.ID) })
	n := len(prepared)
	prepared = slices.CompactFunc(prepared, func(a, b iprules.Rule) bool { return a.ID == b.ID })
	repeats := n - len(prepared)
	err = r.update(ctx, "stage IP rules", func(rules *bbolt.Bucket) error {
		imports, err := rules.Tx().CreateBucketIfNotExists(bucketIPImports)
		if err != nil {
			return err
		}
		imp, err := imports.CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		b, err := imp.CreateBucketIfNotExists(scopeName(tenant))
		if err != nil {
			return err
		}
		b.FillPercent = 0.9
		staged := uint64(0)
		if v := imp.Get(stagedCount); len(v) == 8 {
			staged = binary.BigEndian.Uint64(v)
		}
		n, skipped, err := putNew(b, prepared)
		repeats += skipped
		if err != nil {
			return err
		}
		staged += uint64(n)
		return imp.Put(stagedCount, binary.BigEndian.AppendUint64(nil, staged))
	})
	if err != nil {
		return 0, err
	}
	return repeats, nil
}

// putNew stores in b the rules whose ids it does not hold yet; it counts
// the rules stored and those skipped, up to an error too.
func putNew(b *bbolt.Bucket, rules []iprules.Rule) (added, skipped int, err error) {
	for _, rule := range rules {
		if b.Get([]byte(rule.ID)) != nil {
			skipped++
			continue
		}
		v, err := rule.MarshalBinary()
		if err != nil {
			return added, skipped, err
		}
		if err := b.Put([]byte(rule.ID), v); err != nil {
			return added, skipped, err
		}
		added++
	}
	return added, skipped, nil
}

// Publish implements iprules.Stager, in one transaction (the audited
// change's, inside one): the staged bucket becomes the scope's when the
// scope has no rules, else the rules not stored yet are copied into the
// scope in id order; then the staging is dropped.
func (r IPRules) Publish(ctx context.Context, id string) (int, int, error) {
	added, dups := 0, 0
	err := r.update(ctx, "publish IP rules", func(rules *bbolt.Bucket) error {
		added, dups = 0, 0
		imports := rules.Tx().Bucket(bucketIPImports)
		var imp *bbolt.Bucket
		if imports != nil {
			imp = imports.Bucket([]byte(id))
		}
		if imp == nil {
			return nil
		}
		var scope []byte
		c := imp.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				scope = k
			}
		}
		if v := imp.Get(stagedCount); scope == nil || len(v) != 8 {
			return fmt.Errorf("import %q: staging without its scope or count", id)
		}
		staged := imp.Bucket(scope)
		if rules.Bucket(scope) == nil {
			added = int(binary.BigEndian.Uint64(imp.Get(stagedCount)))
			if err := rules.Tx().MoveBucket(scope, imp, rules); err != nil {
				return err
			}
			return imports.DeleteBucket([]byte(id))
		}
		b := rules.Bucket(scope)
		b.FillPercent = 0.9
		c = staged.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if b.Get(k) != nil {
				dups++
				continue
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
			added++
		}
		return imports.DeleteBucket([]byte(id))
	})
	if err != nil {
		return 0, 0, err
	}
	return added, dups, nil
}

// Discard implements iprules.Stager.
func (r IPRules) Discard(ctx context.Context, id string) error {
	return r.update(ctx, "discard IP rules", func(rules *bbolt.Bucket) error {
		imports := rules.Tx().Bucket(bucketIPImports)
		if imports == nil || imports.Bucket([]byte(id)) == nil {
			return nil
		}
		return imports.DeleteBucket([]byte(id))
	})
}

// dropStaging drops what imports a crash cut short left staged.
func dropStaging(tx *bbolt.Tx) error {
	if tx.Bucket(bucketIPImports) == nil {
		return nil
	}
	return tx.DeleteBucket(bucketIPImports)
}

func invalidCount(rules []iprules.Rule) int {
	n := 0
	for _, r := range rules {
		if !r.Prefix.IsValid() {
			n++
		}
	}
	return n
}

// All implements iprules.Store.
func (r IPRules) All(ctx context.Context) ([]iprules.Rule, error) {
	var out []iprules.Rule
	err := r.scanAll(ctx, true, func(rule iprules.Rule) error {
		out = append(out, rule)
		return nil
	})
	return out, err
}

var _ iprules.Scanner = IPRules{}

// ScanAll implements iprules.Scanner.
func (r IPRules) ScanAll(ctx context.Context, fn func(iprules.Rule) error) error {
	return r.scanAll(ctx, false, fn)
}

// ScanScope implements iprules.Scanner.
func (r IPRules) ScanScope(ctx context.Context, tenant string, fn func(iprules.Rule) error) error {
	return r.view(ctx, func(rules *bbolt.Bucket) error {
		if rules == nil {
			return nil
		}
		sc := r.scanner(rules.Tx(), false)
		defer sc.release()
		return sc.scan(ctx, rules.Bucket(scopeName(tenant)), fn)
	})
}

func (r IPRules) scanAll(ctx context.Context, withID bool, fn func(iprules.Rule) error) error {
	return r.view(ctx, func(rules *bbolt.Bucket) error {
		if rules == nil {
			return nil
		}
		sc := r.scanner(rules.Tx(), withID)
		defer sc.release()
		return rules.ForEachBucket(func(name []byte) error {
			return sc.scan(ctx, rules.Bucket(name), fn)
		})
	})
}

// scanRelease is how many rules a scan reads between releases of the
// file's pages, and between checks of its context.
const scanRelease = 1 << 15

// A ruleScanner reads the rules of scope buckets in one transaction. A
// rule repeats the previous one's strings where they are equal, so the
// rules of one import cost nothing (or their id) each. Since a scan reads
// every page of buckets that may hold a million rules, and the file's
// pages would stay in the process's memory, it hands the pages it has
// read back to the kernel as it goes (see releasePages).
type ruleScanner struct {
	s      *Store
	tx     *bbolt.Tx
	decode func(r *iprules.Rule, b []byte, prev *iprules.Rule) error
	rule   iprules.Rule
	n      int
}

// scanner returns a scanner in tx, decoding ids when withID is true.
func (r IPRules) scanner(tx *bbolt.Tx, withID bool) *ruleScanner {
	sc := &ruleScanner{s: r.s, tx: tx, decode: (*iprules.Rule).UnmarshalBinaryWithoutID}
	if withID {
		sc.decode = (*iprules.Rule).UnmarshalBinaryReusing
	}
	return sc
}

// release hands the pages read so far back; call it before the
// transaction ends.
func (sc *ruleScanner) release() {
	if sc.n > 0 {
		sc.s.releasePages(sc.tx)
	}
}

// scan calls fn with each rule of a scope bucket (nil for none).
func (sc *ruleScanner) scan(ctx context.Context, b *bbolt.Bucket, fn func(iprules.Rule) error) error {
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := sc.decode(&sc.rule, v, &sc.rule); err != nil {
			return fmt.Errorf("decode IP rule: %w", err)
		}
		if err := fn(sc.rule); err != nil {
			return err
		}
		if sc.n++; sc.n%scanRelease == 0 {
			sc.release()
			if err := store.ContextError(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}
