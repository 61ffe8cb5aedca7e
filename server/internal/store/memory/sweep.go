package memory

import "time"

// Sweep drops what has not been written for the retention periods, as of
// now: profiles after ProfileRetention unless they record a suspension or
// an MFA reset, IP records after IPRetention. It returns how many of each
// it dropped. The sweeper calls it every SweepInterval.
func (s *Store) Sweep(now time.Time) (profiles, ips int) {
	pcut := now.Add(-s.opts.ProfileRetention).UnixNano()
	icut := now.Add(-s.opts.IPRetention).UnixNano()
	for i := range s.users {
		us := &s.users[i]
		us.mu.Lock()
		for k, e := range us.m {
			if e.written < pcut && !e.p.Suspension.Suspended && e.p.MFAResetAt.IsZero() {
				delete(us.m, k)
				profiles++
			}
		}
		us.mu.Unlock()
	}
	for i := range s.ips {
		is := &s.ips[i]
		is.mu.Lock()
		for k, e := range is.m {
			if e.written < icut {
				delete(is.m, k)
				ips++
			}
		}
		is.mu.Unlock()
	}
	return profiles, ips
}

// Len returns the number of profiles and IP records held.
func (s *Store) Len() (profiles, ips int) {
	for i := range s.users {
		s.users[i].mu.RLock()
		profiles += len(s.users[i].m)
		s.users[i].mu.RUnlock()
		s.ips[i].mu.RLock()
		ips += len(s.ips[i].m)
		s.ips[i].mu.RUnlock()
	}
	return profiles, ips
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
			s.Sweep(s.opts.Now())
		}
	}
}
