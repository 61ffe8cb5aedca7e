package engine

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Keys of the input document, shared by every request. Terms are never
// mutated by evaluation, so sharing them is safe.
var (
	kTenant          = ast.StringTerm("tenant")
	kEnvironment     = ast.StringTerm("environment")
	kTimeNs          = ast.StringTerm("time_ns")
	kSubject         = ast.StringTerm("subject")
	kAuthentication  = ast.StringTerm("authentication")
	kNetwork         = ast.StringTerm("network")
	kDevice          = ast.StringTerm("device")
	kAction          = ast.StringTerm("action")
	kSession         = ast.StringTerm("session")
	kAttributes      = ast.StringTerm("attributes")
	kExplain         = ast.StringTerm("explain")
	kCaller          = ast.StringTerm("caller")
	kSignals         = ast.StringTerm("signals")
	kID              = ast.StringTerm("id")
	kEmail           = ast.StringTerm("email")
	kRoles           = ast.StringTerm("roles")
	kGroups          = ast.StringTerm("groups")
	kMFAEnrolled     = ast.StringTerm("mfa_enrolled")
	kCreatedAtNs     = ast.StringTerm("created_at_ns")
	kProvider        = ast.StringTerm("provider")
	kMethods         = ast.StringTerm("methods")
	kACR             = ast.StringTerm("acr")
	kAuthenticatedAt = ast.StringTerm("authenticated_at_ns")
	kMFAVerifiedAt   = ast.StringTerm("mfa_verified_at_ns")
	kIP              = ast.StringTerm("ip")
	kCountry         = ast.StringTerm("country")
	kRegion          = ast.StringTerm("region")
	kCity            = ast.StringTerm("city")
	kASN             = ast.StringTerm("asn")
	kLatitude        = ast.StringTerm("latitude")
	kLongitude       = ast.StringTerm("longitude")
	kPlatform        = ast.StringTerm("platform")
	kManaged         = ast.StringTerm("managed")
	kCompliant       = ast.StringTerm("compliant")
	kName            = ast.StringTerm("name")
	kResource        = ast.StringTerm("resource")
	kStartedAt       = ast.StringTerm("started_at_ns")
	kLastActivityAt  = ast.StringTerm("last_activity_at_ns")
	kRole            = ast.StringTerm("role")
	kSPIFFEID        = ast.StringTerm("spiffe_id")
	kGeo             = ast.StringTerm("geo")
	kProfile         = ast.StringTerm("profile")
	kSSOAvailable    = ast.StringTerm("sso_available")
	kSSODownSinceNs  = ast.StringTerm("sso_down_since_ns")
	kDenied          = ast.StringTerm("denied")
	kDeniedBy        = ast.StringTerm("denied_by")
	kAllowed         = ast.StringTerm("allowed")
	kSuspicious      = ast.StringTerm("suspicious")
	kSuspiciousBy    = ast.StringTerm("suspicious_by")
	kSuspended       = ast.StringTerm("suspended")
	kSuspendedReason = ast.StringTerm("suspended_reason")
	kMFAResetAt      = ast.StringTerm("mfa_reset_at_ns")
	kDeviceKnown     = ast.StringTerm("device_known")
	kLoginCount      = ast.StringTerm("login_count")
	kCountries       = ast.StringTerm("countries")
	kHourUsual       = ast.StringTerm("hour_usual")
	kActionSeen      = ast.StringTerm("action_seen")
	kFailedLogins    = ast.StringTerm("failed_logins")
	kIPFailedUsers   = ast.StringTerm("ip_failed_users")
	kIPFailedLogins  = ast.StringTerm("ip_failed_logins")
	kTravel          = ast.StringTerm("travel")
	kDistanceKm      = ast.StringTerm("distance_km")
	kSpeedKmh        = ast.StringTerm("speed_kmh")
	kFromCountry     = ast.StringTerm("from_country")
	kSinceNs         = ast.StringTerm("since_ns")
	kSSF             = ast.StringTerm("ssf")
	kEvents          = ast.StringTerm("events")
	kEvent           = ast.StringTerm("event")
	kStream          = ast.StringTerm("stream")
	kJTI             = ast.StringTerm("jti")
	kEventTimeNs     = ast.StringTerm("event_time_ns")
	kLevel           = ast.StringTerm("level")
	kStatus          = ast.StringTerm("status")
	kReason          = ast.StringTerm("reason")
	kType            = ast.StringTerm("type")
	kProperties      = ast.StringTerm("properties")
	emptyObjectValue = ast.NewObject()
	emptyStringTerm  = ast.InternedTerm("")
	emptyArrayTerm   = ast.ArrayTerm()
	defaultEnvirTerm = ast.StringTerm(decision.DefaultEnvironment)
)

// buildInput turns a request into the input document of rego/README.md:
// times are integer nanoseconds named *_ns, optional values are left out
// when zero, signal groups are present only when the server computed them.
//
// It runs for every decision, so it allocates little: terms come from one
// block per request (termArena), objects are built in one call from their
// items, and common values (booleans, small integers, interned strings,
// empty strings and arrays) are shared.
func buildInput(req *decision.Request, now func() time.Time) (ast.Value, error) {
	t := req.Time
	if t.IsZero() {
		t = now()
	}
	return buildInputAt(req, t)
}

// buildInputAt is buildInput at time t, the request's time or the clock's.
func buildInputAt(req *decision.Request, t time.Time) (ast.Value, error) {
	parts, err := convertParts(req)
	if err != nil {
		return nil, err
	}
	return parts.input(req, t, nil), nil
}

// convertedParts are the parts of a request given as Go values
// (attributes and properties), converted: the part of input building
// that can fail.
type convertedParts struct {
	attrs, subjectProps, actionProps, resourceProps ast.Object
}

// convertParts converts a request's attributes and properties. They are
// converted whatever a plan reads, so that a request is refused for them
// on every path alike.
func convertParts(req *decision.Request) (convertedParts, error) {
	c := convertedParts{attrs: emptyObjectValue}
	if len(req.Attributes) > 0 {
		v, err := ast.InterfaceToValue(req.Attributes)
		if err != nil {
			return c, fault.Invalid(fault.FieldViolation{Field: "attributes", Description: err.Error()})
		}
		c.attrs = v.(ast.Object)
	}
	var err error
	if c.subjectProps, err = properties("subject.properties", req.Subject.Properties); err != nil {
		return c, err
	}
	if c.actionProps, err = properties("action.properties", req.Action.Properties); err != nil {
		return c, err
	}
	if c.resourceProps, err = properties("resource.properties", req.Resource.Properties); err != nil {
		return c, err
	}
	return c, nil
}

// input builds the input document of req at t, only the fields pl keeps
// (all of them when pl is nil).
func (c *convertedParts) input(req *decision.Request, t time.Time, pl inputPlan) ast.Value {
	return c.inputWith(&inputMemo, req, t, pl)
}

// inputWith is input with the objects of memo m (none when nil).
func (c *convertedParts) inputWith(m *objectMemo, req *decision.Request, t time.Time, pl inputPlan) ast.Value {
	a := newTermArena(req)
	a.memo = m
	var f fields
	if pl.has("tenant") {
		f.add(kTenant, a.str(req.Tenant))
	}
	if pl.has("environment") {
		env := defaultEnvirTerm
		if req.Environment != "" {
			env = a.str(req.Environment)
		}
		f.add(kEnvironment, env)
	}
	if pl.has("time_ns") {
		f.add(kTimeNs, a.nanos(t))
	}
	if pl.has("subject") {
		f.add(kSubject, a.subject(&req.Subject, c.subjectProps, pl.sub("subject")))
	}
	if pl.has("authentication") {
		f.add(kAuthentication, a.authentication(&req.Authentication, pl.sub("authentication")))
	}
	if pl.has("network") {
		f.add(kNetwork, a.network(&req.Network, pl.sub("network")))
	}
	if pl.has("device") {
		f.add(kDevice, a.device(&req.Device, pl.sub("device")))
	}
	if pl.has("action") {
		f.add(kAction, a.action(&req.Action, c.actionProps, pl.sub("action")))
	}
	if pl.has("session") {
		f.add(kSession, a.session(&req.Session, pl.sub("session")))
	}
	if pl.has("attributes") {
		f.add(kAttributes, a.term(c.attrs))
	}
	if pl.has("explain") {
		f.add(kExplain, ast.InternedTerm(req.Explain))
	}
	if pl.has("caller") {
		f.add(kCaller, a.caller(&req.Caller))
	}
	if pl.has("signals") {
		f.add(kSignals, a.signals(&req.Signals, pl.sub("signals")))
	}
	// The resource is there only when the request names one, so that
	// policies test for it with `input.resource` being defined.
	if r := &req.Resource; pl.has("resource") && (r.Type != "" || r.ID != "" || c.resourceProps != nil) {
		f.add(kResource, a.resource(r, c.resourceProps, pl.sub("resource")))
	}
	return ast.NewObject(f.items[:f.n]...)
}

// properties converts the properties of a subject, an action or a
// resource; nil when there are none.
func properties(field string, m map[string]any) (ast.Object, error) {
	if len(m) == 0 {
		return nil, nil
	}
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		return nil, fault.Invalid(fault.FieldViolation{Field: field, Description: err.Error()})
	}
	return v.(ast.Object), nil
}

// termArena hands out the terms of one input from a single allocation.
// Evaluation never modifies the terms of its input, so they are shared as
// they are.
type termArena struct {
	buf []ast.Term
	// lists holds the elements of the input's string arrays.
	lists []*ast.Term
	// digits holds the text of the input's numbers and address: bytes
	// once written are never written again, so each of those strings
	// points into it instead of being an allocation of its own.
	digits []byte
	// memo shares objects with earlier inputs; nil builds every one.
	memo *objectMemo
}

// inputTerms is the number of terms an input needs besides its string
// lists; the arena grows past it if needed.
const inputTerms = 64

func newTermArena(req *decision.Request) *termArena {
	lists := len(req.Subject.Roles) + len(req.Subject.Groups) +
		len(req.Authentication.Methods) + len(req.Signals.Profile.Countries)
	return &termArena{buf: make([]ast.Term, 0, inputTerms+lists), lists: make([]*ast.Term, 0, lists)}
}

// textRoom is the room a text of the block may need: 20 bytes for an
// int64, 24 for a float64 in the shortest 'g' form, 39 for an IPv6
// address. A longer one still comes out right: append moves the block.
const textRoom = 40

// text returns what write appends, as a string viewing the input's text
// block.
func (a *termArena) text(write func([]byte) []byte) string {
	if cap(a.digits)-len(a.digits) < textRoom {
		a.digits = make([]byte, 0, 8*textRoom)
	}
	start := len(a.digits)
	a.digits = write(a.digits)
	if len(a.digits) == start {
		return ""
	}
	return unsafe.String(&a.digits[start], len(a.digits)-start)
}

// number returns a number term of the text write appends.
func (a *termArena) number(write func([]byte) []byte) *ast.Term {
	return a.term(ast.Number(a.text(write)))
}

// term returns a new term holding v. A full block is replaced by a new
// one; terms already handed out stay where they are.
func (a *termArena) term(v ast.Value) *ast.Term {
	if len(a.buf) == cap(a.buf) {
		a.buf = make([]ast.Term, 0, inputTerms)
	}
	a.buf = append(a.buf, ast.Term{Value: v})
	return &a.buf[len(a.buf)-1]
}

// object returns an object term of the items.
func (a *termArena) object(items ...[2]*ast.Term) *ast.Term {
	return a.term(ast.NewObject(items...))
}

// str returns a string term, shared for interned strings.
func (a *termArena) str(s string) *ast.Term {
	if ast.HasInternedValue(s) {
		return ast.InternedTerm(s)
	}
	return a.term(ast.String(s))
}

// strArray returns an array of string terms; nil gives [].
func (a *termArena) strArray(ss []string) *ast.Term {
	if len(ss) == 0 {
		return emptyArrayTerm
	}
	if cap(a.lists)-len(a.lists) < len(ss) {
		a.lists = make([]*ast.Term, 0, len(ss))
	}
	start := len(a.lists)
	for _, s := range ss {
		a.lists = append(a.lists, a.str(s))
	}
	// The capacity ends with the array, so that appending to it can
	// never write into the next one.
	return a.term(ast.NewArray(a.lists[start:len(a.lists):len(a.lists)]...))
}

// nanos returns t as integer nanoseconds since the Unix epoch, clamped to
// what an int64 holds: requests may carry times up to year 9999 (some
// identity providers write 9999 for "never"), and UnixNano wraps past
// 2262, which would put such a time before 1970.
func (a *termArena) nanos(t time.Time) *ast.Term {
	ns := clampedNanos(t)
	return a.number(func(b []byte) []byte { return strconv.AppendInt(b, ns, 10) })
}

// clampedNanos is t in nanoseconds as nanos writes it.
func clampedNanos(t time.Time) int64 {
	switch {
	case t.After(maxNanosTime):
		return math.MaxInt64
	case t.Before(minNanosTime):
		return math.MinInt64
	}
	return t.UnixNano()
}

// The instants at the ends of int64 nanoseconds since the epoch.
var (
	maxNanosTime = time.Unix(0, math.MaxInt64)
	minNanosTime = time.Unix(0, math.MinInt64)
)

// float returns a number term, formatted as ast.FloatNumberTerm does.
func (a *termArena) float(f float64) *ast.Term {
	return a.number(func(b []byte) []byte { return strconv.AppendFloat(b, f, 'g', -1, 64) })
}

// integer returns a number term, shared for small values.
func (a *termArena) integer(i int64) *ast.Term {
	if ast.HasInternedValue(i) {
		return ast.InternedTerm(i)
	}
	return a.number(func(b []byte) []byte { return strconv.AppendInt(b, i, 10) })
}

// fields collects the items of an object with optional keys; up to 16
// fit without an allocation. With a plan (pl, not nil) only the keys it
// keeps are added: the helpers below compute a value only when it is.
type fields struct {
	items [16][2]*ast.Term
	n     int
	pl    inputPlan
}

// planned starts the fields of an object read as pl says.
func planned(pl inputPlan) fields { return fields{pl: pl} }

// want reports whether key k is kept.
func (f *fields) want(k *ast.Term) bool {
	return f.pl == nil || f.pl.has(string(k.Value.(ast.String)))
}

// sub is the plan of key k's value.
func (f *fields) sub(k *ast.Term) inputPlan {
	if f.pl == nil {
		return nil
	}
	return f.pl.sub(string(k.Value.(ast.String)))
}

func (f *fields) add(k, v *ast.Term) {
	f.items[f.n] = ast.Item(k, v)
	f.n++
}

// str adds k: s.
func (f *fields) str(a *termArena, k *ast.Term, s string) {
	if f.want(k) {
		f.add(k, a.str(s))
	}
}

// strs adds k: ss, an array of strings.
func (f *fields) strs(a *termArena, k *ast.Term, ss []string) {
	if f.want(k) {
		f.add(k, a.strArray(ss))
	}
}

// boolean adds k: b.
func (f *fields) boolean(k *ast.Term, b bool) {
	if f.want(k) {
		f.add(k, ast.InternedTerm(b))
	}
}

// integer adds k: i.
func (f *fields) integer(a *termArena, k *ast.Term, i int64) {
	if f.want(k) {
		f.add(k, a.integer(i))
	}
}

// float adds k: x.
func (f *fields) float(a *termArena, k *ast.Term, x float64) {
	if f.want(k) {
		f.add(k, a.float(x))
	}
}

// time adds key: t in nanoseconds, unless t is zero.
func (f *fields) time(a *termArena, k *ast.Term, t time.Time) {
	if !t.IsZero() && f.want(k) {
		f.add(k, a.nanos(t))
	}
}

func (a *termArena) fieldsObject(f *fields) *ast.Term {
	return a.object(f.items[:f.n]...)
}

// subject is input.subject, from the memo when it holds one.
func (a *termArena) subject(s *decision.Subject, props ast.Object, pl inputPlan) *ast.Term {
	if props != nil {
		return a.subjectObject(s, props, pl)
	}
	var k memoKey
	k.start(memoSubject, pl)
	if pl.has("id") {
		k.str(s.ID)
	}
	if pl.has("email") {
		k.str(s.Email)
	}
	if pl.has("roles") {
		k.strs(s.Roles)
	}
	if pl.has("groups") {
		k.strs(s.Groups)
	}
	if pl.has("mfa_enrolled") {
		k.flag(s.MFAEnrolled)
	}
	if pl.has("tenant") {
		k.str(s.Tenant)
	}
	if pl.has("created_at_ns") {
		k.time(s.CreatedAt)
	}
	if pl.has("type") {
		k.str(s.Type)
	}
	return a.memo.memoised(&k, pl, func() *ast.Term { return a.subjectObject(s, nil, pl) })
}

// subjectObject builds input.subject; type and properties are there
// only when the request has them.
func (a *termArena) subjectObject(s *decision.Subject, props ast.Object, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.str(a, kID, s.ID)
	f.str(a, kEmail, s.Email)
	f.strs(a, kRoles, s.Roles)
	f.strs(a, kGroups, s.Groups)
	f.boolean(kMFAEnrolled, s.MFAEnrolled)
	f.str(a, kTenant, s.Tenant)
	f.time(a, kCreatedAtNs, s.CreatedAt)
	if s.Type != "" {
		f.str(a, kType, s.Type)
	}
	if props != nil && f.want(kProperties) {
		f.add(kProperties, a.term(props))
	}
	return a.fieldsObject(&f)
}

// authentication is input.authentication, from the memo when it holds
// one.
func (a *termArena) authentication(au *decision.Authentication, pl inputPlan) *ast.Term {
	var k memoKey
	k.start(memoAuthentication, pl)
	if pl.has("provider") {
		k.str(au.Provider)
	}
	if pl.has("methods") {
		k.strs(au.Methods)
	}
	if pl.has("acr") {
		k.str(au.ACR)
	}
	if pl.has("authenticated_at_ns") {
		k.time(au.AuthenticatedAt)
	}
	if pl.has("mfa_verified_at_ns") {
		k.time(au.MFAVerifiedAt)
	}
	return a.memo.memoised(&k, pl, func() *ast.Term { return a.authenticationObject(au, pl) })
}

func (a *termArena) authenticationObject(au *decision.Authentication, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.str(a, kProvider, au.Provider)
	f.strs(a, kMethods, au.Methods)
	f.str(a, kACR, au.ACR)
	f.time(a, kAuthenticatedAt, au.AuthenticatedAt)
	f.time(a, kMFAVerifiedAt, au.MFAVerifiedAt)
	return a.fieldsObject(&f)
}

// network is input.network, from the memo when it holds one.
func (a *termArena) network(n *decision.Network, pl inputPlan) *ast.Term {
	var k memoKey
	k.start(memoNetwork, pl)
	if pl.has("ip") {
		k.flag(n.IP.IsValid())
		k.addr(n.IP.Unmap().WithZone(""))
	}
	if pl.has("country") {
		k.str(n.Country)
	}
	if pl.has("region") {
		k.str(n.Region)
	}
	if pl.has("city") {
		k.str(n.City)
	}
	if pl.has("asn") {
		k.int(int64(n.ASN))
	}
	if pl.has("latitude") || pl.has("longitude") {
		k.flag(n.HasLocation)
		k.float(n.Latitude)
		k.float(n.Longitude)
	}
	return a.memo.memoised(&k, pl, func() *ast.Term { return a.networkObject(n, pl) })
}

func (a *termArena) networkObject(n *decision.Network, pl inputPlan) *ast.Term {
	f := planned(pl)
	if f.want(kIP) {
		ip := emptyStringTerm
		if n.IP.IsValid() {
			addr := n.IP.Unmap().WithZone("")
			ip = a.term(ast.String(a.text(addr.AppendTo)))
		}
		f.add(kIP, ip)
	}
	f.str(a, kCountry, n.Country)
	f.str(a, kRegion, n.Region)
	f.str(a, kCity, n.City)
	f.integer(a, kASN, int64(n.ASN))
	if n.HasLocation {
		f.float(a, kLatitude, n.Latitude)
		f.float(a, kLongitude, n.Longitude)
	}
	return a.fieldsObject(&f)
}

// device is input.device, from the memo when it holds one.
func (a *termArena) device(d *decision.Device, pl inputPlan) *ast.Term {
	var k memoKey
	k.start(memoDevice, pl)
	if pl.has("id") {
		k.str(d.ID)
	}
	if pl.has("platform") {
		k.str(d.Platform)
	}
	if pl.has("managed") {
		k.flag(d.Managed)
	}
	if pl.has("compliant") {
		k.flag(d.Compliant)
	}
	return a.memo.memoised(&k, pl, func() *ast.Term { return a.deviceObject(d, pl) })
}

func (a *termArena) deviceObject(d *decision.Device, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.str(a, kID, d.ID)
	f.str(a, kPlatform, d.Platform)
	f.boolean(kManaged, d.Managed)
	f.boolean(kCompliant, d.Compliant)
	return a.fieldsObject(&f)
}

// action is input.action, from the memo when it holds one.
func (a *termArena) action(act *decision.Action, props ast.Object, pl inputPlan) *ast.Term {
	if props != nil {
		return a.actionObject(act, props, pl)
	}
	var k memoKey
	k.start(memoAction, pl)
	if pl.has("name") {
		k.str(act.Name)
	}
	if pl.has("resource") {
		k.str(act.Resource)
	}
	return a.memo.memoised(&k, pl, func() *ast.Term { return a.actionObject(act, nil, pl) })
}

func (a *termArena) actionObject(act *decision.Action, props ast.Object, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.str(a, kName, act.Name)
	f.str(a, kResource, act.Resource)
	if props != nil && f.want(kProperties) {
		f.add(kProperties, a.term(props))
	}
	return a.fieldsObject(&f)
}

func (a *termArena) session(s *decision.Session, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.str(a, kID, s.ID)
	f.time(a, kStartedAt, s.StartedAt)
	f.time(a, kLastActivityAt, s.LastActivityAt)
	return a.fieldsObject(&f)
}

// resource is input.resource, of a request that names one.
func (a *termArena) resource(r *decision.Resource, props ast.Object, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.str(a, kType, r.Type)
	f.str(a, kID, r.ID)
	if f.want(kProperties) {
		if props == nil {
			props = emptyObjectValue
		}
		f.add(kProperties, a.term(props))
	}
	return a.fieldsObject(&f)
}

func (a *termArena) signals(s *decision.Signals, pl inputPlan) *ast.Term {
	f := planned(pl)
	if s.IP.Checked && f.want(kIP) {
		f.add(kIP, a.ipSignals(&s.IP))
	}
	if s.Geo.Found && f.want(kGeo) {
		g := planned(f.sub(kGeo))
		g.str(a, kCountry, s.Geo.Country)
		g.str(a, kCity, s.Geo.City)
		if s.Geo.HasLocation {
			g.float(a, kLatitude, s.Geo.Latitude)
			g.float(a, kLongitude, s.Geo.Longitude)
		}
		f.add(kGeo, a.fieldsObject(&g))
	}
	if s.Profile.Known && f.want(kProfile) {
		f.add(kProfile, a.profile(&s.Profile, f.sub(kProfile)))
	}
	if s.SSOKnown {
		f.boolean(kSSOAvailable, s.SSOAvailable)
	}
	if s.SSOKnown && !s.SSOAvailable && !s.SSODownSince.IsZero() {
		f.time(a, kSSODownSinceNs, s.SSODownSince)
	}
	if len(s.SSF.Events) > 0 && f.want(kSSF) {
		f.add(kSSF, a.object(ast.Item(kEvents, a.ssfEvents(s.SSF.Events))))
	}
	return a.fieldsObject(&f)
}

// ipSignals is signals.ip. Without list names it is one of eight
// objects built once. It is built whole whatever a plan reads of it:
// fields a residual never reads cannot change what it computes.
func (a *termArena) ipSignals(ip *decision.IPSignals) *ast.Term {
	if ip.DeniedBy == "" && ip.SuspiciousBy == "" {
		return unnamedIPSignals[b2i(ip.Denied)][b2i(ip.Allowed)][b2i(ip.Suspicious)]
	}
	return a.object(ipSignalsItems(ip.Denied, ip.Allowed, ip.Suspicious, a.str(ip.DeniedBy), a.str(ip.SuspiciousBy))...)
}

func ipSignalsItems(denied, allowed, suspicious bool, deniedBy, suspiciousBy *ast.Term) [][2]*ast.Term {
	return [][2]*ast.Term{
		ast.Item(kDenied, ast.InternedTerm(denied)),
		ast.Item(kDeniedBy, deniedBy),
		ast.Item(kAllowed, ast.InternedTerm(allowed)),
		ast.Item(kSuspicious, ast.InternedTerm(suspicious)),
		ast.Item(kSuspiciousBy, suspiciousBy),
	}
}

// unnamedIPSignals[denied][allowed][suspicious] is signals.ip when no
// list is named.
var unnamedIPSignals = func() (t [2][2][2]*ast.Term) {
	for d := range 2 {
		for al := range 2 {
			for su := range 2 {
				t[d][al][su] = ast.ObjectTerm(ipSignalsItems(d == 1, al == 1, su == 1, emptyStringTerm, emptyStringTerm)...)
			}
		}
	}
	return t
}()

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// caller is input.caller. Most decisions come from few callers, often
// one after another: the last one's object is kept and shared, whole
// whatever a plan reads of it.
func (a *termArena) caller(c *decision.Caller) *ast.Term {
	if last := lastCaller.Load(); last != nil && last.caller == *c {
		return last.term
	}
	t := ast.ObjectTerm(
		ast.Item(kName, ast.StringTerm(c.Name)),
		ast.Item(kRole, ast.StringTerm(c.Role)),
		ast.Item(kSPIFFEID, ast.StringTerm(c.SPIFFEID)),
	)
	lastCaller.Store(&callerTerm{caller: *c, term: t})
	return t
}

// callerTerm is the input.caller object of one caller.
type callerTerm struct {
	caller decision.Caller
	term   *ast.Term
}

var lastCaller atomic.Pointer[callerTerm]

// ssfEvents is signals.ssf.events: one object per event, its optional
// strings left out when empty.
func (a *termArena) ssfEvents(events []decision.SSFEvent) *ast.Term {
	elems := make([]*ast.Term, len(events))
	for i := range events {
		e := &events[i]
		var f fields
		f.add(kEvent, a.str(e.Event))
		f.add(kStream, a.str(e.Stream))
		f.add(kJTI, a.str(e.JTI))
		f.time(a, kEventTimeNs, e.At)
		for _, kv := range [...]struct {
			k *ast.Term
			v string
		}{{kLevel, e.Level}, {kStatus, e.Status}, {kReason, e.Reason}} {
			if kv.v != "" {
				f.add(kv.k, a.str(kv.v))
			}
		}
		elems[i] = a.fieldsObject(&f)
	}
	return a.term(ast.NewArray(elems...))
}

// profile is input.signals.profile, from the memo when it holds one.
func (a *termArena) profile(p *decision.ProfileSignals, pl inputPlan) *ast.Term {
	var k memoKey
	k.start(memoProfile, pl)
	if pl.has("suspended") {
		k.flag(p.Suspended)
	}
	if pl.has("suspended_reason") {
		k.str(p.SuspendedReason)
	}
	if pl.has("mfa_reset_at_ns") {
		k.time(p.MFAResetAt)
	}
	if pl.has("device_known") {
		k.flag(p.DeviceKnown)
	}
	if pl.has("login_count") {
		k.int(int64(p.LoginCount))
	}
	if pl.has("countries") {
		k.strs(p.Countries)
	}
	if pl.has("hour_usual") {
		k.flag(p.HourUsual)
	}
	if pl.has("action_seen") {
		k.flag(p.ActionSeen)
	}
	if pl.has("failed_logins") {
		k.int(int64(p.FailedLogins))
	}
	if pl.has("ip_failed_users") {
		k.int(int64(p.IPFailedUsers))
	}
	if pl.has("ip_failed_logins") {
		k.int(int64(p.IPFailedLogins))
	}
	if tr := &p.Travel; pl.has("travel") {
		k.flag(tr.Known)
		k.float(tr.DistanceKm)
		k.float(tr.SpeedKmh)
		k.str(tr.FromCountry)
		k.time(tr.Since)
	}
	return a.memo.memoised(&k, pl, func() *ast.Term { return a.profileObject(p, pl) })
}

func (a *termArena) profileObject(p *decision.ProfileSignals, pl inputPlan) *ast.Term {
	f := planned(pl)
	f.boolean(kSuspended, p.Suspended)
	f.str(a, kSuspendedReason, p.SuspendedReason)
	f.time(a, kMFAResetAt, p.MFAResetAt)
	f.boolean(kDeviceKnown, p.DeviceKnown)
	f.integer(a, kLoginCount, int64(p.LoginCount))
	f.strs(a, kCountries, p.Countries)
	f.boolean(kHourUsual, p.HourUsual)
	f.boolean(kActionSeen, p.ActionSeen)
	f.integer(a, kFailedLogins, int64(p.FailedLogins))
	f.integer(a, kIPFailedUsers, int64(p.IPFailedUsers))
	f.integer(a, kIPFailedLogins, int64(p.IPFailedLogins))
	if p.Travel.Known && f.want(kTravel) {
		tr := planned(f.sub(kTravel))
		tr.float(a, kDistanceKm, p.Travel.DistanceKm)
		tr.float(a, kSpeedKmh, p.Travel.SpeedKmh)
		tr.str(a, kFromCountry, p.Travel.FromCountry)
		tr.time(a, kSinceNs, p.Travel.Since)
		f.add(kTravel, a.fieldsObject(&tr))
	}
	return a.fieldsObject(&f)
}
