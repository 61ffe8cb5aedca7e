package bolt

import (
	"context"
	"errors"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// Sweep drops what has not been written for the retention periods, as of
// now: profiles after ProfileRetention unless they record a suspension or
// an MFA reset, IP records after IPRetention. It deletes them from the file
// and then from memory, MaxBatch keys per transaction, and returns how many
// of each it dropped. The sweeper calls it every SweepInterval.
func (s *Store) Sweep(now time.Time) (profiles, ips int, err error) {
	leave, err := s.enter(context.Background())
	if err != nil {
		return 0, 0, err
	}
	defer leave()
	pcut := now.Add(-s.opts.ProfileRetention).UnixNano()
	icut := now.Add(-s.opts.IPRetention).UnixNano()
	var p store.Profile
	idleProfile := func(k userKey, v string) bool {
		if v == "" || writtenOf(v) >= pcut {
			return false
		}
		if err := decodeProfile(k, v, &p); err != nil {
			return false // cached values decode; keep what does not
		}
		return !p.Suspension.Suspended && p.MFAResetAt.IsZero()
	}
	idleIP := func(e *ipEntry) bool { return e != nil && e.written < icut }

	var users []userKey
	for i := range s.cache.users {
		sh := &s.cache.users[i]
		sh.mu.RLock()
		for k, v := range sh.m {
			if idleProfile(k, v) {
				users = append(users, k)
			}
		}
		sh.mu.RUnlock()
	}
	for chunk := range chunks(users, s.opts.MaxBatch) {
		n, err := s.sweepUsers(chunk, idleProfile)
		profiles += n
		if err != nil {
			return profiles, ips, err
		}
	}

	var addrs []ipKey
	for i := range s.cache.ips {
		sh := &s.cache.ips[i]
		sh.mu.RLock()
		for k, e := range sh.m {
			if idleIP(e) {
				addrs = append(addrs, k)
			}
		}
		sh.mu.RUnlock()
	}
	for chunk := range chunks(addrs, s.opts.MaxBatch) {
		n, err := s.sweepIPs(chunk, idleIP)
		ips += n
		if err != nil {
			return profiles, ips, err
		}
	}
	return profiles, ips, nil
}

// sweepUsers deletes the profiles of keys that are still idle once locked.
func (s *Store) sweepUsers(keys []userKey, idle func(userKey, string) bool) (int, error) {
	defer s.locks.lockUsers(keys...)()
	var ops []put
	var gone []userKey
	for _, k := range keys {
		if idle(k, s.cache.user(k)) {
			ops = append(ops, put{bucket: bucketProfiles, key: encodeUserKey(k)})
			gone = append(gone, k)
		}
	}
	if len(ops) == 0 {
		return 0, nil
	}
	if err := s.write("sweep profiles", ops); err != nil {
		return 0, err
	}
	for _, k := range gone {
		s.cache.setUser(k, "")
	}
	return len(gone), nil
}

// sweepIPs deletes the records of keys that are still idle once locked.
func (s *Store) sweepIPs(keys []ipKey, idle func(*ipEntry) bool) (int, error) {
	defer s.locks.lockIPs(keys...)()
	var ops []put
	var gone []ipKey
	for _, k := range keys {
		if idle(s.cache.ip(k)) {
			ops = append(ops, put{bucket: bucketIPs, key: encodeIPKey(k)})
			gone = append(gone, k)
		}
	}
	if len(ops) == 0 {
		return 0, nil
	}
	if err := s.write("sweep IP records", ops); err != nil {
		return 0, err
	}
	for _, k := range gone {
		s.cache.setIP(k, nil)
	}
	return len(gone), nil
}

// chunks yields consecutive pieces of list of at most n elements.
func chunks[T any](list []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(list) > 0 {
			m := min(n, len(list))
			if !yield(list[:m]) {
				return
			}
			list = list[m:]
		}
	}
}

// Len returns the number of profiles and IP records held.
func (s *Store) Len() (profiles, ips int) {
	return s.cache.len()
}

func (s *Store) sweepLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			p, i, err := s.Sweep(s.opts.Now())
			switch {
			case errors.Is(err, store.ErrClosed):
				return
			case err != nil:
				s.opts.Logger.Error("bolt store sweep failed; the next one retries", "path", s.path, "error", err.Error())
			case p+i > 0:
				s.opts.Logger.Debug("bolt store swept idle state", "path", s.path, "profiles", p, "ip_records", i)
			}
		}
	}
}
