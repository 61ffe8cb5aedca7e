// Package store defines what the PDP remembers between requests: user
// profiles (known devices, countries, usual hours, last login, sensitive
// actions, suspension), failed-login counters per user and per IP, and SSO
// availability per tenant. One interface, Store, is implemented by every
// backend (memory, embedded bbolt, Redis) with identical semantics, which the
// storetest conformance suite checks.
//
// Semantics every backend shares:
//
//   - Every key is scoped by tenant: nothing written for tenant A is ever
//     visible through tenant B, even for the same user id or IP.
//   - Windows are computed from event and request times, never from the
//     wall clock, so replaying a history in order gives the same answers.
//     "Within d of T" means at or after T−d; entries newer than T count too.
//   - ApplyEvent updates everything one event touches (the user's profile
//     and the IP's failure record) atomically.
//   - Profiles are bounded (MaxDevices, MaxCountries, MaxActions,
//     MaxFailedLogins, one slot per hour of day, one count per day of the
//     lookback) and entries older than the lookback are dropped when the
//     user's next event is applied.
//
// The mutation and counting rules live in this package (Profile.Apply,
// IPRecord.Apply and their readers), so a backend only has to load, apply
// and save atomically.
package store

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Store is the PDP's state. Implementations are safe for concurrent use.
// Errors are *fault.Error values: InvalidArgument for a malformed call,
// NotFound for a missing object where documented, Unavailable when the
// backend cannot be reached or is closed, DeadlineExceeded when the context
// ends first, Internal for anything else.
type Store interface {
	// ApplyEvent records one reported event: the subject's profile and, for
	// failures, the failed-login counters of the user and of the IP. It is
	// atomic per user and IP, and returns the counters as they stand right
	// after the event, computed at the event's time.
	ApplyEvent(ctx context.Context, ev *decision.Event, s Settings) (Outcome, error)
	// Read fills dst with everything the signal enrichment needs for one
	// request, reusing dst's slices. It is read-only.
	Read(ctx context.Context, q Query, dst *View) error
	// GetProfile copies the user's profile into dst, reusing dst's slices,
	// and reports whether the user has one.
	GetProfile(ctx context.Context, tenant, userID string, dst *Profile) (bool, error)
	// SetSuspension records the user's suspension state, creating the
	// profile when the user has none.
	SetSuspension(ctx context.Context, tenant, userID string, s Suspension) error
	// ResetMFA records that an admin reset the user's second factor at at,
	// creating the profile when the user has none.
	ResetMFA(ctx context.Context, tenant, userID string, at time.Time) error
	// SetSSOStatus records whether the tenant's SSO is available.
	SetSSOStatus(ctx context.Context, tenant string, s SSOStatus) error
	// DeleteUser erases everything stored about the user: the profile and
	// the user's entries in every IP failure record. It reports whether
	// anything was stored.
	DeleteUser(ctx context.Context, tenant, userID string) (bool, error)
	// Users lists the ids of the tenant's users that have a profile,
	// sorted, at most limit of them (limit > 0); more reports whether
	// there were others. AuthZEN subject search decides them.
	Users(ctx context.Context, tenant string, limit int) (ids []string, more bool, err error)
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend; every later call fails with ErrClosed.
	// Calling it again does nothing.
	Close() error
}

// The bounds every backend applies.
const (
	// MaxDevices is how many devices a profile keeps; the least recently
	// seen is evicted first.
	MaxDevices = 32
	// MaxCountries is how many countries a profile keeps.
	MaxCountries = 32
	// MaxActions is how many distinct action names a profile keeps.
	MaxActions = 64
	// MaxFailedLogins is how many failed-login times a profile keeps; the
	// user's failure count saturates there.
	MaxFailedLogins = 64
	// MaxIPFailures is how many failures an IP record keeps.
	MaxIPFailures = 256
	// MaxIPUsers is how many distinct failing users an IP record keeps.
	MaxIPUsers = 256
	// MaxLookback bounds Settings.Lookback, and with it the day counts a
	// profile keeps.
	MaxLookback = 400 * 24 * time.Hour
	// MaxFailureWindow bounds Settings.FailureWindow.
	MaxFailureWindow = 7 * 24 * time.Hour
)

// The defaults of Settings.
const (
	// DefaultLookback is how far back the profile signals look.
	DefaultLookback = 90 * 24 * time.Hour
	// DefaultFailureWindow is the failed-login window.
	DefaultFailureWindow = 15 * time.Minute
)

// Settings are the tenant settings the store needs to apply an event.
type Settings struct {
	// Lookback is how long profile entries count; DefaultLookback when
	// zero, clamped to MaxLookback.
	Lookback time.Duration
	// FailureWindow is the failed-login window; DefaultFailureWindow when
	// zero, clamped to MaxFailureWindow.
	FailureWindow time.Duration
}

// Normalized returns s with defaults filled in and bounds applied.
func (s Settings) Normalized() Settings {
	if s.Lookback <= 0 {
		s.Lookback = DefaultLookback
	}
	s.Lookback = min(s.Lookback, MaxLookback)
	if s.FailureWindow <= 0 {
		s.FailureWindow = DefaultFailureWindow
	}
	s.FailureWindow = min(s.FailureWindow, MaxFailureWindow)
	return s
}

// Outcome is what one applied event left behind, for incident response.
type Outcome struct {
	// FirstEvent is true when no event had been recorded for the user
	// before (a new profile, or one holding only admin state).
	FirstEvent bool
	// NewDevice is true when a successful login or MFA came from a device
	// not known within the lookback.
	NewDevice bool
	// NewCountry is true when a successful login came from a country not
	// seen within the lookback.
	NewCountry bool
	// LoginCount is the user's successful logins within the lookback.
	LoginCount int
	// UserFailedLogins is the user's failed logins within the window.
	UserFailedLogins int
	// IPFailedLogins is the failed logins from the event's IP within the
	// window; 0 without an IP.
	IPFailedLogins int
	// IPFailedUsers is the distinct users whose logins failed from the
	// event's IP within the window.
	IPFailedUsers int
	// Suspended is true when the user is suspended.
	Suspended bool
}

// Query names what the enrichment of one request reads.
type Query struct {
	// Tenant scopes every key; required.
	Tenant string
	// UserID selects the profile; empty reads none.
	UserID string
	// IP selects the IP failure record; invalid reads none.
	IP netip.Addr
	// At is the request time the windows end at; required.
	At time.Time
	// FailureWindow is the failed-login window; DefaultFailureWindow when zero.
	FailureWindow time.Duration
}

// View is the state read for one request.
type View struct {
	// HasProfile is true when the user has a profile; Profile is then set.
	HasProfile bool
	// Profile is a copy of the user's profile.
	Profile Profile
	// UserFailedLogins is the user's failed logins within the window.
	UserFailedLogins int
	// IPFailedLogins is the failed logins from the IP within the window.
	IPFailedLogins int
	// IPFailedUsers is the distinct users failing from the IP within the window.
	IPFailedUsers int
	// HasSSO is true when an admin set the tenant's SSO status.
	HasSSO bool
	// SSO is the tenant's SSO status.
	SSO SSOStatus
}

// Reset clears v for reuse, keeping the capacity of its slices.
func (v *View) Reset() {
	v.Profile.Reset()
	v.HasProfile = false
	v.UserFailedLogins, v.IPFailedLogins, v.IPFailedUsers = 0, 0, 0
	v.HasSSO, v.SSO = false, SSOStatus{}
}

// SSOStatus is an admin's statement about a tenant's SSO.
type SSOStatus struct {
	// Available is false while SSO is down.
	Available bool `json:"available"`
	// Reason is why the admin changed it.
	Reason string `json:"reason,omitempty"`
	// UpdatedAt is when.
	UpdatedAt time.Time `json:"updated_at"`
}

// Suspension is a user's suspension state.
type Suspension struct {
	// Suspended is true while the user is suspended.
	Suspended bool `json:"suspended"`
	// Reason is why the state was last changed.
	Reason string `json:"reason,omitempty"`
	// At is when the state was last changed.
	At time.Time `json:"at"`
	// By names who changed it: an admin key, or "incident response".
	By string `json:"by,omitempty"`
}

// LoadProfile returns a copy of the user's profile, or a NotFound fault when
// the user has none. Admin calls use it; the hot path uses Read.
func LoadProfile(ctx context.Context, s Store, tenant, userID string) (*Profile, error) {
	p := new(Profile)
	ok, err := s.GetProfile(ctx, tenant, userID, p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fault.New(fault.NotFound, "no profile for user %q of tenant %q", userID, tenant)
	}
	return p, nil
}

// FirstUsers sorts ids and keeps the first limit of them, reporting
// whether there were more: the common end of every backend's Users.
func FirstUsers(ids []string, limit int) ([]string, bool) {
	slices.Sort(ids)
	if len(ids) > limit {
		return ids[:limit], true
	}
	return ids, false
}
