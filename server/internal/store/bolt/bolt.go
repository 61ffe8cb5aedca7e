// Package bolt is the "bolt:PATH" store backend, the default: one bbolt
// file holds every profile, IP failure record and SSO status, and nothing
// else has to run.
//
// Reads come from memory. Open loads the whole file into sharded maps of
// immutable snapshots (a profile is held as its encoded value, ~100 bytes
// for a new user, and decoded on each read: about a microsecond for a
// user with 20 logins, a few for a profile at every bound), and every
// write replaces a snapshot only after the file holds it, so Read and
// GetProfile never touch the disk and never see a state the file does
// not have.
//
// Writes are durable before they are acknowledged. A writer locks the keys
// it changes (the user's, then the IP's, always in that order), computes the
// new records with the rules of package store, hands them to the group
// committer and waits. The committer writes everything queued since its
// last commit in one bbolt transaction, which bbolt fsyncs before it
// returns; under load many events share one fsync, and a lone event pays
// exactly one, with no batching delay. So an ApplyEvent (or any other
// write) that returned nil survives a process crash, a kill -9 or a power
// loss right after it returned, as far as the disk honours fsync; a clean
// Close is not needed for durability, it only waits for writes in flight.
//
// Keys are tenant-scoped: every key of the profiles and ips buckets starts
// with the tenant's length and name, so no tenant can reach another's
// records. Values are an 8-byte wall-clock write time followed by the
// record: a compact binary form for profiles and IP records (record.go),
// JSON for SSO statuses.
//
// Idle state is dropped by a sweeper exactly like the memory backend's: a
// profile not written for ProfileRetention (unless it records a suspension
// or an MFA reset), an IP record not written for IPRetention. Write times are
// stored, so retention holds across restarts.
//
// The file is locked while open: a second process (or a second Open in the
// same process) waits at most LockTimeout and then fails saying the file is
// in use, instead of hanging.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// The defaults of Options.
const (
	// DefaultSweepInterval is how often idle state is looked for.
	DefaultSweepInterval = time.Hour
	// DefaultProfileRetention is how long an unwritten profile is kept.
	DefaultProfileRetention = store.DefaultLookback
	// DefaultIPRetention is how long an unwritten IP record is kept.
	DefaultIPRetention = store.MaxFailureWindow
	// DefaultLockTimeout is how long Open waits for another process to
	// release the file.
	DefaultLockTimeout = time.Second
	// DefaultMaxBatch is the most writes one transaction commits.
	DefaultMaxBatch = 1024
)

// Options configure a Store.
type Options struct {
	// SweepInterval is how often the sweeper runs; DefaultSweepInterval
	// when zero, never when negative.
	SweepInterval time.Duration
	// ProfileRetention is how long a profile nobody writes is kept;
	// DefaultProfileRetention when zero.
	ProfileRetention time.Duration
	// IPRetention is how long an IP record nobody writes is kept;
	// DefaultIPRetention when zero.
	IPRetention time.Duration
	// LockTimeout is how long Open waits for the file lock;
	// DefaultLockTimeout when zero.
	LockTimeout time.Duration
	// MaxBatch caps the writes committed in one transaction;
	// DefaultMaxBatch when zero.
	MaxBatch int
	// Now is the wall clock of write times and of the sweeper; time.Now
	// when nil. Windows never use it: they follow event and request times.
	Now func() time.Time
	// Logger receives the sweeper's errors; nil discards them.
	Logger *slog.Logger
}

// Store is the bbolt backend. Its zero value is not usable; call Open.
type Store struct {
	path   string
	db     *bbolt.DB
	opts   Options
	cache  *cache
	locks  *lockTable
	commit *committer
	ssoMu  sync.Mutex // serialises SSO writers

	// gate keeps Close from closing the file under a writer: writers hold
	// it shared from their closed check until their commit returns.
	gate   sync.RWMutex
	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

var _ store.Store = (*Store)(nil)

// schemaVersion is the layout this package writes; Open refuses a file
// written by a newer one. Schema 2 stores profiles and IP records in the
// binary form of record.go; Open reads the JSON values of schema 1 files
// and marks them schema 2, since their next writes are binary.
const schemaVersion = 2

var (
	bucketMeta     = []byte("meta")
	bucketProfiles = []byte("profiles")
	bucketIPs      = []byte("ips")
	bucketSSO      = []byte("sso")
	keySchema      = []byte("schema")
)

// Open opens (creating it and its parent directory when missing) the store
// file at path, loads it into memory and starts the committer and the
// sweeper. Errors name the path: a file another process holds, a schema
// newer than this server's, and a damaged file (ErrDamaged): one cut short
// or overwritten, one that is not a bbolt file, a record that does not
// decode. A damaged file is an error, never a panic.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("bolt store: empty path")
	}
	opts = opts.normalized()
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("bolt store %s: create directory: %w", path, err)
		}
	}
	if err := checkFile(path, opts); err != nil {
		return nil, err
	}
	// bbolt leaves its file open and locked when it panics; the file is
	// kept here to be closed then.
	var file *os.File
	var db *bbolt.DB
	err := guard(path, func() error {
		var err error
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{
			Timeout: opts.LockTimeout,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				file = f
				return f, err
			},
		})
		return err
	})
	if err != nil {
		switch {
		case errors.Is(err, ErrDamaged):
			if db == nil && file != nil {
				_ = file.Close()
			}
			return nil, err
		case errors.Is(err, bbolterrors.ErrTimeout):
			return nil, inUse(path, opts)
		}
		return nil, fmt.Errorf("bolt store %s: not a usable database file: %w", path, err)
	}
	s := &Store{
		path:  path,
		db:    db,
		opts:  opts,
		cache: newCache(),
		locks: newLockTable(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if err := guard(path, s.init); err != nil {
		_ = db.Close()
		var rec *damagedRecord
		switch {
		case errors.As(err, &rec):
			return nil, damaged(path, err)
		case errors.Is(err, ErrDamaged):
			return nil, err
		}
		return nil, fmt.Errorf("bolt store %s: %w", path, err)
	}
	s.commit = newCommitter(db, opts.MaxBatch)
	if opts.SweepInterval > 0 {
		go s.sweepLoop()
	} else {
		close(s.done)
	}
	return s, nil
}

func (o Options) normalized() Options {
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.ProfileRetention <= 0 {
		o.ProfileRetention = DefaultProfileRetention
	}
	if o.IPRetention <= 0 {
		o.IPRetention = DefaultIPRetention
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// init creates the buckets of a new file, checks the schema of an old one
// and loads every record into the cache, handing the file's pages back to
// the kernel afterwards.
func (s *Store) init() error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketProfiles, bucketIPs, bucketSSO} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := dropStaging(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keySchema)
		switch {
		case len(v) > 1 || len(v) == 1 && v[0] > schemaVersion:
			return fmt.Errorf("schema version %v is newer than this server's %d", v, schemaVersion)
		case len(v) == 0 || v[0] < schemaVersion:
			return meta.Put(keySchema, []byte{schemaVersion})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The load reads every page of the file once; nothing reads them again
	// (reads come from the cache), so they need not stay resident, and
	// are handed back as the load goes.
	return s.db.View(func(tx *bbolt.Tx) error {
		defer s.releasePages(tx)
		return s.cache.load(tx, func() { s.releasePages(tx) })
	})
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// enter admits a writer: it fails once Close started, and otherwise holds
// the gate shared until the returned function is called.
func (s *Store) enter(ctx context.Context) (func(), error) {
	s.gate.RLock()
	if s.closed.Load() {
		s.gate.RUnlock()
		return nil, store.ErrClosed
	}
	if err := store.ContextError(ctx); err != nil {
		s.gate.RUnlock()
		return nil, err
	}
	return s.gate.RUnlock, nil
}

// check admits a reader: reads come from memory and need no gate.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return store.ContextError(ctx)
}

// write commits ops durably, mapping a failure to an Unavailable fault.
func (s *Store) write(op string, ops []put) error {
	if err := s.commit.do(ops); err != nil {
		return store.Unavailable(fmt.Errorf("%s: %w", s.path, err), op)
	}
	return nil
}

// Ping implements store.Store: it reports whether the store is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.check(ctx)
}

// Close implements store.Store: it stops the sweeper, waits for the writes
// in flight to commit and closes the file. It is safe to call more than
// once; only the first call's error is returned.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		s.gate.Lock() // every admitted writer has returned
		s.commit.stop()
		s.gate.Unlock()
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("bolt store %s: close: %w", s.path, cerr)
		}
	})
	return err
}
