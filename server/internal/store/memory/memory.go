// Package memory is the "memory:" store backend: everything in process
// memory, lost on exit. It is meant for tests and demos, and it is the
// reference the conformance suite (storetest) is written against.
//
// Profiles and IP records live in sharded maps, each shard behind its own
// RWMutex, so reads of different users never contend and a read holds one
// shard's read lock only while it copies. An event locks its user's shard,
// then its IP's shard (always in that order), which makes it atomic. SSO
// status sits in a copy-on-write map behind an atomic pointer.
//
// Idle state is dropped by a sweeper the way a Redis backend lets keys
// expire: a profile not written for ProfileRetention (unless it records a
// suspension or an MFA reset), an IP record not written for IPRetention.
package memory

import (
	"context"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store"
)

const shardCount = 64

// The defaults of Options.
const (
	// DefaultSweepInterval is how often idle state is looked for.
	DefaultSweepInterval = time.Hour
	// DefaultProfileRetention is how long an unwritten profile is kept.
	DefaultProfileRetention = store.DefaultLookback
	// DefaultIPRetention is how long an unwritten IP record is kept.
	DefaultIPRetention = store.MaxFailureWindow
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
	// Now is the wall clock the sweeper uses; time.Now when nil. Windows
	// never use it: they follow event and request times.
	Now func() time.Time
}

type userKey struct{ tenant, user string }

type ipKey struct {
	tenant string
	ip     netip.Addr
}

type userEntry struct {
	p       store.Profile
	written int64 // wall-clock unix nanoseconds of the last write
}

type ipEntry struct {
	r       store.IPRecord
	written int64
}

type userShard struct {
	mu sync.RWMutex
	m  map[userKey]*userEntry
	_  [32]byte // keep shards on separate cache lines
}

type ipShard struct {
	mu sync.RWMutex
	m  map[ipKey]*ipEntry
	_  [32]byte
}

// Store is the in-memory backend. Its zero value is not usable; call New.
type Store struct {
	seed   maphash.Seed
	users  [shardCount]userShard
	ips    [shardCount]ipShard
	ssoMu  sync.Mutex // serialises SSO writers
	sso    atomic.Pointer[map[string]store.SSOStatus]
	closed atomic.Bool
	opts   Options
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

var _ store.Store = (*Store)(nil)

// New returns an empty store and starts its sweeper; Close stops it.
func New(opts Options) *Store {
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.ProfileRetention <= 0 {
		opts.ProfileRetention = DefaultProfileRetention
	}
	if opts.IPRetention <= 0 {
		opts.IPRetention = DefaultIPRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{seed: maphash.MakeSeed(), opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range s.users {
		s.users[i].m = make(map[userKey]*userEntry)
		s.ips[i].m = make(map[ipKey]*ipEntry)
	}
	empty := map[string]store.SSOStatus{}
	s.sso.Store(&empty)
	if opts.SweepInterval > 0 {
		go s.sweepLoop()
	} else {
		close(s.done)
	}
	return s
}

func (s *Store) userShard(tenant, user string) *userShard {
	h := maphash.String(s.seed, tenant)*31 + maphash.String(s.seed, user)
	return &s.users[h%shardCount]
}

func (s *Store) ipShard(tenant string, ip netip.Addr) *ipShard {
	b := ip.As16()
	h := maphash.String(s.seed, tenant)*31 + maphash.Bytes(s.seed, b[:])
	return &s.ips[h%shardCount]
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return store.ContextError(ctx)
}
