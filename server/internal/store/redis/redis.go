// Package redis is the "redis://HOST:PORT/DB" store backend (also
// rediss:// over TLS, Redis Cluster and Valkey): any number of stateless PDP
// replicas share one Redis, so a failed login reported to replica A counts
// on replica B.
//
// # Client
//
// The client is rueidis rather than go-redis, for what this workload does:
//
//   - Every decision reads a few keys and every report writes a few, from
//     many goroutines at once. rueidis pipelines concurrent commands
//     automatically onto a few shared connections (one write and one read
//     syscall carry many requests), where go-redis takes one pooled
//     connection per command in flight; under load that means fewer
//     connections per replica on the server, fewer syscalls and a flatter
//     tail, without a pool size to tune.
//   - Read is one DoMulti: the profile, the IP record and the SSO status
//     arrive in one round trip, and in a Cluster rueidis routes the batch
//     by slot (all of a tenant's keys share one) with no extra code.
//   - It detects a Cluster from a single seed address, speaks RESP3 (and
//     RESP2 for old servers), runs Lua by EVALSHA with an EVAL fallback,
//     and Valkey maintains a fork of it (valkey-go), so the choice holds
//     for Valkey too.
//   - Its client-side caching (server-assisted invalidation) is the other
//     draw, and it is deliberately off here: profiles and counters change on
//     nearly every event, so cached copies would mostly churn invalidations
//     and tracking-table memory on the server, and an invalidation arrives
//     after the write's reply, so a replica could read its own write stale.
//     The slowly changing data (IP rules, tenant policies) is kept in each
//     replica's memory and refreshed by Notifier messages instead, which
//     gives the same zero-round-trip reads without that cost.
//
// go-redis is the more familiar API and its PubSub reconnects by itself;
// Notifier does that here in a few lines, so it decided nothing.
//
// # Keys
//
// Every key is PREFIX:{TENANT}:KIND:ID, with the tenant inside a Cluster hash
// tag so that all of one tenant's keys (and so every key one event touches)
// live in one slot, and no key of one tenant can be formed from another's
// name (braces and '%' in a tenant name are percent-escaped):
//
//	pdp:{acme}:u:USER     hash: d = profile, v = version token
//	pdp:{acme}:ip:ADDR    hash: d = IP failure record, v = version
//	pdp:{acme}:uip:USER   sorted set: the IPs the user failed from
//	pdp:{acme}:sso        string: SSO status JSON
//	pdp:{acme}:ssf:BUCKET hash: Shared Signals effects (see SSF)
//	pdp:{acme}:ssfjti:... hash: an applied SET's jti, for its replay window
//	pdp:changes           Pub/Sub channel of Notifier
//
// Profiles and IP records are encoded in the compact binary form of
// codec.go (JSON cost two thirds of the client's CPU); the SSO status is
// JSON.
//
// # Atomicity
//
// The rules of what an event changes live in package store (Profile.Apply,
// IPRecord.Apply), so they are not written a second time in Lua. A write
// loads the records and their version tokens in one round trip, applies the
// rules in Go, and commits with one Lua compare-and-set that replaces every
// record (and updates the user's IP index) only if no version changed,
// retrying otherwise. Versions are random tokens, never reused, so a record
// deleted and created again cannot be mistaken for the one that was read.
// This needs no dedicated connection, unlike WATCH/MULTI, and keeps
// auto-pipelining.
//
// # Expiry
//
// Windows follow event times, not the wall clock, so failure counters are
// the bounded lists of package store rather than INCR counters; Redis key
// expiry plays the memory backend's sweeper: every write sets the key's TTL
// to the retention (profiles: ProfileRetention, persisted while they record
// a suspension or an MFA reset; IP records: IPRetention). The per-user IP
// index lives at least as long as the user's profile and longer than any IP
// record that can still name the user, so DeleteUser finds every record.
//
// # Durability
//
// A write is acknowledged once Redis executed it; what survives a Redis
// crash is what Redis persists (appendonly yes with appendfsync everysec
// loses at most a second; a replica with WAIT is not used). A PDP replica
// keeps no state of its own, so replicas can crash and restart freely.
package redis

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// The defaults of Options.
const (
	// DefaultProfileRetention is how long an unwritten profile is kept.
	DefaultProfileRetention = store.DefaultLookback
	// DefaultIPRetention is how long an unwritten IP record is kept.
	DefaultIPRetention = store.MaxFailureWindow
	// DefaultMaxAttempts bounds the compare-and-set attempts of one write.
	DefaultMaxAttempts = 100
	// DefaultDialTimeout bounds connecting to a node.
	DefaultDialTimeout = 5 * time.Second
)

// Options configure a Store beyond what its URL says.
type Options struct {
	// ProfileRetention is how long a profile nobody writes is kept;
	// DefaultProfileRetention when zero.
	ProfileRetention time.Duration
	// IPRetention is how long an IP record nobody writes is kept;
	// DefaultIPRetention when zero.
	IPRetention time.Duration
	// MaxAttempts bounds the compare-and-set attempts of one write under
	// contention; DefaultMaxAttempts when zero.
	MaxAttempts int
	// DialTimeout bounds connecting to a node; DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// TLSConfig replaces the TLS settings of a rediss:// URL (the system
	// roots and the URL's host); nil keeps them. SSL_CERT_FILE also adds
	// a private CA without code.
	TLSConfig *tls.Config
	// Now is the wall clock of the IP index scores; time.Now when nil.
	Now func() time.Time
	// SweepInterval is how often the audit log links records a replica
	// committed with their changes but stopped before linking;
	// DefaultSweepInterval when zero. Negative starts no sweeper: a
	// reader such as `pdp audit verify` changes nothing.
	SweepInterval time.Duration
}

// Store is the Redis backend. Its zero value is not usable; call Open.
type Store struct {
	client rueidis.Client
	cfg    Config
	opts   Options
	closed atomic.Bool
	once   sync.Once

	// life ends when Close starts; subscriptions end with it, and Close
	// waits for them (subs) before closing the client under them.
	life   context.Context
	end    context.CancelFunc
	subsMu sync.Mutex
	subs   sync.WaitGroup

	profileTTL, ipTTL, indexTTL time.Duration

	auditOnce sync.Once
	audit     *auditLog
}

var _ store.Store = (*Store)(nil)

// Open connects to the server (or cluster) the URL names and checks it
// with PING. Errors name the address, never the password.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	return OpenConfig(ctx, cfg, opts)
}

// OpenConfig is Open with a parsed URL.
func OpenConfig(ctx context.Context, cfg Config, opts Options) (*Store, error) {
	opts = opts.normalized()
	co := rueidis.ClientOption{
		InitAddress:  cfg.Addrs,
		SelectDB:     cfg.DB,
		Username:     cfg.Username,
		Password:     cfg.Password,
		ClientName:   "pdp",
		DisableCache: true, // see the package comment
	}
	co.Dialer.Timeout = opts.DialTimeout
	co.RetryDelay = retryDelay
	if cfg.TLS {
		co.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
		if opts.TLSConfig != nil {
			co.TLSConfig = opts.TLSConfig.Clone()
			if co.TLSConfig.ServerName == "" {
				co.TLSConfig.ServerName = cfg.ServerName
			}
		}
	}
	where := strings.Join(cfg.Addrs, ",")
	client, err := rueidis.NewClient(co)
	if err != nil {
		if cfg.DB != 0 && strings.Contains(strings.ToLower(err.Error()), "cluster mode") {
			return nil, fmt.Errorf("redis store %s: a Redis Cluster has only database 0, the URL selects %d: %w", where, cfg.DB, err)
		}
		return nil, fmt.Errorf("redis store %s: connect: %w", where, err)
	}
	if client.Mode() == rueidis.ClientModeCluster && cfg.DB != 0 {
		client.Close()
		return nil, fmt.Errorf("redis store %s: a Redis Cluster has only database 0, the URL selects %d", where, cfg.DB)
	}
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis store %s: PING: %w", where, err)
	}
	s := &Store{client: client, cfg: cfg, opts: opts}
	s.life, s.end = context.WithCancel(context.Background())
	s.profileTTL = opts.ProfileRetention
	s.ipTTL = opts.IPRetention
	// An IP record names a user only while the user's failure is within
	// the failure window of the record's newest failure, and the record
	// outlives its last write by IPRetention; the profile outlives the
	// user's last event by ProfileRetention.
	s.indexTTL = max(opts.ProfileRetention, opts.IPRetention+store.MaxFailureWindow)
	if err := s.moveGlobalRules(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis store %s: %w", where, err)
	}
	return s, nil
}

// retryDelay lets the client retry a read-only command three times (1, 4
// and 16ms later) when a connection breaks, then give up: a decision with
// a deadline of a few seconds should learn that Redis is down in
// milliseconds, not after the client's default second-long backoff.
func retryDelay(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts > 3 {
		return -1
	}
	return time.Millisecond << (2 * (attempts - 1))
}

func (o Options) normalized() Options {
	if o.ProfileRetention <= 0 {
		o.ProfileRetention = DefaultProfileRetention
	}
	if o.IPRetention <= 0 {
		o.IPRetention = DefaultIPRetention
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	return o
}

// Config returns the parsed URL the store was opened with.
func (s *Store) Config() Config { return s.cfg }

// Cluster reports whether the server is a Redis Cluster.
func (s *Store) Cluster() bool { return s.client.Mode() == rueidis.ClientModeCluster }

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return store.ContextError(ctx)
}

// fail maps a client error: the context's end wins, then a closed store,
// and everything else (network, server refusing) is Unavailable.
func (s *Store) fail(ctx context.Context, err error, op string) error {
	if cerr := store.ContextError(ctx); cerr != nil {
		return cerr
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return store.Unavailable(err, op)
}

// Ping implements store.Store: a PING round trip.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.client.Do(ctx, s.client.B().Ping().Build()).Error(); err != nil {
		return s.fail(ctx, err, "ping")
	}
	return nil
}

// Close implements store.Store: it waits for the commands in flight and
// closes every connection. Calling it again does nothing.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.subsMu.Lock()
		s.closed.Store(true)
		s.subsMu.Unlock()
		s.end()
		s.subs.Wait()
		s.client.Close()
	})
	return nil
}

// track registers a subscription that cancel ends when the store closes;
// it reports false, registering nothing, once the store is closed.
func (s *Store) track(ctx context.Context, cancel context.CancelFunc) bool {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.subs.Add(1)
	stop := context.AfterFunc(s.life, cancel)
	context.AfterFunc(ctx, func() { stop() })
	return true
}

// Keys. Tenant names are escaped so that the hash tag ends where the
// tenant does.

func (s *Store) tenantPart(tenant string) string {
	return s.cfg.Prefix + ":{" + escapeTenant(tenant) + "}:"
}

func (s *Store) userKey(tenant, user string) string  { return s.tenantPart(tenant) + "u:" + user }
func (s *Store) ipKey(tenant, ip string) string      { return s.tenantPart(tenant) + "ip:" + ip }
func (s *Store) indexKey(tenant, user string) string { return s.tenantPart(tenant) + "uip:" + user }
func (s *Store) ssoKey(tenant string) string         { return s.tenantPart(tenant) + "sso" }

func escapeTenant(t string) string {
	if !strings.ContainsAny(t, "{}%") {
		return t
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; c {
		case '{', '}', '%':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
