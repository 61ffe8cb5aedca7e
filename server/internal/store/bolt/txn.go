package bolt

import (
	"context"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// An audited change (auditLog.Commit) runs in one bbolt write transaction
// with its audit record. The context its change runs with carries a
// txn, and every write path of the store joins it instead of committing
// on its own: the policy and IP-rule stores run their bucket functions on
// its Tx, the state writes apply their puts to it and hold their cache
// updates and their lock stripes until it is committed.
//
// A state write takes its stripes with TryLock: a writer that holds a
// stripe may be waiting for the group committer, which waits for bbolt's
// writer lock the txn holds, so blocking on the stripe could deadlock.
// When a stripe is taken the write fails with errBusy, the transaction is
// rolled back (releasing bbolt's lock and every stripe) and the commit
// runs the change again after a pause.

// txn is an audited change's transaction.
type txn struct {
	tx      *bbolt.Tx
	after   []func() // cache updates, run once the transaction is committed
	release []func() // stripes and locks held until it ends
}

type txnKey struct{}

// withTxn returns ctx carrying t.
func withTxn(ctx context.Context, t *txn) context.Context { return context.WithValue(ctx, txnKey{}, t) }

// txnOf returns the transaction ctx carries, or nil.
func txnOf(ctx context.Context) *txn {
	t, _ := ctx.Value(txnKey{}).(*txn)
	return t
}

// hold keeps unlock until the transaction ends.
func (t *txn) hold(unlock func()) { t.release = append(t.release, unlock) }

// onCommit runs fn once the transaction is committed.
func (t *txn) onCommit(fn func()) { t.after = append(t.after, fn) }

// end runs the cache updates when committed, then releases every lock.
func (t *txn) end(committed bool) {
	if committed {
		for _, fn := range t.after {
			fn()
		}
	}
	for i := len(t.release) - 1; i >= 0; i-- {
		t.release[i]()
	}
	t.after, t.release = nil, nil
}

// errBusy is the error of a state write inside a txn whose stripe another
// writer holds; the commit retries.
var errBusy = errors.New("bolt: a stripe is held by another writer")

// busyPause is the first pause before an audited change runs again; it
// doubles up to busyPauseMax.
const (
	busyPause    = 100 * time.Microsecond
	busyPauseMax = 10 * time.Millisecond
)

// tryLock takes a mutex without blocking, or fails with errBusy.
func tryLock(m interface{ TryLock() bool }) error {
	if !m.TryLock() {
		return errBusy
	}
	return nil
}

// stateWrite is one state write (a suspension, an MFA reset, an SSO
// status, an erasure): on its own it is admitted by the gate, blocks on
// its stripes and commits through the group committer; inside a txn it
// takes its stripes with TryLock and writes to the txn's Tx.
type stateWrite struct {
	s      *Store
	t      *txn
	unlock []func()
}

// beginState starts a state write in ctx; call done when finished.
func (s *Store) beginState(ctx context.Context) (*stateWrite, error) {
	if t := txnOf(ctx); t != nil {
		if err := s.check(ctx); err != nil {
			return nil, err
		}
		return &stateWrite{s: s, t: t}, nil
	}
	leave, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	return &stateWrite{s: s, unlock: []func(){leave}}, nil
}

// keep holds unlock until done, or, inside a txn, until the txn ends.
func (w *stateWrite) keep(unlock func()) {
	if w.t != nil {
		w.t.hold(unlock)
		return
	}
	w.unlock = append(w.unlock, unlock)
}

// lockUser takes the user's stripe.
func (w *stateWrite) lockUser(uk userKey) error {
	if w.t == nil {
		w.keep(w.s.locks.lockUser(uk))
		return nil
	}
	m := &w.s.locks.users[w.s.locks.userStripe(uk)]
	if err := tryLock(m); err != nil {
		return err
	}
	w.keep(m.Unlock)
	return nil
}

// lockIPs takes the stripes of every IP key.
func (w *stateWrite) lockIPs(keys ...ipKey) error {
	if w.t == nil {
		w.keep(w.s.locks.lockIPs(keys...))
		return nil
	}
	unlock, err := w.s.locks.tryLockIPs(keys...)
	if err != nil {
		return err
	}
	w.keep(unlock)
	return nil
}

// lockSSO takes the SSO writers' lock.
func (w *stateWrite) lockSSO() error {
	if w.t == nil {
		w.s.ssoMu.Lock()
		w.keep(w.s.ssoMu.Unlock)
		return nil
	}
	if err := tryLock(&w.s.ssoMu); err != nil {
		return err
	}
	w.keep(w.s.ssoMu.Unlock)
	return nil
}

// commit writes ops and then runs cached, which updates the cache: at once
// on its own, once the txn is committed inside one.
func (w *stateWrite) commit(op string, ops []put, cached func()) error {
	if w.t == nil {
		if err := w.s.write(op, ops); err != nil {
			return err
		}
		cached()
		return nil
	}
	for _, o := range ops {
		if err := apply(w.t.tx, o); err != nil {
			return err
		}
	}
	w.t.onCommit(cached)
	return nil
}

// done releases what the write holds on its own; inside a txn the txn
// releases it.
func (w *stateWrite) done() {
	for i := len(w.unlock) - 1; i >= 0; i-- {
		w.unlock[i]()
	}
	w.unlock = nil
}
