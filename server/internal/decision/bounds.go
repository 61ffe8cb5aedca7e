package decision

import (
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// The wire bounds of a request: a required tenant, the longest strings,
// the most list entries and the coordinate ranges. They bound the work
// one request can cause. The proto's buf.validate rules (proto/pdp/v1)
// declare the same bounds for the API's doors; package pdpsvc tests that
// the two agree, value, wording and order.
const (
	// MaxStringBytes is the longest free-form string field, in bytes.
	MaxStringBytes = 1024
	// MaxListEntries is the most entries in subject.roles, subject.groups
	// and authentication.methods.
	MaxListEntries = 256
	// MaxEmailBytes is the longest email address (RFC 5321 path limit).
	MaxEmailBytes = 254
	// MaxActionBytes is the longest action name.
	MaxActionBytes = 256
	// MaxLatitude bounds a latitude to [-MaxLatitude, MaxLatitude] degrees.
	MaxLatitude = 90
	// MaxLongitude bounds a longitude to [-MaxLongitude, MaxLongitude]
	// degrees.
	MaxLongitude = 180
)

// Bounds returns the violations of the wire bounds by r, as a door
// without a wire contract (a gateway) must check them before Validate:
// in field order and worded as package contract words the proto's rules,
// so that a request refused here reads as one the API refused.
func (r *Request) Bounds() []fault.FieldViolation {
	var b bounds
	if r.Tenant == "" {
		b.Add("tenant", "required")
	}
	b.bytes("tenant", r.Tenant, MaxNameBytes)
	b.bytes("environment", r.Environment, MaxNameBytes)
	s := &r.Subject
	b.bytes("subject.id", s.ID, MaxStringBytes)
	b.bytes("subject.email", s.Email, MaxEmailBytes)
	b.entries("subject.roles", s.Roles)
	b.entries("subject.groups", s.Groups)
	b.bytes("subject.tenant", s.Tenant, MaxNameBytes)
	a := &r.Authentication
	b.bytes("authentication.provider", a.Provider, MaxStringBytes)
	b.entries("authentication.methods", a.Methods)
	b.bytes("authentication.acr", a.ACR, MaxStringBytes)
	n := &r.Network
	b.bytes("network.region", n.Region, MaxStringBytes)
	b.bytes("network.city", n.City, MaxStringBytes)
	if n.HasLocation {
		b.within("network.latitude", n.Latitude, MaxLatitude)
		b.within("network.longitude", n.Longitude, MaxLongitude)
	}
	b.bytes("device.id", r.Device.ID, MaxStringBytes)
	b.bytes("device.platform", r.Device.Platform, MaxStringBytes)
	b.bytes("action.name", r.Action.Name, MaxActionBytes)
	b.bytes("action.resource", r.Action.Resource, MaxStringBytes)
	b.bytes("session.id", r.Session.ID, MaxStringBytes)
	b.bytes("resource.type", r.Resource.Type, MaxStringBytes)
	b.bytes("resource.id", r.Resource.ID, MaxStringBytes)
	return b.List()
}

// bounds collects the violations of Bounds.
type bounds struct{ fault.Violations }

func (b *bounds) bytes(field, s string, limit int) {
	if len(s) > limit {
		b.Add(field, "longer than %d bytes", limit)
	}
}

func (b *bounds) entries(field string, l []string) {
	if len(l) > MaxListEntries {
		b.Add(field, "more than %d entries", MaxListEntries)
	}
}

// within refuses x outside [-limit, limit], NaN included.
func (b *bounds) within(field string, x, limit float64) {
	if !(x >= -limit && x <= limit) {
		b.Add(field, "must be between %g and %g", -limit, limit)
	}
}
