package memory

import (
	"context"
	"maps"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// ApplyEvent implements store.Store.
func (s *Store) ApplyEvent(ctx context.Context, ev *decision.Event, set store.Settings) (store.Outcome, error) {
	if err := s.check(ctx); err != nil {
		return store.Outcome{}, err
	}
	if err := store.ValidateEvent(ev); err != nil {
		return store.Outcome{}, err
	}
	set = set.Normalized()
	now := s.opts.Now().UnixNano()
	var out store.Outcome

	// Lock order: the user's shard, then the IP's shard.
	user := ev.Subject.ID
	if user != "" {
		us := s.userShard(ev.Tenant, user)
		us.mu.Lock()
		defer us.mu.Unlock()
		k := userKey{ev.Tenant, user}
		e := us.m[k]
		if e == nil {
			e = &userEntry{p: store.Profile{Tenant: ev.Tenant, UserID: user}}
			us.m[k] = e
		}
		out = e.p.Apply(ev, set)
		e.written = now
	}

	ip := ev.Network.IP.Unmap().WithZone("")
	if !ip.IsValid() {
		return out, nil
	}
	is := s.ipShard(ev.Tenant, ip)
	is.mu.Lock()
	defer is.mu.Unlock()
	k := ipKey{ev.Tenant, ip}
	e := is.m[k]
	if store.IsFailure(ev.Kind) {
		if e == nil {
			e = new(ipEntry)
			is.m[k] = e
		}
		out.IPFailedLogins, out.IPFailedUsers = e.r.Apply(ev.Time, user, set)
		e.written = now
	} else if e != nil {
		since := ev.Time.Add(-set.FailureWindow)
		out.IPFailedLogins, out.IPFailedUsers = e.r.FailuresSince(since), e.r.UsersSince(since)
	}
	return out, nil
}

// Read implements store.Store.
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
		us := s.userShard(q.Tenant, q.UserID)
		us.mu.RLock()
		if e := us.m[userKey{q.Tenant, q.UserID}]; e != nil {
			e.p.CopyTo(&dst.Profile)
			dst.HasProfile = true
			dst.UserFailedLogins = e.p.FailedLoginsSince(since)
		}
		us.mu.RUnlock()
	}
	if ip := q.IP.Unmap().WithZone(""); ip.IsValid() {
		is := s.ipShard(q.Tenant, ip)
		is.mu.RLock()
		if e := is.m[ipKey{q.Tenant, ip}]; e != nil {
			dst.IPFailedLogins, dst.IPFailedUsers = e.r.FailuresSince(since), e.r.UsersSince(since)
		}
		is.mu.RUnlock()
	}
	dst.SSO, dst.HasSSO = (*s.sso.Load())[q.Tenant]
	return nil
}

// GetProfile implements store.Store.
func (s *Store) GetProfile(ctx context.Context, tenant, userID string, dst *store.Profile) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return false, err
	}
	us := s.userShard(tenant, userID)
	us.mu.RLock()
	defer us.mu.RUnlock()
	e := us.m[userKey{tenant, userID}]
	if e == nil {
		dst.Reset()
		return false, nil
	}
	e.p.CopyTo(dst)
	return true, nil
}

// SetSuspension implements store.Store.
func (s *Store) SetSuspension(ctx context.Context, tenant, userID string, sus store.Suspension) error {
	sus.At = sus.At.UTC()
	return s.updateUser(ctx, tenant, userID, func(p *store.Profile) { p.Suspension = sus })
}

// ResetMFA implements store.Store.
func (s *Store) ResetMFA(ctx context.Context, tenant, userID string, at time.Time) error {
	at = at.UTC()
	return s.updateUser(ctx, tenant, userID, func(p *store.Profile) { p.MFAResetAt = at })
}

func (s *Store) updateUser(ctx context.Context, tenant, userID string, fn func(*store.Profile)) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return err
	}
	us := s.userShard(tenant, userID)
	us.mu.Lock()
	defer us.mu.Unlock()
	k := userKey{tenant, userID}
	e := us.m[k]
	if e == nil {
		e = &userEntry{p: store.Profile{Tenant: tenant, UserID: userID}}
		us.m[k] = e
	}
	fn(&e.p)
	e.written = s.opts.Now().UnixNano()
	return nil
}

// SetSSOStatus implements store.Store.
func (s *Store) SetSSOStatus(ctx context.Context, tenant string, st store.SSOStatus) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := store.ValidateTenant(tenant); err != nil {
		return err
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	s.ssoMu.Lock()
	defer s.ssoMu.Unlock()
	next := maps.Clone(*s.sso.Load())
	next[tenant] = st
	s.sso.Store(&next)
	return nil
}

// DeleteUser implements store.Store. It holds the user's shard while it
// walks the IP records, so no event of the user slips in between.
func (s *Store) DeleteUser(ctx context.Context, tenant, userID string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return false, err
	}
	us := s.userShard(tenant, userID)
	us.mu.Lock()
	defer us.mu.Unlock()
	k := userKey{tenant, userID}
	_, found := us.m[k]
	delete(us.m, k)
	for i := range s.ips {
		is := &s.ips[i]
		is.mu.Lock()
		for ik, e := range is.m {
			if ik.tenant == tenant && e.r.RemoveUser(userID) {
				found = true
				if e.r.Empty() {
					delete(is.m, ik)
				}
			}
		}
		is.mu.Unlock()
	}
	return found, nil
}

// Users implements store.Store.
func (s *Store) Users(ctx context.Context, tenant string, limit int) ([]string, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	if err := store.ValidateTenant(tenant); err != nil {
		return nil, false, err
	}
	var ids []string
	for i := range s.users {
		us := &s.users[i]
		us.mu.RLock()
		for k := range us.m {
			if k.tenant == tenant {
				ids = append(ids, k.user)
			}
		}
		us.mu.RUnlock()
	}
	ids, more := store.FirstUsers(ids, max(limit, 1))
	return ids, more, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.check(ctx)
}

// Close implements store.Store: it stops the sweeper and drops all state.
// It is safe to call more than once.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		for i := range s.users {
			s.users[i].mu.Lock()
			clear(s.users[i].m)
			s.users[i].mu.Unlock()
			s.ips[i].mu.Lock()
			clear(s.ips[i].m)
			s.ips[i].mu.Unlock()
		}
	})
	return nil
}
