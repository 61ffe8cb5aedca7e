package decision

import "time"

// Signals are facts the server computes from its own state before
// evaluation. Rego sees them as input.signals; a zero-valued group is left
// out of the input, so that an absent signal means an absent factor.
type Signals struct {
	// IP holds IP-list membership of the request's address.
	IP IPSignals
	// Geo is the location resolved by GeoIP when the request gave none.
	Geo GeoSignals
	// Profile holds what the server remembers about the subject.
	Profile ProfileSignals
	// SSOAvailable is false while an admin has marked the tenant's SSO down.
	// Only meaningful when SSOKnown is true.
	SSOAvailable bool
	// SSOKnown tells whether SSOAvailable is set.
	SSOKnown bool
	// SSODownSince is when an admin last marked SSO down (zero while it is
	// up or unknown): emergency access may end a set time after it.
	SSODownSince time.Time
	// SSF holds the Shared Signals events that apply to the request.
	SSF SSFSignals
}

// SSFSignals are the effects of OpenID Shared Signals events (CAEP, RISC)
// that match the request's user, session or device; empty for a tenant
// without a stream.
type SSFSignals struct {
	// Events are the applied events that still act, oldest first.
	Events []SSFEvent
	// DeviceMarked is true when the server marked the request's device
	// non-compliant for one of them although the enforcement point said it
	// was compliant; not part of the input. Enriching the request again
	// (for a candidate's settings) starts from the reported compliance.
	DeviceMarked bool
}

// SSFEvent is one applied Shared Signals event.
type SSFEvent struct {
	// Event is the event type's last path segment, such as
	// "session-revoked" or "account-disabled".
	Event string
	// Stream names the stream that delivered it.
	Stream string
	// JTI is the token's id. The subject is left out: it names the user
	// (an email), and the request says who the user is anyway; the audit
	// log keeps it.
	JTI string
	// At is when it happened.
	At time.Time
	// Level is the current level of a risk or assurance level change.
	Level string
	// Status is the current status of a device compliance change.
	Status string
	// Reason is the transmitter's reason, for the explanation.
	Reason string
}

// IPSignals is the result of the prefix-table lookups of the client IP.
type IPSignals struct {
	// Checked is true when the lookups ran (the request had an IP).
	Checked bool
	// Denied is true when the IP is on the tenant's or a global deny list.
	Denied bool
	// DeniedBy names the matching deny entry: the CIDR and its source.
	DeniedBy string
	// Allowed is true when the IP is on the tenant's allow list.
	Allowed bool
	// Suspicious is true when the IP is on a list imported as suspicious or
	// failed logins for several users came from it.
	Suspicious bool
	// SuspiciousBy names the evidence for Suspicious.
	SuspiciousBy string
}

// GeoSignals is a GeoIP result.
type GeoSignals struct {
	// Found is true when the database had the address.
	Found bool
	// Country is the ISO 3166-1 alpha-2 code.
	Country string
	// City is the city name, when the database has cities.
	City string
	// HasLocation tells whether Latitude and Longitude are set.
	HasLocation bool
	// Latitude in degrees.
	Latitude float64
	// Longitude in degrees.
	Longitude float64
}

// ProfileSignals summarise the subject's history.
type ProfileSignals struct {
	// Known is true when the server computed the group (it has a store);
	// a user without history then has nothing known and zero counts.
	Known bool
	// Suspended is true when the user is suspended.
	Suspended bool
	// SuspendedReason is why.
	SuspendedReason string
	// MFAResetAt is when an admin reset the user's MFA; zero if never.
	MFAResetAt time.Time
	// DeviceKnown is true when the device appeared in a successful login or
	// MFA of this user within the lookback.
	DeviceKnown bool
	// LoginCount is the number of successful logins within the lookback.
	LoginCount int
	// Countries are the countries of successful logins within the lookback.
	Countries []string
	// HourUsual is true when a login happened within one hour of this
	// request's hour of day within the lookback.
	HourUsual bool
	// ActionSeen is true when the user used this action within the lookback.
	ActionSeen bool
	// Travel describes movement since the last successful login.
	Travel Travel
	// FailedLogins is the user's failed logins within the window.
	FailedLogins int
	// IPFailedUsers is the number of distinct users whose logins failed from
	// the request's IP within the window.
	IPFailedUsers int
	// IPFailedLogins is the number of failed logins from the request's IP
	// within the window.
	IPFailedLogins int
}

// Travel describes movement between the last successful login and now.
type Travel struct {
	// Known is true when both locations are known.
	Known bool
	// DistanceKm is the great-circle distance.
	DistanceKm float64
	// SpeedKmh is the distance over the elapsed time.
	SpeedKmh float64
	// FromCountry is the country of the last login.
	FromCountry string
	// Since is the time of the last login.
	Since time.Time
}
