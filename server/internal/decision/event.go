package decision

import "time"

// EventKind is what an enforcement point observed.
type EventKind int

// The event kinds.
const (
	EventUnspecified EventKind = iota
	EventLoginSucceeded
	EventLoginFailed
	EventMFASucceeded
	EventMFAFailed
	EventLogout
	EventActivity
)

// String names the kind as logs and the audit trail show it.
func (k EventKind) String() string {
	switch k {
	case EventLoginSucceeded:
		return "login_succeeded"
	case EventLoginFailed:
		return "login_failed"
	case EventMFASucceeded:
		return "mfa_succeeded"
	case EventMFAFailed:
		return "mfa_failed"
	case EventLogout:
		return "logout"
	case EventActivity:
		return "activity"
	default:
		return "unspecified"
	}
}

// Event is one validated Report.
type Event struct {
	// Tenant is the workspace; never empty after validation.
	Tenant string
	// Environment is the tenant environment; DefaultEnvironment when not given.
	Environment string
	// Kind is what happened.
	Kind EventKind
	// Subject is who it happened to.
	Subject Subject
	// Authentication is how the subject authenticated.
	Authentication Authentication
	// Network is where it came from.
	Network Network
	// Device is the device used.
	Device Device
	// Action is the action performed.
	Action Action
	// Session is the session the event belongs to.
	Session Session
	// Time is when it happened; the server clock when not given.
	Time time.Time
}
