package pdpsvc

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/contract"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// ToRequest converts a CheckRequest to a decision.Request and validates
// it. Every problem is reported at once in a fault.InvalidArgument error
// whose field violations use proto field paths: those of the rules the
// proto declares (package contract) and those of the domain
// (decision.Request.Validate), one per field, in field order. now is the
// time of a request that carries none. Caller and Signals are left for
// the caller to fill.
func ToRequest(in *pdpv1.CheckRequest, now time.Time) (*decision.Request, error) {
	rules, err := contract.Check(in)
	if err != nil {
		return nil, err
	}
	r, p := convert(in, now)
	if fields := contract.Merge(checkRequest, rules, r.Validate(p)); len(fields) > 0 {
		return nil, fault.Invalid(fields...)
	}
	return r, nil
}

// checkRequest orders the violations of a check.
var checkRequest = (&pdpv1.CheckRequest{}).ProtoReflect().Descriptor()

// Validate validates a request a door built without a CheckRequest (the
// gateway doors) as ToRequest validates one: the wire bounds
// (decision.Request.Bounds, the proto's rules) and the domain's checks
// with the door's problems, reported alike.
func Validate(r *decision.Request, p decision.Problems) error {
	if fields := contract.Merge(checkRequest, r.Bounds(), r.Validate(p)); len(fields) > 0 {
		return fault.Invalid(fields...)
	}
	return nil
}

// convert converts a CheckRequest, recording what has no domain form.
func convert(in *pdpv1.CheckRequest, now time.Time) (*decision.Request, decision.Problems) {
	var p decision.Problems
	act := in.GetAction()
	r := &decision.Request{
		Tenant:         in.GetTenant(),
		Environment:    in.GetEnvironment(),
		Subject:        subject(&p, in.GetSubject()),
		Authentication: authentication(&p, in.GetAuthentication()),
		Network:        network(&p, in.GetNetwork()),
		Device:         device(in.GetDevice()),
		Action:         decision.Action{Name: act.GetName(), Resource: act.GetResource()},
		Session:        session(&p, in.GetSession()),
		Time:           eventTime(&p, "time", in, now),
		Attributes:     Attributes(&p, "attributes", in.GetAttributes()),
		Explain:        in.GetExplain(),
		Resource:       resource(&p, in.GetResource()),
	}
	return r, p
}

// ToEvent validates a ReportRequest and converts it to a decision.Event.
// tenant, event and subject.id are required; the other sections follow the
// rules of ToRequest, except that action.name is optional. now is the
// server's clock: the time of an event that carries none, and the bound
// (plus decision.MaxClockSkew) of one that does.
func ToEvent(in *pdpv1.ReportRequest, now time.Time) (*decision.Event, error) {
	rules, err := contract.Check(in)
	if err != nil {
		return nil, err
	}
	var p decision.Problems
	act := in.GetAction()
	e := &decision.Event{
		Tenant:         in.GetTenant(),
		Kind:           eventKind(in.GetEvent()),
		Subject:        subject(&p, in.GetSubject()),
		Authentication: authentication(&p, in.GetAuthentication()),
		Network:        network(&p, in.GetNetwork()),
		Device:         device(in.GetDevice()),
		Action:         decision.Action{Name: act.GetName(), Resource: act.GetResource()},
		Time:           eventTime(&p, "time", in, now),
		Environment:    in.GetEnvironment(),
		Session:        session(&p, in.GetSession()),
	}
	if fields := contract.Merge(in.ProtoReflect().Descriptor(), rules, e.Validate(now, p)); len(fields) > 0 {
		return nil, fault.Invalid(fields...)
	}
	return e, nil
}

// timed is a request with an optional time.
type timed interface {
	GetTime() *timestamppb.Timestamp
}

// eventTime is the request's time, or now when it has none.
func eventTime(p *decision.Problems, field string, in timed, now time.Time) time.Time {
	ts := in.GetTime()
	if ts == nil {
		return now.UTC()
	}
	return Time(p, field, ts)
}

// eventKind maps a reported event; the contract refuses an unset or
// unknown one.
func eventKind(e pdpv1.Event) decision.EventKind {
	switch e {
	case pdpv1.Event_EVENT_LOGIN_SUCCEEDED:
		return decision.EventLoginSucceeded
	case pdpv1.Event_EVENT_LOGIN_FAILED:
		return decision.EventLoginFailed
	case pdpv1.Event_EVENT_MFA_SUCCEEDED:
		return decision.EventMFASucceeded
	case pdpv1.Event_EVENT_MFA_FAILED:
		return decision.EventMFAFailed
	case pdpv1.Event_EVENT_LOGOUT:
		return decision.EventLogout
	case pdpv1.Event_EVENT_ACTIVITY:
		return decision.EventActivity
	}
	return decision.EventUnspecified
}

func subject(p *decision.Problems, s *pdpv1.Subject) decision.Subject {
	return decision.Subject{
		ID:          s.GetId(),
		Email:       s.GetEmail(),
		Roles:       s.GetRoles(),
		Groups:      s.GetGroups(),
		MFAEnrolled: s.GetMfaEnrolled(),
		CreatedAt:   Time(p, "subject.created_at", s.GetCreatedAt()),
		Tenant:      s.GetTenant(),
	}
}

func authentication(p *decision.Problems, a *pdpv1.Authentication) decision.Authentication {
	return decision.Authentication{
		Provider:        a.GetProvider(),
		Methods:         a.GetMethods(),
		AuthenticatedAt: Time(p, "authentication.authenticated_at", a.GetAuthenticatedAt()),
		MFAVerifiedAt:   Time(p, "authentication.mfa_verified_at", a.GetMfaVerifiedAt()),
		ACR:             a.GetAcr(),
	}
}

// network converts the network section. The contract bounds each
// coordinate; they come as a pair.
func network(p *decision.Problems, n *pdpv1.Network) decision.Network {
	out := decision.Network{
		IP:      decision.ParseIP(p, "network.ip", n.GetIp()),
		Country: n.GetCountry(),
		Region:  n.GetRegion(),
		City:    n.GetCity(),
		ASN:     n.GetAsn(),
	}
	if n == nil {
		return out
	}
	switch lat, lon := n.Latitude, n.Longitude; {
	case lat == nil && lon == nil:
	case lat == nil:
		p.Add("network.latitude", "required when network.longitude is set")
	case lon == nil:
		p.Add("network.longitude", "required when network.latitude is set")
	default:
		out.HasLocation, out.Latitude, out.Longitude = true, *lat, *lon
	}
	return out
}

func device(d *pdpv1.Device) decision.Device {
	return decision.Device{ID: d.GetId(), Platform: d.GetPlatform(), Managed: d.GetManaged(), Compliant: d.GetCompliant()}
}

func session(p *decision.Problems, s *pdpv1.Session) decision.Session {
	return decision.Session{
		ID:             s.GetId(),
		StartedAt:      Time(p, "session.started_at", s.GetStartedAt()),
		LastActivityAt: Time(p, "session.last_activity_at", s.GetLastActivityAt()),
	}
}

// resource converts the typed resource; its rules are those of
// decision.Request.Validate.
func resource(p *decision.Problems, r *pdpv1.Resource) decision.Resource {
	if r == nil {
		return decision.Resource{}
	}
	return decision.Resource{Type: r.GetType(), ID: r.GetId(), Properties: Attributes(p, "resource.properties", r.GetProperties())}
}
