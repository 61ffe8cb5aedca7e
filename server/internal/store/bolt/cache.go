package bolt

import (
	"hash/maphash"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/store"
)

const shardCount = 64

type userKey struct{ tenant, user string }

type ipKey struct {
	tenant string
	ip     netip.Addr
}

// A profile is cached as its stored value (see record.go), an immutable
// string, and an IP record as a decoded snapshot that is never changed once
// cached; either way a reader may use what it got after dropping the shard
// lock, and never sees a half-updated record.

type ipEntry struct {
	r       store.IPRecord
	written int64 // wall-clock unix nanoseconds of the last write
}

type userShard struct {
	mu sync.RWMutex
	m  map[userKey]string
	_  [32]byte // keep shards on separate cache lines
}

type ipShard struct {
	mu sync.RWMutex
	m  map[ipKey]*ipEntry
	_  [32]byte
}

// cache is the in-memory image of the file that every read is served from.
type cache struct {
	seed  maphash.Seed
	users [shardCount]userShard
	ips   [shardCount]ipShard
	sso   atomic.Pointer[map[string]store.SSOStatus]
}

func newCache() *cache {
	c := &cache{seed: maphash.MakeSeed()}
	for i := range c.users {
		c.users[i].m = make(map[userKey]string)
		c.ips[i].m = make(map[ipKey]*ipEntry)
	}
	empty := map[string]store.SSOStatus{}
	c.sso.Store(&empty)
	return c
}

func (c *cache) userShard(k userKey) *userShard {
	h := maphash.String(c.seed, k.tenant)*31 + maphash.String(c.seed, k.user)
	return &c.users[h%shardCount]
}

func (c *cache) ipShard(k ipKey) *ipShard {
	b := k.ip.As16()
	h := maphash.String(c.seed, k.tenant)*31 + maphash.Bytes(c.seed, b[:])
	return &c.ips[h%shardCount]
}

// user returns the stored value of the user's profile, "" when there is
// none.
func (c *cache) user(k userKey) string {
	sh := c.userShard(k)
	sh.mu.RLock()
	v := sh.m[k]
	sh.mu.RUnlock()
	return v
}

// setUser publishes the stored value of a profile, or removes the profile
// when v is "".
func (c *cache) setUser(k userKey, v string) {
	sh := c.userShard(k)
	sh.mu.Lock()
	if v == "" {
		delete(sh.m, k)
	} else {
		sh.m[k] = v
	}
	sh.mu.Unlock()
}

func (c *cache) ip(k ipKey) *ipEntry {
	sh := c.ipShard(k)
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	return e
}

// setIP publishes e, or removes the record when e is nil.
func (c *cache) setIP(k ipKey, e *ipEntry) {
	sh := c.ipShard(k)
	sh.mu.Lock()
	if e == nil {
		delete(sh.m, k)
	} else {
		sh.m[k] = e
	}
	sh.mu.Unlock()
}

// ipsNaming returns the addresses of the tenant's IP records that hold a
// failure of the user.
func (c *cache) ipsNaming(tenant, user string) []netip.Addr {
	var out []netip.Addr
	for i := range c.ips {
		sh := &c.ips[i]
		sh.mu.RLock()
		for k, e := range sh.m {
			if k.tenant == tenant && names(&e.r, user) {
				out = append(out, k.ip)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

func names(r *store.IPRecord, user string) bool {
	return slices.ContainsFunc(r.Users, func(s store.Seen) bool { return s.Key == user }) ||
		slices.ContainsFunc(r.Failures, func(f store.IPFailure) bool { return f.UserID == user })
}

func (c *cache) ssoOf(tenant string) (store.SSOStatus, bool) {
	st, ok := (*c.sso.Load())[tenant]
	return st, ok
}

// setSSO publishes a tenant's status; callers serialise.
func (c *cache) setSSO(tenant string, st store.SSOStatus) {
	next := maps.Clone(*c.sso.Load())
	next[tenant] = st
	c.sso.Store(&next)
}

// loadReleaseEvery is how many records load reads between two releases
// of the file's pages: ~4 MB of a file of new profiles.
const loadReleaseEvery = 1 << 14

// load fills the cache from the file. A record that does not decode is an
// error naming its bucket and key: the file is damaged, and serving
// without it would forget state silently.
//
// Every profile is decoded once to check it, and cached in the binary form
// (a JSON value of schema 1 is re-encoded; the file keeps it until the
// profile's next write). Tenant names are shared between the keys of one
// tenant. release is called every loadReleaseEvery records.
func (c *cache) load(tx *bbolt.Tx, release func()) error {
	n := 0
	loaded := func() {
		if n++; n%loadReleaseEvery == 0 {
			release()
		}
	}
	tenants := map[string]string{}
	intern := func(t string) string {
		if u, ok := tenants[t]; ok {
			return u
		}
		tenants[t] = t
		return t
	}
	var p store.Profile
	err := tx.Bucket(bucketProfiles).ForEach(func(k, v []byte) error {
		uk, err := decodeUserKey(k)
		if err != nil {
			return recordError(bucketProfiles, k, err)
		}
		uk.tenant = intern(uk.tenant)
		var cached string
		if isJSON(v) {
			p.Reset()
			written, err := decodeValue(v, &p)
			if err != nil {
				return recordError(bucketProfiles, k, err)
			}
			cached = string(encodeProfile(written, &p))
		} else {
			cached = string(v)
			if err := decodeProfile(uk, cached, &p); err != nil {
				return recordError(bucketProfiles, k, err)
			}
		}
		c.userShard(uk).m[uk] = cached // no lock: nothing else sees the cache yet
		loaded()
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketIPs).ForEach(func(k, v []byte) error {
		ik, err := decodeIPKey(k)
		if err != nil {
			return recordError(bucketIPs, k, err)
		}
		ik.tenant = intern(ik.tenant)
		e := new(ipEntry)
		if isJSON(v) {
			e.written, err = decodeValue(v, &e.r)
		} else {
			cached := string(v)
			if err = decodeIPRecord(cached, &e.r); err == nil {
				e.written = writtenOf(cached)
			}
		}
		if err != nil {
			return recordError(bucketIPs, k, err)
		}
		c.ipShard(ik).m[ik] = e
		loaded()
		return nil
	})
	if err != nil {
		return err
	}
	sso := map[string]store.SSOStatus{}
	err = tx.Bucket(bucketSSO).ForEach(func(k, v []byte) error {
		var st store.SSOStatus
		if _, err := decodeValue(v, &st); err != nil {
			return recordError(bucketSSO, k, err)
		}
		sso[string(k)] = st
		return nil
	})
	if err != nil {
		return err
	}
	c.sso.Store(&sso)
	return nil
}

// len returns the number of profiles and IP records held.
func (c *cache) len() (profiles, ips int) {
	for i := range c.users {
		c.users[i].mu.RLock()
		profiles += len(c.users[i].m)
		c.users[i].mu.RUnlock()
		c.ips[i].mu.RLock()
		ips += len(c.ips[i].m)
		c.ips[i].mu.RUnlock()
	}
	return profiles, ips
}
