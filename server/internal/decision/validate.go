package decision

import (
	"maps"
	"math"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Limits of the domain's own checks. The wire bounds (lengths, list
// sizes, coordinate ranges, required fields) are Request.Bounds, which
// the proto's buf.validate rules declare for the API's doors.
const (
	// MaxAttributesDepth is the deepest nesting of attributes; the top-level
	// object is depth 1.
	MaxAttributesDepth = 16
	// MaxNameBytes is the longest tenant or environment name.
	MaxNameBytes = 63
	// MaxEntryBytes is the longest entry of subject.roles, subject.groups
	// and authentication.methods.
	MaxEntryBytes = 1024
)

// MaxClockSkew is how far past the request's time a proof of
// authentication or session activity may lie, and how far past the
// server's clock a reported event's time may lie. Anything later is
// refused: an MFA "verified" in the future would otherwise stay fresh
// forever, and a future event would rewrite the user's state.
const MaxClockSkew = 5 * time.Minute

// Descriptions of values a door could not convert, shared so that every
// door words them alike.
const (
	// NotAnIP describes an address that does not parse.
	NotAnIP = "not an IPv4 or IPv6 address"
	// NotATimestamp describes a wire timestamp out of its own range.
	NotATimestamp = "not a valid timestamp"
	// OutOfRangeTime describes a time before 1970 or after 9999.
	OutOfRangeTime = "must be between year 1970 and 9999"
)

// ValidName reports whether s is a tenant or environment name: 1 to
// MaxNameBytes lowercase letters, digits, '-' and '_', starting with a
// letter or digit. It is the one rule for names: request validation, the
// tenant settings and every RPC naming a tenant apply it.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameBytes || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Problems are what a door found while converting its wire shape to a
// Request or an Event: values with no domain form, such as an address that
// does not parse. Validate reports each at its field's place among the
// others, in the order the door added them, and skips that field's own
// checks.
type Problems []fault.FieldViolation

// Add records a problem of field.
func (p *Problems) Add(field, format string, args ...any) {
	var v fault.Violations
	v.Add(field, format, args...)
	*p = append(*p, v.List()...)
}

// ParseIP parses a client address, recording a problem of field when it
// does not parse; the empty string is no address. Validate refuses zones
// and unmaps IPv4-mapped IPv6 addresses.
func ParseIP(p *Problems, field, s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.Add(field, NotAnIP)
		return netip.Addr{}
	}
	return a
}

// Validate checks what the wire contract cannot say of r (names and
// action syntax, text without control characters, email, IP, country,
// times and their order, attributes) and normalises r in place: the
// default environment, lowercase email, uppercase country, unmapped IP,
// copied lists. It returns the violations, in field order, with proto
// field paths ("network.ip", "subject.roles[2]"); problems are reported
// in their fields' places. An invalid field is left zero.
func (r *Request) Validate(problems Problems) []fault.FieldViolation {
	v := validator{problems: problems}
	r.Tenant = v.identifier("tenant", r.Tenant, false, nameSyntax)
	r.Environment = v.environment("environment", r.Environment)
	v.subject(&r.Subject, false)
	v.authentication(&r.Authentication)
	v.network(&r.Network)
	v.device(&r.Device)
	v.action(&r.Action, true)
	v.resource(&r.Resource)
	v.session(&r.Session)
	r.Time = v.time("time", r.Time)
	r.Attributes = v.attributes("attributes", r.Attributes)
	r.Subject.Properties = v.attributes("subject.properties", r.Subject.Properties)
	r.Action.Properties = v.attributes("action.properties", r.Action.Properties)
	v.notAfter(r.Time, [...]timedField{
		{"authentication.authenticated_at", r.Authentication.AuthenticatedAt},
		{"authentication.mfa_verified_at", r.Authentication.MFAVerifiedAt},
		{"session.last_activity_at", r.Session.LastActivityAt},
		{"session.started_at", r.Session.StartedAt},
	})
	return v.List()
}

// Validate checks e as Request.Validate checks a request, except that
// subject.id is required and action.name is not, and refuses a time more
// than MaxClockSkew past now, the server's clock.
func (e *Event) Validate(now time.Time, problems Problems) []fault.FieldViolation {
	v := validator{problems: problems}
	e.Tenant = v.identifier("tenant", e.Tenant, false, nameSyntax)
	v.subject(&e.Subject, true)
	v.authentication(&e.Authentication)
	v.network(&e.Network)
	v.device(&e.Device)
	v.action(&e.Action, false)
	e.Time = v.time("time", e.Time)
	e.Environment = v.environment("environment", e.Environment)
	v.session(&e.Session)
	if limit := now.Add(MaxClockSkew); e.Time.After(limit) {
		// The store keeps only what is newer than the newest event it has
		// seen, so one event dated in the future would drop a user's
		// history and pin the last login ahead of every real one.
		v.Add("time", "is ahead of the server's clock (%s); at most %s of clock skew is accepted",
			now.UTC().Format(time.RFC3339), MaxClockSkew)
	}
	return v.List()
}

// validator collects violations, reporting a door's problems in place.
type validator struct {
	fault.Violations
	problems Problems
	done     []bool // which problems were reported
}

// reported adds the problems of fields, if any (once), and says whether
// there were.
func (v *validator) reported(fields ...string) bool {
	found := false
	for i, p := range v.problems {
		if !slices.Contains(fields, p.Field) {
			continue
		}
		if v.done == nil {
			v.done = make([]bool, len(v.problems))
		}
		if !v.done[i] {
			v.Add(p.Field, "%s", p.Description)
			v.done[i] = true
		}
		found = true
	}
	return found
}

// isActionRune accepts the characters of action names such as "api.read",
// "http.get", "db.direct_query", "saml:acs" or "admin.*".
func isActionRune(r rune) bool {
	return isAlnum(r) || r == '.' || r == '_' || r == '-' || r == ':' || r == '/' || r == '*'
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// charset is the syntax of one kind of identifier and the rule that
// violations quote; the identifier's length is a rule of the contract.
type charset struct {
	valid func(string) bool // of a non-empty string
	rule  string
}

var (
	// nameSyntax is the tenant settings' own rule for tenant and
	// environment names, so the decision API and the admin API refuse
	// the same names.
	nameSyntax = charset{
		valid: ValidName,
		rule:  "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'",
	}
	actionSyntax = charset{
		valid: func(s string) bool {
			r := rune(s[0])
			return (isAlnum(r) || r == '*') && strings.IndexFunc(s, func(r rune) bool { return !isActionRune(r) }) < 0
		},
		rule: "must start with a letter, a digit or '*' and contain only letters, digits, '.', '_', '-', ':', '/' and '*'",
	}
)

// identifier validates an optional or required identifier against syntax;
// it returns "" when s is empty or invalid. required is for an identifier
// the contract cannot require (action.name is required in a check, not in
// a report).
func (v *validator) identifier(field, s string, required bool, syntax charset) string {
	switch {
	case v.reported(field):
	case s == "":
		if required {
			v.Add(field, "required")
		}
	case !syntax.valid(s):
		v.Add(field, "%s", syntax.rule)
	default:
		return s
	}
	return ""
}

// environment validates an environment name; empty means the default.
func (v *validator) environment(field, s string) string {
	if s == "" && !v.reported(field) {
		return DefaultEnvironment
	}
	return v.identifier(field, s, false, nameSyntax)
}

// text validates a free-form string: valid UTF-8, no control characters
// (they have no place in identifiers or places and would corrupt logs).
// Its length is a rule of the contract.
func (v *validator) text(field, s string) string {
	switch {
	case v.reported(field):
	case plainText(s):
		return s
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

// plainText reports whether text accepts s as it is.
func plainText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, isControl) < 0
}

// list validates the entries of a repeated string field: each a non-empty
// text of at most MaxEntryBytes. The result is a copy, nil when empty. The
// number of entries is a rule of the contract; the entries are checked
// here, as protovalidate evaluates the rules of repeated items in CEL, at
// several allocations an entry.
func (v *validator) list(field string, in []string) []string {
	if v.reported(field) || len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for i, s := range in {
		// The common entry has nothing to report: its name ("roles[2]")
		// is built only when there may be.
		if len(v.problems) == 0 && s != "" && len(s) <= MaxEntryBytes && plainText(s) {
			out = append(out, s)
			continue
		}
		f := field + "[" + strconv.Itoa(i) + "]"
		switch {
		case s == "":
			v.Add(f, "must not be empty")
		case len(s) > MaxEntryBytes:
			v.Add(f, "longer than %d bytes", MaxEntryBytes)
		default:
			out = append(out, v.text(f, s))
		}
	}
	return out
}

// Timestamps outside [minTime, maxTime] are refused as absurd.
var (
	minTime = time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

// time validates an optional time; the zero time is absent.
func (v *validator) time(field string, t time.Time) time.Time {
	switch {
	case v.reported(field), t.IsZero():
		return time.Time{}
	case t.Before(minTime) || t.After(maxTime):
		v.Add(field, OutOfRangeTime)
		return time.Time{}
	}
	return t
}

// email validates a single plain address ("user@example.com", no display
// name, no list) and lowercases it. Its length is a rule of the contract.
func (v *validator) email(field, s string) string {
	if v.reported(field) || s == "" {
		return ""
	}
	if plainAddress(s) {
		return strings.ToLower(s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.Count(s, "@") != 1 {
		v.Add(field, "must be a single plain email address such as user@example.com")
		return ""
	}
	return strings.ToLower(s)
}

// plainAddress reports whether s is a local part and a domain, each a
// dot-atom of ASCII atext (RFC 5322, as net/mail reads it: no leading,
// trailing or double dot), joined by one '@'. net/mail parses every such
// address to itself with no name, so email accepts it without the parse
// and its allocations; any other string takes the parse.
func plainAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && dotAtom(local) && dotAtom(domain)
}

// dotAtom reports whether s is one or more runs of ASCII atext separated
// by single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ip refuses zones and unmaps IPv4-mapped IPv6 addresses, so that list
// lookups see one form.
func (v *validator) ip(field string, a netip.Addr) netip.Addr {
	switch {
	case v.reported(field), !a.IsValid():
		return netip.Addr{}
	case a.Zone() != "":
		v.Add(field, "must not have a zone")
		return netip.Addr{}
	}
	return a.Unmap()
}

// country validates an ISO 3166-1 alpha-2 code and uppercases it.
func (v *validator) country(field, s string) string {
	if v.reported(field) || s == "" {
		return ""
	}
	if len(s) != 2 || !isLetter(s[0]) || !isLetter(s[1]) {
		v.Add(field, "must be an ISO 3166-1 alpha-2 code such as US")
		return ""
	}
	return strings.ToUpper(s)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (v *validator) subject(s *Subject, idRequired bool) {
	if s.ID == "" && idRequired && !v.reported("subject.id") {
		v.Add("subject.id", "required")
	}
	s.ID = v.text("subject.id", s.ID)
	s.Email = v.email("subject.email", s.Email)
	s.Roles = v.list("subject.roles", s.Roles)
	s.Groups = v.list("subject.groups", s.Groups)
	s.CreatedAt = v.time("subject.created_at", s.CreatedAt)
	s.Tenant = v.identifier("subject.tenant", s.Tenant, false, nameSyntax)
}

func (v *validator) authentication(a *Authentication) {
	a.Provider = v.text("authentication.provider", a.Provider)
	a.Methods = v.list("authentication.methods", a.Methods)
	a.AuthenticatedAt = v.time("authentication.authenticated_at", a.AuthenticatedAt)
	a.MFAVerifiedAt = v.time("authentication.mfa_verified_at", a.MFAVerifiedAt)
	a.ACR = v.text("authentication.acr", a.ACR)
}

func (v *validator) network(n *Network) {
	n.IP = v.ip("network.ip", n.IP)
	n.Country = v.country("network.country", n.Country)
	n.Region = v.text("network.region", n.Region)
	n.City = v.text("network.city", n.City)
	// A location is both coordinates (the contract bounds each): a door
	// that got only one says so in its problems.
	if v.reported("network.latitude", "network.longitude") || !n.HasLocation {
		n.HasLocation, n.Latitude, n.Longitude = false, 0, 0
	}
}

func (v *validator) device(d *Device) {
	d.ID = v.text("device.id", d.ID)
	d.Platform = v.text("device.platform", d.Platform)
}

func (v *validator) action(a *Action, required bool) {
	a.Name = v.identifier("action.name", a.Name, required, actionSyntax)
	a.Resource = v.text("action.resource", a.Resource)
}

// resource validates a typed resource: none at all, or a type and an id,
// both texts, with attributes-like properties.
func (v *validator) resource(r *Resource) {
	given := r.Type != "" || r.ID != "" || r.Properties != nil
	if given && r.Type == "" && !v.reported("resource.type") {
		v.Add("resource.type", "required when a resource is given")
	}
	if given && r.ID == "" && !v.reported("resource.id") {
		v.Add("resource.id", "required when a resource is given")
	}
	r.Type = v.text("resource.type", r.Type)
	r.ID = v.text("resource.id", r.ID)
	r.Properties = v.attributes("resource.properties", r.Properties)
}

func (v *validator) session(s *Session) {
	s.ID = v.text("session.id", s.ID)
	s.StartedAt = v.time("session.started_at", s.StartedAt)
	s.LastActivityAt = v.time("session.last_activity_at", s.LastActivityAt)
}

// aYear is the gap past which notAfter names times instead of a duration.
const aYear = 366 * 24 * time.Hour

// timedField is a time of the request and its field's name.
type timedField struct {
	field string
	t     time.Time
}

// notAfter refuses timestamps more than MaxClockSkew after the request
// time, in the order given (the fields' names sorted).
func (v *validator) notAfter(at time.Time, fields [4]timedField) {
	if at.IsZero() {
		return
	}
	limit := at.Add(MaxClockSkew)
	for _, f := range fields {
		field, t := f.field, f.t
		switch {
		case t.IsZero() || !t.After(limit):
		case t.Sub(at) > aYear:
			// Hours stop being readable, and past ~292 years the
			// difference no longer fits a time.Duration: name the times.
			v.Add(field, "is %s, more than a year after the request time (%s); at most %s of clock skew is accepted",
				t.UTC().Format(time.RFC3339Nano), at.UTC().Format(time.RFC3339Nano), MaxClockSkew)
		default:
			v.Add(field, "is %s after the request time; at most %s of clock skew is accepted",
				t.Sub(at).Round(time.Second), MaxClockSkew)
		}
	}
}

// MaxAttributeViolations caps how many problems inside attributes are
// reported, so that a large malformed object does not produce a huge error.
const MaxAttributeViolations = 8

// attributes validates the free-form attributes: nesting depth and finite
// numbers (their encoded size is measured by the door on its wire form).
// It returns nil when there is a violation.
func (v *validator) attributes(field string, m map[string]any) map[string]any {
	if v.reported(field) || m == nil {
		return nil
	}
	// The walk that names the path of each problem runs only when there
	// is one: the paths and the sorted keys cost allocations.
	if attrsFine(m, 1) {
		return m
	}
	w := attrWalker{v: &v.Violations}
	w.object(field, m, 1)
	if w.found > 0 {
		return nil
	}
	return m
}

// attrsFine reports whether attrWalker would find no problem in the
// object m at depth.
func attrsFine(m map[string]any, depth int) bool {
	if depth > MaxAttributesDepth {
		return false
	}
	for _, x := range m {
		if !attrFine(x, depth) {
			return false
		}
	}
	return true
}

func attrFine(val any, depth int) bool {
	switch x := val.(type) {
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case map[string]any:
		return attrsFine(x, depth+1)
	case []any:
		if depth+1 > MaxAttributesDepth {
			return false
		}
		for _, e := range x {
			if !attrFine(e, depth+1) {
				return false
			}
		}
	}
	return true
}

// attrWalker checks nesting depth and numbers of an attributes tree.
type attrWalker struct {
	v     *fault.Violations
	found int
}

func (w *attrWalker) add(path, format string, args ...any) {
	if w.found < MaxAttributeViolations {
		w.v.Add(path, format, args...)
	}
	w.found++
}

func (w *attrWalker) object(path string, m map[string]any, depth int) {
	if depth > MaxAttributesDepth {
		w.add(path, "nested deeper than %d levels", MaxAttributesDepth)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.value(path+"."+k, m[k], depth)
	}
}

func (w *attrWalker) value(path string, val any, depth int) {
	switch x := val.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			w.add(path, "must be a finite number")
		}
	case map[string]any:
		w.object(path, x, depth+1)
	case []any:
		if depth+1 > MaxAttributesDepth {
			w.add(path, "nested deeper than %d levels", MaxAttributesDepth)
			return
		}
		for i, e := range x {
			w.value(path+"["+strconv.Itoa(i)+"]", e, depth+1)
		}
	}
}
