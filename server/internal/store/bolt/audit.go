package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// The audit log lives in the store's file, in two buckets of its own that
// are created by the first append: "audit" maps each sequence number (8
// bytes, big-endian, so keys sort in chain order) to the event as
// audit.Encode writes it, and "audit_head" holds under "head" the JSON of
// the chain's head. An append reads the head, links the event and writes
// both in one bbolt transaction, so appends are serialised by bbolt's
// single writer (whichever process or AuditLog value makes them) and are
// on disk, fsynced, before Append returns.
var (
	bucketAudit     = []byte("audit")
	bucketAuditHead = []byte("audit_head")
	keyAuditHead    = []byte("head")
)

// AuditLog returns the audit log kept in the store's file. It needs no
// state of its own: every call returns an equivalent log. After Close
// every call fails with store.ErrClosed.
func (s *Store) AuditLog() audit.Log { return &auditLog{s: s} }

// auditLog is the bbolt backend's audit.Log.
type auditLog struct{ s *Store }

var (
	_ audit.Log       = (*auditLog)(nil)
	_ audit.Header    = (*auditLog)(nil)
	_ audit.Committer = (*auditLog)(nil)
)

type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	ID   string `json:"id"`
}

func auditKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

func readAuditHead(tx *bbolt.Tx) (audit.Head, error) {
	b := tx.Bucket(bucketAuditHead)
	if b == nil {
		return audit.Head{}, nil
	}
	v := b.Get(keyAuditHead)
	if v == nil {
		return audit.Head{}, nil
	}
	var h auditHead
	if err := json.Unmarshal(v, &h); err != nil {
		return audit.Head{}, recordError(bucketAuditHead, keyAuditHead, err)
	}
	return audit.Head{Seq: h.Seq, Hash: h.Hash, ID: h.ID}, nil
}

// Append implements audit.Log.
func (l *auditLog) Append(ctx context.Context, e audit.Entry) (audit.Event, error) {
	return l.Commit(ctx, e, nil)
}

// Commit implements audit.Committer: change and the append run in one
// bbolt transaction (see txn), so a change whose record cannot be written
// is rolled back with it, and a failed change writes no record. A change
// that meets a stripe another writer holds runs again after a pause.
func (l *auditLog) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	if err := audit.Check(e); err != nil {
		return audit.Event{}, err
	}
	release, err := l.s.enter(ctx)
	if err != nil {
		return audit.Event{}, err
	}
	defer release()
	for pause := busyPause; ; pause = min(2*pause, busyPauseMax) {
		ev, err := l.commit(ctx, e, change)
		if !errors.Is(err, errBusy) {
			return ev, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return audit.Event{}, store.ContextError(ctx)
		case <-t.C:
		}
	}
}

// commit makes one attempt of Commit.
func (l *auditLog) commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	var (
		ev        audit.Event
		changeErr error
	)
	t := &txn{}
	err := l.s.update(func(tx *bbolt.Tx) error {
		t.tx = tx
		if change != nil {
			if changeErr = change(withTxn(ctx, t), &e); changeErr != nil {
				return changeErr
			}
		}
		var err error
		ev, err = appendTx(tx, e, l.s.opts.Now())
		return err
	})
	t.end(err == nil)
	var refused linkError
	switch {
	case changeErr != nil:
		return audit.Event{}, changeErr
	case errors.As(err, &refused):
		return audit.Event{}, refused.err
	case err != nil:
		return audit.Event{}, store.Unavailable(l.s.named(err), "audit append")
	}
	return ev, nil
}

// linkError marks a refusal of audit.Link inside appendTx, so that it is
// told from an I/O failure.
type linkError struct{ err error }

func (e linkError) Error() string { return e.err.Error() }
func (e linkError) Unwrap() error { return e.err }

// appendTx links e to the chain and writes the record and the new head in
// tx.
func appendTx(tx *bbolt.Tx, e audit.Entry, now time.Time) (audit.Event, error) {
	recs, err := tx.CreateBucketIfNotExists(bucketAudit)
	if err != nil {
		return audit.Event{}, err
	}
	heads, err := tx.CreateBucketIfNotExists(bucketAuditHead)
	if err != nil {
		return audit.Event{}, err
	}
	h, err := readAuditHead(tx)
	if err != nil {
		return audit.Event{}, err
	}
	ev, err := audit.Link(h, e, now)
	if err != nil {
		return audit.Event{}, linkError{err}
	}
	rec, err := audit.Encode(ev)
	if err != nil {
		return audit.Event{}, err
	}
	head, err := json.Marshal(auditHead{Seq: ev.Seq, Hash: ev.Hash, ID: ev.ID})
	if err != nil {
		return audit.Event{}, err
	}
	if err := recs.Put(auditKey(ev.Seq), rec); err != nil {
		return audit.Event{}, err
	}
	if err := heads.Put(keyAuditHead, head); err != nil {
		return audit.Event{}, err
	}
	return ev, nil
}

// List implements audit.Log. It reads the records after q.After in order
// and keeps those q matches.
func (l *auditLog) List(ctx context.Context, q audit.Query) ([]audit.Event, uint64, error) {
	release, err := l.s.enter(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	size := q.PageSize()
	var (
		out  []audit.Event
		next uint64
	)
	err = l.s.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(auditKey(q.After + 1)); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return recordError(bucketAudit, k, errors.New("key is not a sequence number"))
			}
			ev, err := audit.Decode(v)
			if err != nil {
				return recordError(bucketAudit, k, err)
			}
			if !q.Match(&ev) {
				continue
			}
			out = append(out, ev)
			if len(out) == size {
				if nk, _ := c.Next(); nk != nil {
					next = binary.BigEndian.Uint64(k)
				}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fault.Wrap(l.s.named(err), fault.Internal, "audit list")
	}
	return out, next, nil
}

// Head implements audit.Header: the head recorded with the last append.
func (l *auditLog) Head(ctx context.Context) (audit.Head, error) {
	release, err := l.s.enter(ctx)
	if err != nil {
		return audit.Head{}, err
	}
	defer release()
	var h audit.Head
	err = l.s.view(func(tx *bbolt.Tx) error {
		var err error
		h, err = readAuditHead(tx)
		return err
	})
	if err != nil {
		return audit.Head{}, fault.Wrap(l.s.named(err), fault.Internal, "audit head")
	}
	return h, nil
}
