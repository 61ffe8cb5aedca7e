package store

import (
	"net/netip"
	"time"
)

// Profile is what the PDP remembers about one user of one tenant. Times are
// UTC. Slices are bounded by the Max* constants; see Apply for how each
// field is maintained.
type Profile struct {
	// Tenant is the user's tenant.
	Tenant string `json:"tenant"`
	// UserID is the user's id.
	UserID string `json:"user_id"`
	// Devices are device ids of successful logins and MFAs.
	Devices []Seen `json:"devices,omitempty"`
	// Countries are countries of successful logins.
	Countries []Seen `json:"countries,omitempty"`
	// Actions are action names the user was reported using.
	Actions []Seen `json:"actions,omitempty"`
	// Hours holds, per UTC hour of day, the successful logins in that hour.
	Hours [24]HourSlot `json:"hours"`
	// LoginDays counts successful logins per UTC day within the lookback,
	// oldest first.
	LoginDays []DayCount `json:"login_days,omitempty"`
	// LoginCount is the number of successful logins ever recorded.
	LoginCount int64 `json:"login_count"`
	// LastLogin is the most recent successful login; its Time is zero when
	// there was none.
	LastLogin Login `json:"last_login"`
	// LastActivity is the time of the newest successful login, MFA, logout
	// or activity.
	LastActivity time.Time `json:"last_activity"`
	// FailedLogins are the times of failed logins and MFAs within the
	// failure window, oldest first.
	FailedLogins []time.Time `json:"failed_logins,omitempty"`
	// Suspension is the user's suspension state.
	Suspension Suspension `json:"suspension"`
	// MFAResetAt is when an admin last reset the user's MFA; zero if never.
	MFAResetAt time.Time `json:"mfa_reset_at"`
	// UpdatedAt is the newest event time applied.
	UpdatedAt time.Time `json:"updated_at"`
}

// Seen records one device, country or action of a profile.
type Seen struct {
	// Key is the device id, country code or action name.
	Key string `json:"key"`
	// FirstSeen is the oldest time it was seen within the lookback.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is the newest time it was seen.
	LastSeen time.Time `json:"last_seen"`
	// Count is how often it was seen since it entered the profile.
	Count int64 `json:"count"`
}

// HourSlot is one hour of day of the login histogram.
type HourSlot struct {
	// Count is the successful logins in this hour since LastSeen entered
	// the lookback.
	Count int64 `json:"count"`
	// LastSeen is the newest successful login in this hour; zero if none.
	LastSeen time.Time `json:"last_seen"`
}

// DayCount is the number of successful logins on one UTC day.
type DayCount struct {
	// Day is the day number since 1970-01-01 UTC.
	Day int64 `json:"day"`
	// Count is the logins on that day.
	Count int64 `json:"count"`
}

// Login is where and when a successful login happened.
type Login struct {
	// Time is when; zero when unknown.
	Time time.Time `json:"time"`
	// IP is the client address; invalid when not reported.
	IP netip.Addr `json:"ip"`
	// Country is the ISO 3166-1 alpha-2 code; empty when unknown.
	Country string `json:"country,omitempty"`
	// City is the city name; empty when unknown.
	City string `json:"city,omitempty"`
	// HasLocation tells whether Latitude and Longitude are set.
	HasLocation bool `json:"has_location"`
	// Latitude in degrees.
	Latitude float64 `json:"latitude"`
	// Longitude in degrees.
	Longitude float64 `json:"longitude"`
	// DeviceID is the device used.
	DeviceID string `json:"device_id,omitempty"`
}

// DayOf returns t's day number since 1970-01-01 UTC.
func DayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// DeviceSeen reports whether the device was seen at or after since.
func (p *Profile) DeviceSeen(id string, since time.Time) bool {
	return seenSince(p.Devices, id, since)
}

// CountrySeen reports whether the country was seen at or after since.
func (p *Profile) CountrySeen(code string, since time.Time) bool {
	return seenSince(p.Countries, code, since)
}

// ActionSeen reports whether the action was used at or after since.
func (p *Profile) ActionSeen(name string, since time.Time) bool {
	return seenSince(p.Actions, name, since)
}

// HourSeen reports whether a successful login happened in UTC hour of day
// h (taken modulo 24) at or after since.
func (p *Profile) HourSeen(h int, since time.Time) bool {
	h %= 24
	if h < 0 {
		h += 24
	}
	s := p.Hours[h]
	return !s.LastSeen.IsZero() && !s.LastSeen.Before(since)
}

// AppendCountries appends the countries seen at or after since to dst.
func (p *Profile) AppendCountries(dst []string, since time.Time) []string {
	for i := range p.Countries {
		if !p.Countries[i].LastSeen.Before(since) {
			dst = append(dst, p.Countries[i].Key)
		}
	}
	return dst
}

// LoginsSince counts the successful logins on the UTC days from since's
// day onwards.
func (p *Profile) LoginsSince(since time.Time) int {
	first := DayOf(since)
	n := int64(0)
	for _, d := range p.LoginDays {
		if d.Day >= first {
			n += d.Count
		}
	}
	return int(n)
}

// FailedLoginsSince counts the failed logins at or after since.
func (p *Profile) FailedLoginsSince(since time.Time) int {
	return countSince(p.FailedLogins, since)
}

// CopyTo copies p into dst, reusing dst's slices.
func (p *Profile) CopyTo(dst *Profile) {
	devices, countries, actions := dst.Devices[:0], dst.Countries[:0], dst.Actions[:0]
	days, failed := dst.LoginDays[:0], dst.FailedLogins[:0]
	*dst = *p
	dst.Devices = append(devices, p.Devices...)
	dst.Countries = append(countries, p.Countries...)
	dst.Actions = append(actions, p.Actions...)
	dst.LoginDays = append(days, p.LoginDays...)
	dst.FailedLogins = append(failed, p.FailedLogins...)
}

// Clone returns a deep copy of p.
func (p *Profile) Clone() *Profile {
	c := new(Profile)
	p.CopyTo(c)
	return c
}

// Reset clears p for reuse, keeping the capacity of its slices.
func (p *Profile) Reset() {
	*p = Profile{
		Devices:      p.Devices[:0],
		Countries:    p.Countries[:0],
		Actions:      p.Actions[:0],
		LoginDays:    p.LoginDays[:0],
		FailedLogins: p.FailedLogins[:0],
	}
}

func seenSince(list []Seen, key string, since time.Time) bool {
	if key == "" {
		return false
	}
	for i := range list {
		if list[i].Key == key {
			return !list[i].LastSeen.Before(since)
		}
	}
	return false
}

// countSince counts the times of an ascending list at or after since.
func countSince(times []time.Time, since time.Time) int {
	lo, hi := 0, len(times)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if times[m].Before(since) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return len(times) - lo
}
