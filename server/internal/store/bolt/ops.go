package bolt

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// ApplyEvent implements store.Store. It returns once the event is on disk;
// from then on Read sees it too. Once the write is queued it completes
// even if ctx ends, so that an error always means the event was not
// acknowledged by the file.
func (s *Store) ApplyEvent(ctx context.Context, ev *decision.Event, set store.Settings) (store.Outcome, error) {
	leave, err := s.enter(ctx)
	if err != nil {
		return store.Outcome{}, err
	}
	defer leave()
	if err := store.ValidateEvent(ev); err != nil {
		return store.Outcome{}, err
	}
	set = set.Normalized()
	now := s.opts.Now().UnixNano()
	var (
		out   store.Outcome
		ops   = make([]put, 0, 2)
		uk    = userKey{ev.Tenant, ev.Subject.ID}
		ik    = ipKey{ev.Tenant, ev.Network.IP.Unmap().WithZone("")}
		newP  []byte
		newIP *ipEntry
	)

	// Lock order: the user's stripe, then the IP's.
	if uk.user != "" {
		defer s.locks.lockUser(uk)()
		p := profiles.Get().(*store.Profile)
		defer profiles.Put(p)
		if err := s.profileOf(uk, p); err != nil {
			return store.Outcome{}, err
		}
		out = p.Apply(ev, set)
		newP = encodeProfile(now, p)
		ops = append(ops, put{bucket: bucketProfiles, key: encodeUserKey(uk), val: newP})
	}
	if ik.ip.IsValid() {
		if store.IsFailure(ev.Kind) {
			defer s.locks.lockIPs(ik)()
			newIP = &ipEntry{written: now}
			if old := s.cache.ip(ik); old != nil {
				newIP.r = cloneRecord(&old.r)
			}
			out.IPFailedLogins, out.IPFailedUsers = newIP.r.Apply(ev.Time, uk.user, set)
			ops = append(ops, put{bucket: bucketIPs, key: encodeIPKey(ik), val: encodeIPRecord(now, &newIP.r)})
		} else if old := s.cache.ip(ik); old != nil {
			since := ev.Time.Add(-set.FailureWindow)
			out.IPFailedLogins, out.IPFailedUsers = old.r.FailuresSince(since), old.r.UsersSince(since)
		}
	}
	if len(ops) == 0 {
		return out, nil
	}
	if err := s.write("apply event", ops); err != nil {
		return store.Outcome{}, err
	}
	if newP != nil {
		s.cache.setUser(uk, string(newP))
	}
	if newIP != nil {
		s.cache.setIP(ik, newIP)
	}
	return out, nil
}

// Read implements store.Store. It is served from memory.
func (s *Store) Read(ctx context.Context, q store.Query, dst *store.View) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := store.ValidateQuery(&q); err != nil {
		return err
	}
	dst.Reset()
	since := q.At.Add(-store.Settings{FailureWindow: q.FailureWindow}.Normalized().FailureWindow)
	if q.UserID != "" {
		uk := userKey{q.Tenant, q.UserID}
		if v := s.cache.user(uk); v != "" {
			if err := decodeCached(uk, v, &dst.Profile); err != nil {
				dst.Reset()
				return err
			}
			dst.HasProfile = true
			dst.UserFailedLogins = dst.Profile.FailedLoginsSince(since)
		}
	}
	if ip := q.IP.Unmap().WithZone(""); ip.IsValid() {
		if e := s.cache.ip(ipKey{q.Tenant, ip}); e != nil {
			dst.IPFailedLogins, dst.IPFailedUsers = e.r.FailuresSince(since), e.r.UsersSince(since)
		}
	}
	dst.SSO, dst.HasSSO = s.cache.ssoOf(q.Tenant)
	return nil
}

// GetProfile implements store.Store. It is served from memory.
func (s *Store) GetProfile(ctx context.Context, tenant, userID string, dst *store.Profile) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return false, err
	}
	uk := userKey{tenant, userID}
	v := s.cache.user(uk)
	if v == "" {
		dst.Reset()
		return false, nil
	}
	if err := decodeCached(uk, v, dst); err != nil {
		dst.Reset()
		return false, err
	}
	return true, nil
}

// Users implements store.Store, from the cache, which holds every
// profile.
func (s *Store) Users(ctx context.Context, tenant string, limit int) ([]string, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	if err := store.ValidateTenant(tenant); err != nil {
		return nil, false, err
	}
	var ids []string
	for i := range s.cache.users {
		sh := &s.cache.users[i]
		sh.mu.RLock()
		for k := range sh.m {
			if k.tenant == tenant {
				ids = append(ids, k.user)
			}
		}
		sh.mu.RUnlock()
	}
	ids, more := store.FirstUsers(ids, max(limit, 1))
	return ids, more, nil
}

// profiles holds the scratch profiles of writers.
var profiles = sync.Pool{New: func() any { return new(store.Profile) }}

// profileOf fills dst with the user's cached profile, or a new one.
func (s *Store) profileOf(uk userKey, dst *store.Profile) error {
	v := s.cache.user(uk)
	if v == "" {
		dst.Reset()
		dst.Tenant, dst.UserID = uk.tenant, uk.user
		return nil
	}
	return decodeCached(uk, v, dst)
}

// decodeCached decodes a cached profile. The cache holds only values that
// decoded when they were cached, so an error is a bug.
func decodeCached(uk userKey, v string, dst *store.Profile) error {
	if err := decodeProfile(uk, v, dst); err != nil {
		return fault.Wrap(err, fault.Internal, "decode cached profile")
	}
	return nil
}

// SetSuspension implements store.Store.
func (s *Store) SetSuspension(ctx context.Context, tenant, userID string, sus store.Suspension) error {
	sus.At = sus.At.UTC()
	return s.updateUser(ctx, tenant, userID, "set suspension", func(p *store.Profile) { p.Suspension = sus })
}

// ResetMFA implements store.Store.
func (s *Store) ResetMFA(ctx context.Context, tenant, userID string, at time.Time) error {
	at = at.UTC()
	return s.updateUser(ctx, tenant, userID, "reset MFA", func(p *store.Profile) { p.MFAResetAt = at })
}

func (s *Store) updateUser(ctx context.Context, tenant, userID, what string, fn func(*store.Profile)) error {
	w, err := s.beginState(ctx)
	if err != nil {
		return err
	}
	defer w.done()
	if err := store.ValidateUser(tenant, userID); err != nil {
		return err
	}
	uk := userKey{tenant, userID}
	if err := w.lockUser(uk); err != nil {
		return err
	}
	now := s.opts.Now().UnixNano()
	p := profiles.Get().(*store.Profile)
	defer profiles.Put(p)
	if err := s.profileOf(uk, p); err != nil {
		return err
	}
	fn(p)
	val := encodeProfile(now, p)
	return w.commit(what, []put{{bucket: bucketProfiles, key: encodeUserKey(uk), val: val}},
		func() { s.cache.setUser(uk, string(val)) })
}

// SetSSOStatus implements store.Store.
func (s *Store) SetSSOStatus(ctx context.Context, tenant string, st store.SSOStatus) error {
	w, err := s.beginState(ctx)
	if err != nil {
		return err
	}
	defer w.done()
	if err := store.ValidateTenant(tenant); err != nil {
		return err
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	if err := w.lockSSO(); err != nil {
		return err
	}
	op, err := encodePut(bucketSSO, []byte(tenant), s.opts.Now().UnixNano(), &st)
	if err != nil {
		return err
	}
	return w.commit("set SSO status", []put{op}, func() { s.cache.setSSO(tenant, st) })
}

// DeleteUser implements store.Store. It holds the user's stripe while it
// finds and rewrites the IP records naming the user, so no event of the
// user slips in between, and commits the profile's deletion and every
// rewritten record in one transaction.
func (s *Store) DeleteUser(ctx context.Context, tenant, userID string) (bool, error) {
	w, err := s.beginState(ctx)
	if err != nil {
		return false, err
	}
	defer w.done()
	if err := store.ValidateUser(tenant, userID); err != nil {
		return false, err
	}
	uk := userKey{tenant, userID}
	if err := w.lockUser(uk); err != nil {
		return false, err
	}
	var keys []ipKey
	for _, ip := range s.cache.ipsNaming(tenant, userID) {
		keys = append(keys, ipKey{tenant, ip})
	}
	if err := w.lockIPs(keys...); err != nil {
		return false, err
	}

	var ops []put
	found := s.cache.user(uk) != ""
	if found {
		ops = append(ops, put{bucket: bucketProfiles, key: encodeUserKey(uk)})
	}
	records := make([]*ipEntry, len(keys))
	for i, k := range keys {
		old := s.cache.ip(k)
		if old == nil {
			continue
		}
		r := cloneRecord(&old.r)
		if !r.RemoveUser(userID) {
			records[i] = old
			continue
		}
		found = true
		if r.Empty() {
			ops = append(ops, put{bucket: bucketIPs, key: encodeIPKey(k)})
			continue
		}
		// Erasure is not a write of the IP: its retention clock stays.
		records[i] = &ipEntry{r: r, written: old.written}
		ops = append(ops, put{bucket: bucketIPs, key: encodeIPKey(k), val: encodeIPRecord(old.written, &r)})
	}
	if len(ops) == 0 {
		return found, nil
	}
	err = w.commit("erase user", ops, func() {
		s.cache.setUser(uk, "")
		for i, k := range keys {
			s.cache.setIP(k, records[i])
		}
	})
	if err != nil {
		return false, err
	}
	return found, nil
}

func encodePut(bucket, key []byte, written int64, v any) (put, error) {
	val, err := encodeValue(written, v)
	if err != nil {
		return put{}, fault.Wrap(err, fault.Internal, "encode record")
	}
	return put{bucket: bucket, key: key, val: val}, nil
}

func cloneRecord(r *store.IPRecord) store.IPRecord {
	return store.IPRecord{
		Failures:  slices.Clone(r.Failures),
		Users:     slices.Clone(r.Users),
		UpdatedAt: r.UpdatedAt,
	}
}
