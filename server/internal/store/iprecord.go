package store

import (
	"slices"
	"time"
)

// IPRecord is the failed-login record of one IP address within one tenant.
type IPRecord struct {
	// Failures are the failed logins from the IP, oldest first, at most
	// MaxIPFailures.
	Failures []IPFailure `json:"failures,omitempty"`
	// Users are the distinct users whose logins failed from the IP, with
	// the time of their last failure, at most MaxIPUsers.
	Users []Seen `json:"users,omitempty"`
	// UpdatedAt is the newest failure time applied.
	UpdatedAt time.Time `json:"updated_at"`
}

// IPFailure is one failed login from an IP.
type IPFailure struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// UserID is whose login failed; empty when the report named no user.
	UserID string `json:"user_id,omitempty"`
}

// Apply records a failed login of userID (possibly empty) at t, after
// dropping what is older than the window relative to the newest failure.
// It returns the failures and distinct users within the window ending at t.
func (r *IPRecord) Apply(t time.Time, userID string, s Settings) (failures, users int) {
	s = s.Normalized()
	t = t.UTC()
	if t.After(r.UpdatedAt) {
		r.UpdatedAt = t
	}
	r.Prune(r.UpdatedAt, s)
	i := len(r.Failures)
	for i > 0 && r.Failures[i-1].Time.After(t) {
		i--
	}
	r.Failures = slices.Insert(r.Failures, i, IPFailure{Time: t, UserID: userID})
	if n := len(r.Failures) - MaxIPFailures; n > 0 {
		r.Failures = slices.Delete(r.Failures, 0, n)
	}
	if userID != "" {
		r.Users = touch(r.Users, userID, t, MaxIPUsers)
	}
	since := t.Add(-s.FailureWindow)
	return r.FailuresSince(since), r.UsersSince(since)
}

// Prune drops failures and users older than the window relative to ref.
func (r *IPRecord) Prune(ref time.Time, s Settings) {
	cut := ref.Add(-s.Normalized().FailureWindow)
	n := 0
	for n < len(r.Failures) && r.Failures[n].Time.Before(cut) {
		n++
	}
	r.Failures = slices.Delete(r.Failures, 0, n)
	r.Users = dropBefore(r.Users, cut)
}

// FailuresSince counts the failures at or after since.
func (r *IPRecord) FailuresSince(since time.Time) int {
	lo, hi := 0, len(r.Failures)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.Failures[m].Time.Before(since) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return len(r.Failures) - lo
}

// UsersSince counts the distinct users with a failure at or after since.
func (r *IPRecord) UsersSince(since time.Time) int {
	n := 0
	for i := range r.Users {
		if !r.Users[i].LastSeen.Before(since) {
			n++
		}
	}
	return n
}

// RemoveUser erases the user's failures and reports whether there were any.
func (r *IPRecord) RemoveUser(userID string) bool {
	before := len(r.Failures) + len(r.Users)
	r.Failures = slices.DeleteFunc(r.Failures, func(f IPFailure) bool { return f.UserID == userID })
	r.Users = slices.DeleteFunc(r.Users, func(s Seen) bool { return s.Key == userID })
	return len(r.Failures)+len(r.Users) != before
}

// Empty reports whether the record holds nothing.
func (r *IPRecord) Empty() bool {
	return len(r.Failures) == 0 && len(r.Users) == 0
}
