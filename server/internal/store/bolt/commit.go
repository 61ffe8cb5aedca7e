package bolt

import (
	"cmp"
	"errors"
	"hash/maphash"
	"slices"
	"sync"

	bbolt "go.etcd.io/bbolt"
)

// put is one change of a transaction: val replaces the key's value, or
// deletes the key when nil.
type put struct {
	bucket []byte
	key    []byte
	val    []byte
}

type request struct {
	ops  []put
	done chan error
}

var errCommitterClosed = errors.New("committer closed")

// committer is the group commit: one goroutine takes every request queued
// since its last transaction (up to max) and commits them together. There
// is no batching delay: a request that arrives while the disk is busy with
// the previous transaction simply rides in the next one.
type committer struct {
	db   *bbolt.DB
	max  int
	reqs chan *request
	done chan struct{}
	pool sync.Pool
	once sync.Once
}

func newCommitter(db *bbolt.DB, max int) *committer {
	c := &committer{db: db, max: max, reqs: make(chan *request, max), done: make(chan struct{})}
	c.pool.New = func() any { return &request{done: make(chan error, 1)} }
	go c.loop()
	return c
}

// stop commits what is queued and ends the loop. No request may be sent
// after it is called.
func (c *committer) stop() {
	c.once.Do(func() {
		close(c.reqs)
		<-c.done
	})
}

// do commits ops in one transaction, possibly shared with other requests,
// and returns once the transaction is on disk. The caller must not send
// after stop; Store's gate ensures it.
func (c *committer) do(ops []put) error {
	r := c.pool.Get().(*request)
	r.ops = ops
	c.reqs <- r
	err := <-r.done
	r.ops = nil
	c.pool.Put(r)
	return err
}

func (c *committer) loop() {
	defer close(c.done)
	batch := make([]*request, 0, c.max)
	for r := range c.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < c.max {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for _, r := range batch {
				for _, op := range r.ops {
					if err := apply(tx, op); err != nil {
						return err
					}
				}
			}
			return nil
		})
		for _, r := range batch {
			r.done <- err
		}
		clear(batch)
	}
}

func apply(tx *bbolt.Tx, op put) error {
	b := tx.Bucket(op.bucket)
	if op.val == nil {
		return b.Delete(op.key)
	}
	return b.Put(op.key, op.val)
}

// lockTable serialises the writers of one key. Writers of different keys
// rarely share a stripe, and a writer holds its stripes until its commit
// returns, so the cache and the file always agree on every key. Lock
// order: user stripes before IP stripes, stripes of one kind ascending.
type lockTable struct {
	seed  maphash.Seed
	users [lockStripes]sync.Mutex
	ips   [lockStripes]sync.Mutex
}

const lockStripes = 1024

func newLockTable() *lockTable { return &lockTable{seed: maphash.MakeSeed()} }

func (l *lockTable) userStripe(k userKey) int {
	h := maphash.String(l.seed, k.tenant)*31 + maphash.String(l.seed, k.user)
	return int(h % lockStripes)
}

func (l *lockTable) ipStripe(k ipKey) int {
	b := k.ip.As16()
	h := maphash.String(l.seed, k.tenant)*31 + maphash.Bytes(l.seed, b[:])
	return int(h % lockStripes)
}

// lockUser locks the user's stripe and returns its unlock.
func (l *lockTable) lockUser(k userKey) func() {
	m := &l.users[l.userStripe(k)]
	m.Lock()
	return m.Unlock
}

// lockUsers locks the stripes of every user key and returns their unlock.
func (l *lockTable) lockUsers(keys ...userKey) func() {
	stripes := make([]int, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, l.userStripe(k))
	}
	return lockAll(&l.users, stripes)
}

// lockIPs locks the stripes of every IP key and returns their unlock.
func (l *lockTable) lockIPs(keys ...ipKey) func() {
	stripes := make([]int, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, l.ipStripe(k))
	}
	return lockAll(&l.ips, stripes)
}

// tryLockIPs is lockIPs without blocking: it takes every stripe or none,
// failing with errBusy.
func (l *lockTable) tryLockIPs(keys ...ipKey) (func(), error) {
	stripes := make([]int, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, l.ipStripe(k))
	}
	slices.SortFunc(stripes, cmp.Compare)
	stripes = slices.Compact(stripes)
	for n, i := range stripes {
		if !l.ips[i].TryLock() {
			for _, j := range stripes[:n] {
				l.ips[j].Unlock()
			}
			return nil, errBusy
		}
	}
	return func() {
		for _, i := range stripes {
			l.ips[i].Unlock()
		}
	}, nil
}

// lockAll locks the stripes in ascending order, each once.
func lockAll(m *[lockStripes]sync.Mutex, stripes []int) func() {
	slices.SortFunc(stripes, cmp.Compare)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		m[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			m[i].Unlock()
		}
	}
}
