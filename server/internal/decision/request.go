package decision

import (
	"net/netip"
	"time"
)

// DefaultEnvironment is the environment of a request that names none.
const DefaultEnvironment = "production"

// Request is one validated request's context. Zero values mean "not given":
// a zero time is absent, an invalid netip.Addr is no IP.
type Request struct {
	// Tenant is the workspace the request is for; never empty after validation.
	Tenant string
	// Environment is the tenant environment; DefaultEnvironment when not given.
	Environment string
	// Subject is the user behind the request.
	Subject Subject
	// Authentication describes how the subject authenticated.
	Authentication Authentication
	// Network describes where the request came from.
	Network Network
	// Device describes the device the request came from.
	Device Device
	// Action is what the subject wants to do; Action.Name is never empty.
	Action Action
	// Resource is what the action is on, as AuthZEN names it (a type and
	// an id); zero when the request names none.
	Resource Resource
	// Session describes the subject's session.
	Session Session
	// Time is when the request happened; the server clock when not given.
	Time time.Time
	// Attributes are free-form values passed to Rego as input.attributes.
	// Values are JSON-like: nil, bool, float64, string, []any, map[string]any.
	Attributes map[string]any
	// Explain asks for every rule that fired and every condition that failed.
	Explain bool
	// Signals are what the server computed from its own state before
	// evaluation; Rego sees them as input.signals.
	Signals Signals
	// Caller identifies the authenticated caller (API key name or
	// certificate identity); Rego sees it as input.caller.
	Caller Caller
}

// Subject is the user behind a request.
type Subject struct {
	// ID is the stable user identifier.
	ID string
	// Email is the user's address, lowercased.
	Email string
	// Roles are the roles granted to the user.
	Roles []string
	// Groups are the groups the user belongs to.
	Groups []string
	// MFAEnrolled tells whether the user has a second factor.
	MFAEnrolled bool
	// CreatedAt is when the account was created.
	CreatedAt time.Time
	// Tenant is the workspace the subject belongs to, when known.
	Tenant string
	// Type is the kind of subject ("user", "service"), when the caller
	// names one (AuthZEN requires it).
	Type string
	// Properties are the caller's other attributes of the subject,
	// JSON-like as Request.Attributes; Rego sees them as
	// input.subject.properties.
	Properties map[string]any
}

// Authentication describes how the subject authenticated.
type Authentication struct {
	// Provider is the identity provider, such as "google" or "saml:okta".
	Provider string
	// Methods are amr values such as "pwd", "otp", "webauthn".
	Methods []string
	// AuthenticatedAt is when the subject last authenticated.
	AuthenticatedAt time.Time
	// MFAVerifiedAt is when the subject last completed a second factor.
	MFAVerifiedAt time.Time
	// ACR is the authentication context class reference.
	ACR string
}

// Network describes where a request came from.
type Network struct {
	// IP is the client address, IPv4-mapped IPv6 unmapped; invalid when not given.
	IP netip.Addr
	// Country is the ISO 3166-1 alpha-2 code, uppercased.
	Country string
	// Region is the region or subdivision.
	Region string
	// City is the city name.
	City string
	// HasLocation tells whether Latitude and Longitude are set.
	HasLocation bool
	// Latitude in degrees.
	Latitude float64
	// Longitude in degrees.
	Longitude float64
	// ASN is the autonomous system number; 0 when unknown.
	ASN uint32
}

// Device describes the device a request came from.
type Device struct {
	// ID is the stable device identifier.
	ID string
	// Platform is the device platform.
	Platform string
	// Managed tells whether the organisation manages the device.
	Managed bool
	// Compliant tells whether the device passes compliance checks.
	Compliant bool
}

// Action is what the subject wants to do.
type Action struct {
	// Name is the action, such as "api.read" or "admin.users.delete".
	Name string
	// Resource is the resource acted upon.
	Resource string
	// Properties are the caller's attributes of the action, JSON-like as
	// Request.Attributes; Rego sees them as input.action.properties.
	Properties map[string]any
}

// Resource is the target of a request: a typed identifier with
// attributes, as the AuthZEN Authorization API names it.
type Resource struct {
	// Type is the kind of resource, such as "document".
	Type string
	// ID identifies the resource within its type.
	ID string
	// Properties are the caller's attributes of the resource, JSON-like as
	// Request.Attributes.
	Properties map[string]any
}

// Session describes the subject's session.
type Session struct {
	// ID is the session identifier.
	ID string
	// StartedAt is when the session started.
	StartedAt time.Time
	// LastActivityAt is when the subject was last active.
	LastActivityAt time.Time
}

// Caller identifies who sent the request to the PDP.
type Caller struct {
	// Name is the API key name or the certificate identity; empty when
	// the server runs without authentication.
	Name string
	// Role is the caller's role: "admin", "tenant-admin" or "pep".
	Role string
	// SPIFFEID is the caller certificate's SPIFFE URI, when it has one.
	SPIFFEID string
}
