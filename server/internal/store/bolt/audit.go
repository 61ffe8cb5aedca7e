package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"

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
	_ audit.Log    = (*auditLog)(nil)
	_ audit.Header = (*auditLog)(nil)
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
	release, err := l.s.enter(ctx)
	if err != nil {
		return audit.Event{}, err
	}
	defer release()
	var (
		ev      audit.Event
		linkErr error
	)
	err = l.s.update(func(tx *bbolt.Tx) error {
		recs, err := tx.CreateBucketIfNotExists(bucketAudit)
		if err != nil {
			return err
		}
		heads, err := tx.CreateBucketIfNotExists(bucketAuditHead)
		if err != nil {
			return err
		}
		h, err := readAuditHead(tx)
		if err != nil {
			return err
		}
		if ev, linkErr = audit.Link(h, e, l.s.opts.Now()); linkErr != nil {
			return linkErr
		}
		rec, err := audit.Encode(ev)
		if err != nil {
			return err
		}
		head, err := json.Marshal(auditHead{Seq: ev.Seq, Hash: ev.Hash, ID: ev.ID})
		if err != nil {
			return err
		}
		if err := recs.Put(auditKey(ev.Seq), rec); err != nil {
			return err
		}
		return heads.Put(keyAuditHead, head)
	})
	if linkErr != nil {
		return audit.Event{}, linkErr
	}
	if err != nil {
		return audit.Event{}, store.Unavailable(l.s.named(err), "audit append")
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
