package memory

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// auditLogs holds the audit log of each live Store. A store refers to its
// log only through this map, weakly, so the log goes when the store does.
var auditLogs sync.Map // weak.Pointer[Store] → *auditLog

// AuditLog returns the store's audit log: a chain in process memory, lost
// on exit like the rest of the store. Every call returns the same log.
// Appends are serialised by a mutex; after Close every call fails with
// store.ErrClosed.
func (s *Store) AuditLog() audit.Log {
	key := weak.Make(s)
	if l, ok := auditLogs.Load(key); ok {
		return l.(*auditLog)
	}
	l, loaded := auditLogs.LoadOrStore(key, &auditLog{store: key, now: s.opts.Now})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Store]) { auditLogs.Delete(k) }, key)
	}
	return l.(*auditLog)
}

// auditLog is the memory backend's audit.Log.
type auditLog struct {
	store weak.Pointer[Store]
	now   func() time.Time
	mu    sync.RWMutex
	head  audit.Head
	recs  [][]byte // recs[i] is the record of seq i+1, as audit.Encode wrote it
}

var (
	_ audit.Log       = (*auditLog)(nil)
	_ audit.Header    = (*auditLog)(nil)
	_ audit.Committer = (*auditLog)(nil)
)

func (l *auditLog) check(ctx context.Context) error {
	if s := l.store.Value(); s == nil || s.closed.Load() {
		return store.ErrClosed
	}
	return store.ContextError(ctx)
}

// Append implements audit.Log.
func (l *auditLog) Append(ctx context.Context, e audit.Entry) (audit.Event, error) {
	return l.Commit(ctx, e, nil)
}

// Commit implements audit.Committer under the log's lock: the entry is
// checked first, then change runs (writing to any memory store), then the
// record is appended, and no other append or listing comes in between.
// Memory cannot undo a change, so everything that can refuse the record
// is checked before change runs; what is left after it (an entry change
// itself made invalid, a failed encoding) is a program error, reported as
// Internal.
func (l *auditLog) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	if err := l.check(ctx); err != nil {
		return audit.Event{}, err
	}
	if err := audit.Check(e); err != nil {
		return audit.Event{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if change != nil {
		if err := change(ctx, &e); err != nil {
			return audit.Event{}, err
		}
	}
	ev, err := audit.Link(l.head, e, l.now())
	if err != nil {
		if change != nil {
			return audit.Event{}, fault.Wrap(err, fault.Internal, "audit: the change left an entry the log refuses")
		}
		return audit.Event{}, err
	}
	rec, err := audit.Encode(ev)
	if err != nil {
		return audit.Event{}, fault.Wrap(err, fault.Internal, "audit: encode the event")
	}
	// The caller gets its own copy, decoded like every later read.
	out, err := audit.Decode(rec)
	if err != nil {
		return audit.Event{}, fault.Wrap(err, fault.Internal, "audit: decode the event")
	}
	l.recs = append(l.recs, rec)
	l.head = audit.HeadOf(ev)
	return out, nil
}

// List implements audit.Log.
func (l *auditLog) List(ctx context.Context, q audit.Query) ([]audit.Event, uint64, error) {
	if err := l.check(ctx); err != nil {
		return nil, 0, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	size := q.PageSize()
	var out []audit.Event
	n := uint64(len(l.recs))
	for i := min(q.After, n); i < n; i++ {
		ev, err := audit.Decode(l.recs[i])
		if err != nil {
			return nil, 0, fault.Wrap(err, fault.Internal, fmt.Sprintf("audit: record %d", i+1))
		}
		if !q.Match(&ev) {
			continue
		}
		out = append(out, ev)
		if len(out) == size {
			if i+1 < n {
				return out, i + 1, nil
			}
			break
		}
	}
	return out, 0, nil
}

// Head implements audit.Header.
func (l *auditLog) Head(ctx context.Context) (audit.Head, error) {
	if err := l.check(ctx); err != nil {
		return audit.Head{}, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.head, nil
}

// tamper rewrites the stored record of seq through edit, keeping its
// hash: the tests' way to alter a record behind the log's back.
func (l *auditLog) tamper(seq uint64, edit func(*audit.Event)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev, err := audit.Decode(l.recs[seq-1])
	if err != nil {
		return err
	}
	edit(&ev)
	l.recs[seq-1], err = audit.Encode(ev)
	return err
}
