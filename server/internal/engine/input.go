package engine

import (
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Keys of the input document, shared by every request. Terms are never
// mutated by evaluation, so sharing them is safe.
var (
	kTenant           = ast.StringTerm("tenant")
	kEnvironment      = ast.StringTerm("environment")
	kTimeNs           = ast.StringTerm("time_ns")
	kSubject          = ast.StringTerm("subject")
	kAuthentication   = ast.StringTerm("authentication")
	kNetwork          = ast.StringTerm("network")
	kDevice           = ast.StringTerm("device")
	kAction           = ast.StringTerm("action")
	kSession          = ast.StringTerm("session")
	kAttributes       = ast.StringTerm("attributes")
	kExplain          = ast.StringTerm("explain")
	kCaller           = ast.StringTerm("caller")
	kSignals          = ast.StringTerm("signals")
	kID               = ast.StringTerm("id")
	kEmail            = ast.StringTerm("email")
	kRoles            = ast.StringTerm("roles")
	kGroups           = ast.StringTerm("groups")
	kMFAEnrolled      = ast.StringTerm("mfa_enrolled")
	kCreatedAtNs      = ast.StringTerm("created_at_ns")
	kProvider         = ast.StringTerm("provider")
	kMethods          = ast.StringTerm("methods")
	kACR              = ast.StringTerm("acr")
	kAuthenticatedAt  = ast.StringTerm("authenticated_at_ns")
	kMFAVerifiedAt    = ast.StringTerm("mfa_verified_at_ns")
	kIP               = ast.StringTerm("ip")
	kCountry          = ast.StringTerm("country")
	kRegion           = ast.StringTerm("region")
	kCity             = ast.StringTerm("city")
	kASN              = ast.StringTerm("asn")
	kLatitude         = ast.StringTerm("latitude")
	kLongitude        = ast.StringTerm("longitude")
	kPlatform         = ast.StringTerm("platform")
	kManaged          = ast.StringTerm("managed")
	kCompliant        = ast.StringTerm("compliant")
	kName             = ast.StringTerm("name")
	kResource         = ast.StringTerm("resource")
	kStartedAt        = ast.StringTerm("started_at_ns")
	kLastActivityAt   = ast.StringTerm("last_activity_at_ns")
	kRole             = ast.StringTerm("role")
	kSPIFFEID         = ast.StringTerm("spiffe_id")
	kGeo              = ast.StringTerm("geo")
	kProfile          = ast.StringTerm("profile")
	kSSOAvailable     = ast.StringTerm("sso_available")
	kDenied           = ast.StringTerm("denied")
	kDeniedBy         = ast.StringTerm("denied_by")
	kAllowed          = ast.StringTerm("allowed")
	kSuspicious       = ast.StringTerm("suspicious")
	kSuspiciousBy     = ast.StringTerm("suspicious_by")
	kSuspended        = ast.StringTerm("suspended")
	kSuspendedReason  = ast.StringTerm("suspended_reason")
	kMFAResetAt       = ast.StringTerm("mfa_reset_at_ns")
	kDeviceKnown      = ast.StringTerm("device_known")
	kLoginCount       = ast.StringTerm("login_count")
	kCountries        = ast.StringTerm("countries")
	kHourUsual        = ast.StringTerm("hour_usual")
	kActionSeen       = ast.StringTerm("action_seen")
	kFailedLogins     = ast.StringTerm("failed_logins")
	kIPFailedUsers    = ast.StringTerm("ip_failed_users")
	kIPFailedLogins   = ast.StringTerm("ip_failed_logins")
	kTravel           = ast.StringTerm("travel")
	kDistanceKm       = ast.StringTerm("distance_km")
	kSpeedKmh         = ast.StringTerm("speed_kmh")
	kFromCountry      = ast.StringTerm("from_country")
	kSinceNs          = ast.StringTerm("since_ns")
	emptyObjectValue  = ast.NewObject()
	emptyStringTerm   = ast.StringTerm("")
	defaultEnvirTerm  = ast.StringTerm(decision.DefaultEnvironment)
	inputObjectFields = 13
)

// buildInput turns a request into the input document of rego/README.md:
// times are integer nanoseconds named *_ns, optional values are left out
// when zero, signal groups are present only when the server computed them.
func buildInput(req *decision.Request, now func() time.Time) (ast.Value, error) {
	attrs := emptyObjectValue
	if len(req.Attributes) > 0 {
		v, err := ast.InterfaceToValue(req.Attributes)
		if err != nil {
			return nil, fault.Invalid(fault.FieldViolation{Field: "attributes", Description: err.Error()})
		}
		attrs = v.(ast.Object)
	}

	env := defaultEnvirTerm
	if req.Environment != "" {
		env = str(req.Environment)
	}
	t := req.Time
	if t.IsZero() {
		t = now()
	}

	in := ast.NewObjectWithCapacity(inputObjectFields)
	in.Insert(kTenant, str(req.Tenant))
	in.Insert(kEnvironment, env)
	in.Insert(kTimeNs, nanos(t))
	in.Insert(kSubject, subjectTerm(&req.Subject))
	in.Insert(kAuthentication, authenticationTerm(&req.Authentication))
	in.Insert(kNetwork, networkTerm(&req.Network))
	in.Insert(kDevice, ast.ObjectTerm(
		ast.Item(kID, str(req.Device.ID)),
		ast.Item(kPlatform, str(req.Device.Platform)),
		ast.Item(kManaged, ast.InternedTerm(req.Device.Managed)),
		ast.Item(kCompliant, ast.InternedTerm(req.Device.Compliant)),
	))
	in.Insert(kAction, ast.ObjectTerm(
		ast.Item(kName, str(req.Action.Name)),
		ast.Item(kResource, str(req.Action.Resource)),
	))
	in.Insert(kSession, sessionTerm(&req.Session))
	in.Insert(kAttributes, ast.NewTerm(attrs))
	in.Insert(kExplain, ast.InternedTerm(req.Explain))
	in.Insert(kCaller, ast.ObjectTerm(
		ast.Item(kName, str(req.Caller.Name)),
		ast.Item(kRole, str(req.Caller.Role)),
		ast.Item(kSPIFFEID, str(req.Caller.SPIFFEID)),
	))
	in.Insert(kSignals, signalsTerm(&req.Signals))
	return in, nil
}

func subjectTerm(s *decision.Subject) *ast.Term {
	o := ast.NewObjectWithCapacity(7)
	o.Insert(kID, str(s.ID))
	o.Insert(kEmail, str(s.Email))
	o.Insert(kRoles, strArray(s.Roles))
	o.Insert(kGroups, strArray(s.Groups))
	o.Insert(kMFAEnrolled, ast.InternedTerm(s.MFAEnrolled))
	o.Insert(kTenant, str(s.Tenant))
	insertTime(o, kCreatedAtNs, s.CreatedAt)
	return ast.NewTerm(o)
}

func authenticationTerm(a *decision.Authentication) *ast.Term {
	o := ast.NewObjectWithCapacity(5)
	o.Insert(kProvider, str(a.Provider))
	o.Insert(kMethods, strArray(a.Methods))
	o.Insert(kACR, str(a.ACR))
	insertTime(o, kAuthenticatedAt, a.AuthenticatedAt)
	insertTime(o, kMFAVerifiedAt, a.MFAVerifiedAt)
	return ast.NewTerm(o)
}

func networkTerm(n *decision.Network) *ast.Term {
	ip := emptyStringTerm
	if n.IP.IsValid() {
		ip = ast.StringTerm(n.IP.Unmap().WithZone("").String())
	}
	o := ast.NewObjectWithCapacity(7)
	o.Insert(kIP, ip)
	o.Insert(kCountry, str(n.Country))
	o.Insert(kRegion, str(n.Region))
	o.Insert(kCity, str(n.City))
	o.Insert(kASN, ast.InternedTerm(n.ASN))
	if n.HasLocation {
		o.Insert(kLatitude, ast.FloatNumberTerm(n.Latitude))
		o.Insert(kLongitude, ast.FloatNumberTerm(n.Longitude))
	}
	return ast.NewTerm(o)
}

func sessionTerm(s *decision.Session) *ast.Term {
	o := ast.NewObjectWithCapacity(3)
	o.Insert(kID, str(s.ID))
	insertTime(o, kStartedAt, s.StartedAt)
	insertTime(o, kLastActivityAt, s.LastActivityAt)
	return ast.NewTerm(o)
}

func signalsTerm(s *decision.Signals) *ast.Term {
	o := ast.NewObjectWithCapacity(4)
	if s.IP.Checked {
		o.Insert(kIP, ast.ObjectTerm(
			ast.Item(kDenied, ast.InternedTerm(s.IP.Denied)),
			ast.Item(kDeniedBy, str(s.IP.DeniedBy)),
			ast.Item(kAllowed, ast.InternedTerm(s.IP.Allowed)),
			ast.Item(kSuspicious, ast.InternedTerm(s.IP.Suspicious)),
			ast.Item(kSuspiciousBy, str(s.IP.SuspiciousBy)),
		))
	}
	if s.Geo.Found {
		g := ast.NewObjectWithCapacity(4)
		g.Insert(kCountry, str(s.Geo.Country))
		g.Insert(kCity, str(s.Geo.City))
		if s.Geo.HasLocation {
			g.Insert(kLatitude, ast.FloatNumberTerm(s.Geo.Latitude))
			g.Insert(kLongitude, ast.FloatNumberTerm(s.Geo.Longitude))
		}
		o.Insert(kGeo, ast.NewTerm(g))
	}
	if s.Profile.Known {
		o.Insert(kProfile, profileTerm(&s.Profile))
	}
	if s.SSOKnown {
		o.Insert(kSSOAvailable, ast.InternedTerm(s.SSOAvailable))
	}
	return ast.NewTerm(o)
}

func profileTerm(p *decision.ProfileSignals) *ast.Term {
	o := ast.NewObjectWithCapacity(13)
	o.Insert(kSuspended, ast.InternedTerm(p.Suspended))
	o.Insert(kSuspendedReason, str(p.SuspendedReason))
	insertTime(o, kMFAResetAt, p.MFAResetAt)
	o.Insert(kDeviceKnown, ast.InternedTerm(p.DeviceKnown))
	o.Insert(kLoginCount, ast.InternedTerm(p.LoginCount))
	o.Insert(kCountries, strArray(p.Countries))
	o.Insert(kHourUsual, ast.InternedTerm(p.HourUsual))
	o.Insert(kActionSeen, ast.InternedTerm(p.ActionSeen))
	o.Insert(kFailedLogins, ast.InternedTerm(p.FailedLogins))
	o.Insert(kIPFailedUsers, ast.InternedTerm(p.IPFailedUsers))
	o.Insert(kIPFailedLogins, ast.InternedTerm(p.IPFailedLogins))
	if p.Travel.Known {
		tr := ast.NewObjectWithCapacity(4)
		tr.Insert(kDistanceKm, ast.FloatNumberTerm(p.Travel.DistanceKm))
		tr.Insert(kSpeedKmh, ast.FloatNumberTerm(p.Travel.SpeedKmh))
		tr.Insert(kFromCountry, str(p.Travel.FromCountry))
		if !p.Travel.Since.IsZero() {
			tr.Insert(kSinceNs, nanos(p.Travel.Since))
		}
		o.Insert(kTravel, ast.NewTerm(tr))
	}
	return ast.NewTerm(o)
}

// str returns a string term, shared for common strings.
func str(s string) *ast.Term { return ast.InternedTerm(s) }

// strArray returns an array of string terms; nil gives [].
func strArray(ss []string) *ast.Term {
	a := make([]*ast.Term, len(ss))
	for i, s := range ss {
		a[i] = str(s)
	}
	return ast.NewTerm(ast.NewArray(a...))
}

// nanos returns t as integer nanoseconds since the Unix epoch.
func nanos(t time.Time) *ast.Term {
	return ast.NewTerm(ast.Number(strconv.FormatInt(t.UnixNano(), 10)))
}

// insertTime adds key: t in nanoseconds, unless t is zero.
func insertTime(o ast.Object, key *ast.Term, t time.Time) {
	if !t.IsZero() {
		o.Insert(key, nanos(t))
	}
}
