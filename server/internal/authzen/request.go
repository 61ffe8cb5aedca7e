package authzen

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Limits applied to a request. They bound the work one request can cause;
// the body size is bounded separately (Options.MaxBodyBytes).
const (
	// MaxEvaluations is the most items of one evaluations request.
	MaxEvaluations = 100
	// MaxStringBytes is the longest identifier or text value: the
	// domain's bound, which every door applies.
	MaxStringBytes = decision.MaxStringBytes
	// MaxNameBytes is the longest action name.
	MaxNameBytes = decision.MaxActionBytes
	// MaxListEntries is the most entries of roles, groups and methods.
	MaxListEntries = decision.MaxListEntries
	// MaxDepth is the deepest nesting of properties and context values;
	// the object itself is depth 1.
	MaxDepth = 16
)

// Subject is the AuthZEN Subject: a typed identifier with properties.
type Subject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Resource is the AuthZEN Resource.
type Resource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action is the AuthZEN Action.
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// evaluation is one Access Evaluation request, and an item (or the
// defaults) of an Access Evaluations request. Unknown fields are ignored,
// as the specification requires.
type evaluation struct {
	Subject  *Subject       `json:"subject"`
	Action   *Action        `json:"action"`
	Resource *Resource      `json:"resource"`
	Context  map[string]any `json:"context"`
}

// withDefaults fills what e lacks from the top-level defaults d: each of
// subject, action, resource and context is taken whole from d when e has
// none.
func (e evaluation) withDefaults(d evaluation) evaluation {
	if e.Subject == nil {
		e.Subject = d.Subject
	}
	if e.Action == nil {
		e.Action = d.Action
	}
	if e.Resource == nil {
		e.Resource = d.Resource
	}
	if e.Context == nil {
		e.Context = d.Context
	}
	return e
}

// mapping turns AuthZEN requests into decision requests for one tenant.
type mapping struct {
	tenant string
	now    time.Time
}

// What a request may leave out: the id being searched for.
type optional struct {
	subjectID  bool
	resourceID bool
	action     bool
}

// request validates e and maps it to a decision request. Every problem is
// reported at once as fault.InvalidArgument with field violations named
// by their AuthZEN path ("subject.type", "context.time").
func (m mapping) request(e evaluation, opt optional) (*decision.Request, []string, error) {
	var v fault.Violations
	req := &decision.Request{Tenant: m.tenant, Environment: decision.DefaultEnvironment, Time: m.now}

	if e.Subject == nil {
		v.Add("subject", "required")
	} else {
		s := e.Subject
		req.Subject.Type = required(&v, "subject.type", s.Type, MaxStringBytes)
		if opt.subjectID {
			req.Subject.ID = optionalText(&v, "subject.id", s.ID, MaxStringBytes)
		} else {
			req.Subject.ID = required(&v, "subject.id", s.ID, MaxStringBytes)
		}
		subjectProperties(&v, s.Properties, req)
	}

	if e.Resource == nil {
		v.Add("resource", "required")
	} else {
		r := e.Resource
		req.Resource.Type = required(&v, "resource.type", r.Type, MaxStringBytes)
		if opt.resourceID {
			req.Resource.ID = optionalText(&v, "resource.id", r.ID, MaxStringBytes)
		} else {
			req.Resource.ID = required(&v, "resource.id", r.ID, MaxStringBytes)
		}
		req.Resource.Properties = object(&v, "resource.properties", r.Properties)
	}

	switch {
	case opt.action:
	case e.Action == nil:
		v.Add("action", "required")
	default:
		req.Action.Name = required(&v, "action.name", e.Action.Name, MaxNameBytes)
		req.Action.Properties = object(&v, "action.properties", e.Action.Properties)
	}

	supported := contextValues(&v, e.Context, req)
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	// The domain's own rules (names, addresses, times no later than the
	// request's), named by where the value came from in AuthZEN terms.
	// A search checks its base request with a stand-in for what it
	// searches for; each candidate is checked again as it is decided.
	const standIn = "x"
	if opt.action {
		req.Action.Name = standIn
	}
	if opt.resourceID && req.Resource.ID == "" {
		req.Resource.ID = standIn
	}
	if fields := req.Validate(nil); len(fields) > 0 {
		for i := range fields {
			fields[i].Field = authzenField(fields[i].Field)
		}
		return nil, nil, fault.Invalid(fields...)
	}
	if opt.action {
		req.Action.Name = ""
	}
	if opt.resourceID {
		req.Resource.ID = e.Resource.ID
	}
	return req, supported, nil
}

// authzenField names a field of the decision request by the AuthZEN key
// it came from.
func authzenField(f string) string {
	for _, m := range fieldNames {
		if rest, ok := strings.CutPrefix(f, m[0]); ok {
			return m[1] + rest
		}
	}
	return f
}

// fieldNames map decision request paths (longest first) to AuthZEN keys.
var fieldNames = [][2]string{
	{"subject.email", "subject.properties.email"},
	{"subject.roles", "subject.properties.roles"},
	{"subject.groups", "subject.properties.groups"},
	{"subject.tenant", "subject.properties.tenant"},
	{"subject.created_at", "subject.properties.created_at"},
	{"authentication.provider", "context.provider"},
	{"authentication.methods", "context.methods"},
	{"authentication.acr", "context.acr"},
	{"authentication.authenticated_at", "context.authenticated_at"},
	{"authentication.mfa_verified_at", "context.mfa_verified_at"},
	{"network.", "context."},
	{"device.", "context.device."},
	{"session.", "context.session."},
	{"environment", "context.environment"},
	{"time", "context.time"},
	{"attributes", "context"},
	{"tenant", "tenant"},
}

// subjectProperties maps the properties that have a typed home in the
// decision request and keeps the others as subject properties.
func subjectProperties(v *fault.Violations, props map[string]any, req *decision.Request) {
	if len(props) == 0 {
		return
	}
	rest := map[string]any{}
	for k, val := range props {
		f := "subject.properties." + k
		switch k {
		case "email":
			req.Subject.Email = strings.ToLower(str(v, f, val, MaxStringBytes))
		case "roles":
			req.Subject.Roles = strList(v, f, val)
		case "groups":
			req.Subject.Groups = strList(v, f, val)
		case "mfa_enrolled":
			req.Subject.MFAEnrolled = boolean(v, f, val)
		case "tenant":
			req.Subject.Tenant = str(v, f, val, MaxStringBytes)
		case "created_at":
			req.Subject.CreatedAt = timestamp(v, f, val)
		case "ip_address":
			req.Network.IP = ip(v, f, val)
		case "device_id":
			req.Device.ID = str(v, f, val, MaxStringBytes)
		default:
			rest[k] = val
		}
	}
	req.Subject.Properties = object(v, "subject.properties", rest)
}

// contextValues maps the context keys that have a typed home in the
// decision request (docs/authzen.md lists them) and keeps the others as
// attributes. It returns the obligation types the PEP declared it
// supports, nil when it declared none.
func contextValues(v *fault.Violations, ctx map[string]any, req *decision.Request) (supported []string) {
	attrs := map[string]any{}
	for k, val := range ctx {
		f := "context." + k
		switch k {
		case "environment":
			if s := str(v, f, val, decision.MaxNameBytes); s != "" {
				if !decision.ValidName(s) {
					v.Add(f, "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'")
				} else {
					req.Environment = s
				}
			}
		case "time":
			if t := timestamp(v, f, val); !t.IsZero() {
				req.Time = t
			}
		case "ip":
			req.Network.IP = ip(v, f, val)
		case "country":
			req.Network.Country = strings.ToUpper(str(v, f, val, 2))
		case "region":
			req.Network.Region = str(v, f, val, MaxStringBytes)
		case "city":
			req.Network.City = str(v, f, val, MaxStringBytes)
		case "asn":
			if n := number(v, f, val, 0, 1<<32-1); n != 0 {
				req.Network.ASN = uint32(n)
			}
		case "latitude":
			req.Network.Latitude, req.Network.HasLocation = number(v, f, val, -90, 90), true
		case "longitude":
			req.Network.Longitude, req.Network.HasLocation = number(v, f, val, -180, 180), true
		case "provider":
			req.Authentication.Provider = str(v, f, val, MaxStringBytes)
		case "methods", "amr":
			req.Authentication.Methods = strList(v, f, val)
		case "acr":
			req.Authentication.ACR = str(v, f, val, MaxStringBytes)
		case "authenticated_at":
			req.Authentication.AuthenticatedAt = timestamp(v, f, val)
		case "mfa_verified_at":
			req.Authentication.MFAVerifiedAt = timestamp(v, f, val)
		case "device":
			device(v, f, val, &req.Device)
		case "session":
			session(v, f, val, &req.Session)
		case "explain":
			req.Explain = boolean(v, f, val)
		case "obligations_supported":
			supported = strList(v, f, val)
			if supported == nil {
				supported = []string{}
			}
		default:
			attrs[k] = val
		}
	}
	if req.Network.HasLocation && (ctx["latitude"] == nil || ctx["longitude"] == nil) {
		v.Add("context.latitude", "latitude and longitude go together")
		req.Network.HasLocation = false
	}
	req.Attributes = object(v, "context", attrs)
	return supported
}

func device(v *fault.Violations, field string, val any, d *decision.Device) {
	m, ok := val.(map[string]any)
	if !ok {
		v.Add(field, "must be an object")
		return
	}
	for k, x := range m {
		f := field + "." + k
		switch k {
		case "id":
			d.ID = str(v, f, x, MaxStringBytes)
		case "platform":
			d.Platform = str(v, f, x, MaxStringBytes)
		case "managed":
			d.Managed = boolean(v, f, x)
		case "compliant":
			d.Compliant = boolean(v, f, x)
		}
	}
}

func session(v *fault.Violations, field string, val any, s *decision.Session) {
	m, ok := val.(map[string]any)
	if !ok {
		v.Add(field, "must be an object")
		return
	}
	for k, x := range m {
		f := field + "." + k
		switch k {
		case "id":
			s.ID = str(v, f, x, MaxStringBytes)
		case "started_at":
			s.StartedAt = timestamp(v, f, x)
		case "last_activity_at":
			s.LastActivityAt = timestamp(v, f, x)
		}
	}
}

// required validates a required string: present, not empty, text.
func required(v *fault.Violations, field, s string, maxLen int) string {
	if s == "" {
		v.Add(field, "required")
		return ""
	}
	return optionalText(v, field, s, maxLen)
}

// optionalText validates a string that may be empty: at most maxLen
// bytes, valid UTF-8, no control characters (they would corrupt logs).
func optionalText(v *fault.Violations, field, s string, maxLen int) string {
	switch {
	case len(s) > maxLen:
		v.Add(field, "longer than %d bytes", maxLen)
	case !utf8.ValidString(s):
		v.Add(field, "not valid UTF-8")
	case strings.IndexFunc(s, isControl) >= 0:
		v.Add(field, "contains control characters")
	default:
		return s
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 }

func str(v *fault.Violations, field string, val any, maxLen int) string {
	s, ok := val.(string)
	if !ok {
		v.Add(field, "must be a string")
		return ""
	}
	return optionalText(v, field, s, maxLen)
}

func boolean(v *fault.Violations, field string, val any) bool {
	b, ok := val.(bool)
	if !ok {
		v.Add(field, "must be a boolean")
	}
	return b
}

func number(v *fault.Violations, field string, val any, lo, hi float64) float64 {
	n, ok := val.(float64)
	switch {
	case !ok:
		v.Add(field, "must be a number")
	case n < lo || n > hi:
		v.Add(field, "must be between %g and %g", lo, hi)
	default:
		return n
	}
	return 0
}

func strList(v *fault.Violations, field string, val any) []string {
	a, ok := val.([]any)
	if !ok {
		v.Add(field, "must be an array of strings")
		return nil
	}
	if len(a) > MaxListEntries {
		v.Add(field, "more than %d entries", MaxListEntries)
		return nil
	}
	var out []string
	for i, x := range a {
		f := field + "[" + strconv.Itoa(i) + "]"
		if s := str(v, f, x, MaxStringBytes); s != "" {
			out = append(out, s)
		} else if x == "" {
			v.Add(f, "must not be empty")
		}
	}
	return out
}

// Timestamps outside [minTime, maxTime] are refused as absurd.
var (
	minTime = time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

// timeLayouts are RFC 3339 and the same without seconds, which the
// specification's own examples use ("1985-10-26T01:22-07:00").
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"}

func timestamp(v *fault.Violations, field string, val any) time.Time {
	s, ok := val.(string)
	if !ok {
		v.Add(field, "must be an RFC 3339 timestamp string")
		return time.Time{}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Before(minTime) || t.After(maxTime) {
				v.Add(field, "must be between 1970 and 9999")
				return time.Time{}
			}
			return t
		}
	}
	v.Add(field, "must be an RFC 3339 timestamp such as 2026-12-02T10:00:00Z")
	return time.Time{}
}

func ip(v *fault.Violations, field string, val any) netip.Addr {
	s, ok := val.(string)
	if !ok {
		v.Add(field, "must be an IP address string")
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		v.Add(field, "must be an IPv4 or IPv6 address without zone")
		return netip.Addr{}
	}
	return a.Unmap()
}

// object validates free-form properties: JSON-like values nested at most
// MaxDepth deep. Empty is nil.
func object(v *fault.Violations, field string, m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	if depth(m) > MaxDepth {
		v.Add(field, "nested deeper than %d levels", MaxDepth)
		return nil
	}
	return m
}

// depth is the nesting depth of a JSON value; a scalar is 0.
func depth(x any) int {
	d := 0
	switch t := x.(type) {
	case map[string]any:
		for _, e := range t {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range t {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}
