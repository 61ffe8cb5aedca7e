package pdpsvc

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/contract"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// ToRequest validates a CheckRequest and converts it to a decision.Request.
// Every problem is reported at once in a fault.InvalidArgument error whose
// field violations use proto field paths: those of the rules the proto
// declares (package contract) and those checked here, one per field, in
// field order. now is the time of a request that carries none. Caller and
// Signals are left for the caller to fill.
func ToRequest(in *pdpv1.CheckRequest, now time.Time) (*decision.Request, error) {
	rules, err := contract.Check(in)
	if err != nil {
		return nil, err
	}
	var v fault.Violations
	r := &decision.Request{
		Tenant:         identifier(&v, "tenant", in.GetTenant(), false, nameSyntax),
		Environment:    environment(&v, "environment", in.GetEnvironment()),
		Subject:        subject(&v, in.GetSubject(), false),
		Authentication: authentication(&v, in.GetAuthentication()),
		Network:        network(&v, in.GetNetwork()),
		Device:         device(&v, in.GetDevice()),
		Action:         action(&v, in.GetAction(), true),
		Session:        session(&v, in.GetSession()),
		Time:           eventTime(&v, "time", in, now),
		Attributes:     attributes(&v, "attributes", in.GetAttributes()),
		Explain:        in.GetExplain(),
	}
	notAfter(&v, r.Time, map[string]time.Time{
		"authentication.authenticated_at": r.Authentication.AuthenticatedAt,
		"authentication.mfa_verified_at":  r.Authentication.MFAVerifiedAt,
		"session.started_at":              r.Session.StartedAt,
		"session.last_activity_at":        r.Session.LastActivityAt,
	})
	if fields := contract.Merge(in.ProtoReflect().Descriptor(), rules, v.List()); len(fields) > 0 {
		return nil, fault.Invalid(fields...)
	}
	return r, nil
}

// MaxClockSkew is how far past the request's time a proof of
// authentication or session activity may lie, and how far past the
// server's clock a reported event's time may lie. Anything later is
// refused: an MFA "verified" in the future would otherwise stay fresh
// forever, and a future event would rewrite the user's state.
const MaxClockSkew = 5 * time.Minute

// aYear is the gap past which notAfter names times instead of a duration.
const aYear = 366 * 24 * time.Hour

// notAfter refuses timestamps more than MaxClockSkew after the request
// time, in field order.
func notAfter(v *fault.Violations, at time.Time, fields map[string]time.Time) {
	if at.IsZero() {
		return
	}
	limit := at.Add(MaxClockSkew)
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		t := fields[field]
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

// ToEvent validates a ReportRequest and converts it to a decision.Event.
// tenant, event and subject.id are required; the other sections follow the
// rules of ToRequest, except that action.name is optional. now is the
// server's clock: the time of an event that carries none, and the bound
// (plus MaxClockSkew) of one that does.
func ToEvent(in *pdpv1.ReportRequest, now time.Time) (*decision.Event, error) {
	rules, err := contract.Check(in)
	if err != nil {
		return nil, err
	}
	var v fault.Violations
	e := &decision.Event{
		Tenant:         identifier(&v, "tenant", in.GetTenant(), false, nameSyntax),
		Kind:           eventKind(in.GetEvent()),
		Subject:        subject(&v, in.GetSubject(), true),
		Authentication: authentication(&v, in.GetAuthentication()),
		Network:        network(&v, in.GetNetwork()),
		Device:         device(&v, in.GetDevice()),
		Action:         action(&v, in.GetAction(), false),
		Time:           eventTime(&v, "time", in, now),
		Environment:    environment(&v, "environment", in.GetEnvironment()),
		Session:        session(&v, in.GetSession()),
	}
	notFuture(&v, "time", e.Time, now)
	if fields := contract.Merge(in.ProtoReflect().Descriptor(), rules, v.List()); len(fields) > 0 {
		return nil, fault.Invalid(fields...)
	}
	return e, nil
}

// notFuture refuses an event time more than MaxClockSkew after the
// server's clock. The store keeps only what is newer than the newest event
// it has seen, so one event dated in the future would drop a user's
// history (failed logins, devices, countries) and pin the last login
// ahead of every real one.
func notFuture(v *fault.Violations, field string, t, now time.Time) {
	if limit := now.Add(MaxClockSkew); t.After(limit) {
		v.Add(field, "is ahead of the server's clock (%s); at most %s of clock skew is accepted",
			now.UTC().Format(time.RFC3339), MaxClockSkew)
	}
}

// timed is a request with an optional time.
type timed interface {
	GetTime() *timestamppb.Timestamp
}

// eventTime is the request's time, or now when it has none.
func eventTime(v *fault.Violations, field string, in timed, now time.Time) time.Time {
	ts := in.GetTime()
	if ts == nil {
		return now.UTC()
	}
	return timestamp(v, field, ts)
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

func subject(v *fault.Violations, s *pdpv1.Subject, idRequired bool) decision.Subject {
	id := s.GetId()
	if id == "" && idRequired {
		v.Add("subject.id", "required")
	}
	return decision.Subject{
		ID:          text(v, "subject.id", id),
		Email:       email(v, "subject.email", s.GetEmail()),
		Roles:       list(v, "subject.roles", s.GetRoles()),
		Groups:      list(v, "subject.groups", s.GetGroups()),
		MFAEnrolled: s.GetMfaEnrolled(),
		CreatedAt:   timestamp(v, "subject.created_at", s.GetCreatedAt()),
		Tenant:      identifier(v, "subject.tenant", s.GetTenant(), false, nameSyntax),
	}
}

func authentication(v *fault.Violations, a *pdpv1.Authentication) decision.Authentication {
	return decision.Authentication{
		Provider:        text(v, "authentication.provider", a.GetProvider()),
		Methods:         list(v, "authentication.methods", a.GetMethods()),
		AuthenticatedAt: timestamp(v, "authentication.authenticated_at", a.GetAuthenticatedAt()),
		MFAVerifiedAt:   timestamp(v, "authentication.mfa_verified_at", a.GetMfaVerifiedAt()),
		ACR:             text(v, "authentication.acr", a.GetAcr()),
	}
}

func network(v *fault.Violations, n *pdpv1.Network) decision.Network {
	out := decision.Network{
		IP:      ip(v, "network.ip", n.GetIp()),
		Country: country(v, "network.country", n.GetCountry()),
		Region:  text(v, "network.region", n.GetRegion()),
		City:    text(v, "network.city", n.GetCity()),
		ASN:     n.GetAsn(),
	}
	if n == nil {
		return out
	}
	// The contract bounds each coordinate; they come as a pair.
	switch lat, lon := n.Latitude, n.Longitude; {
	case lat == nil && lon == nil:
	case lat == nil:
		v.Add("network.latitude", "required when network.longitude is set")
	case lon == nil:
		v.Add("network.longitude", "required when network.latitude is set")
	default:
		out.HasLocation, out.Latitude, out.Longitude = true, *lat, *lon
	}
	return out
}

func device(v *fault.Violations, d *pdpv1.Device) decision.Device {
	return decision.Device{
		ID:        text(v, "device.id", d.GetId()),
		Platform:  text(v, "device.platform", d.GetPlatform()),
		Managed:   d.GetManaged(),
		Compliant: d.GetCompliant(),
	}
}

func action(v *fault.Violations, a *pdpv1.Action, required bool) decision.Action {
	return decision.Action{
		Name:     identifier(v, "action.name", a.GetName(), required, actionSyntax),
		Resource: text(v, "action.resource", a.GetResource()),
	}
}

func session(v *fault.Violations, s *pdpv1.Session) decision.Session {
	return decision.Session{
		ID:             text(v, "session.id", s.GetId()),
		StartedAt:      timestamp(v, "session.started_at", s.GetStartedAt()),
		LastActivityAt: timestamp(v, "session.last_activity_at", s.GetLastActivityAt()),
	}
}
