package receiver

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ssf"
)

// The event-type URI prefixes of CAEP 1.0, RISC 1.0 and SSF 1.0.
const (
	caepTypes = "https://schemas.openid.net/secevent/caep/event-type/"
	riscTypes = "https://schemas.openid.net/secevent/risc/event-type/"
	ssfTypes  = "https://schemas.openid.net/secevent/ssf/event-type/"
)

// principal is what a simple subject of an event names.
type principal int

const (
	principalUser principal = iota
	principalSession
	principalDevice
	principalClaim // risk-level-change: the event's principal claim says
	principalNone  // no effect (stream verification)
)

// eventType is what the server knows of one event type.
type eventType struct {
	// principal is what a simple subject names.
	principal principal
	// required are the event claims that must be strings, with the values
	// they may take (nil: any non-empty string).
	required map[string][]string
	// object is an event claim that must be a non-empty object.
	object string
}

// eventTypes are the event types the server knows, by URI: those of CAEP
// and RISC that change decisions, and SSF's stream verification, which is
// accepted and changes nothing.
var eventTypes = map[string]eventType{
	caepTypes + "session-revoked":     {principal: principalSession},
	caepTypes + "token-claims-change": {object: "claims"},
	caepTypes + "credential-change": {required: map[string][]string{
		"credential_type": nil, "change_type": {"create", "revoke", "update", "delete"},
	}},
	caepTypes + "assurance-level-change": {required: map[string][]string{"namespace": nil, "current_level": nil}},
	caepTypes + "device-compliance-change": {principal: principalDevice, required: map[string][]string{
		"current_status": {"compliant", "not-compliant"}, "previous_status": {"compliant", "not-compliant"},
	}},
	caepTypes + "risk-level-change": {principal: principalClaim, required: map[string][]string{
		"current_level": {"LOW", "MEDIUM", "HIGH"}, "principal": nil,
	}},
	riscTypes + "account-credential-change-required": {},
	riscTypes + "account-disabled":                   {},
	riscTypes + "account-enabled":                    {},
	riscTypes + "account-purged":                     {},
	riscTypes + "credential-compromise":              {required: map[string][]string{"credential_type": nil}},
	riscTypes + "sessions-revoked":                   {},
	ssfTypes + "verification":                        {principal: principalNone},
}

// EventTypes lists the URIs of the event types the server knows, sorted.
func EventTypes() []string {
	out := make([]string, 0, len(eventTypes))
	for uri := range eventTypes {
		out = append(out, uri)
	}
	slices.Sort(out)
	return out
}

// shortName is an event type's last path segment.
func shortName(uri string) string { return uri[strings.LastIndexByte(uri, '/')+1:] }

// effectOf checks one event's payload against its type and reads what the
// effect keeps. The payload is the JSON object under the type's URI.
func effectOf(uri string, payload map[string]any, subID map[string]any, iat time.Time) (ssf.Effect, error) {
	et := eventTypes[uri]
	e := ssf.Effect{Event: shortName(uri), At: iat}
	for claim, values := range et.required {
		v, ok := payload[claim].(string)
		switch {
		case !ok || v == "":
			return e, fmt.Errorf("event %s: claim %s must be a non-empty string", e.Event, claim)
		case values != nil && !slices.Contains(values, v):
			return e, fmt.Errorf("event %s: claim %s is %q, not one of %s", e.Event, claim, v, strings.Join(values, ", "))
		}
	}
	if et.object != "" {
		if m, ok := payload[et.object].(map[string]any); !ok || len(m) == 0 {
			return e, fmt.Errorf("event %s: claim %s must be a non-empty object", e.Event, et.object)
		}
	}
	if v, ok := payload["event_timestamp"]; ok {
		n, isNum := v.(float64)
		if !isNum || n <= 0 || n > math.MaxInt32*4 {
			return e, fmt.Errorf("event %s: event_timestamp must be a positive number of seconds", e.Event)
		}
		sec, frac := math.Modf(n)
		e.At = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	e.Status, _ = payload["current_status"].(string)
	e.Level, _ = payload["current_level"].(string)
	e.Reason = reasonOf(payload)
	if et.principal == principalNone {
		return e, nil
	}
	p := et.principal
	if p == principalClaim {
		switch payload["principal"] {
		case "SESSION":
			p = principalSession
		case "DEVICE":
			p = principalDevice
		case "TENANT":
			p = principalNone
		default:
			p = principalUser
		}
	}
	sub, err := subjectOf(subID, p)
	if err != nil {
		return e, err
	}
	e.Subject = sub
	return e, nil
}

// reasonOf is reason_admin's English text (else any language's), or
// RISC's reason.
func reasonOf(payload map[string]any) string {
	if m, ok := payload["reason_admin"].(map[string]any); ok {
		if s, ok := m["en"].(string); ok {
			return s
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if s, ok := m[k].(string); ok {
				return s
			}
		}
	}
	s, _ := payload["reason"].(string)
	return s
}

// subjectOf reduces an RFC 9493 sub_id to an ssf.Subject. A simple
// identifier names p (principalNone: the tenant); a complex one sets each
// member it has. Formats other than email, iss_sub, opaque and complex,
// and complex members other than user, session, device and tenant, are
// refused: they could not be matched, and ignoring them would widen the
// event to subjects it is not about.
func subjectOf(subID map[string]any, p principal) (ssf.Subject, error) {
	var s ssf.Subject
	if subID == nil {
		return s, fmt.Errorf("sub_id is required")
	}
	format, _ := subID["format"].(string)
	if format != "complex" {
		id, email, err := simpleID(subID)
		if err != nil {
			return s, fmt.Errorf("sub_id: %w", err)
		}
		switch {
		case email != "":
			s.Email = email
		case p == principalSession:
			s.Session = id
		case p == principalDevice:
			s.Device = id
		case p == principalNone:
			s.Tenant = id
		default:
			s.User = id
		}
		return s, nil
	}
	for member, v := range subID {
		if member == "format" {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return s, fmt.Errorf("sub_id.%s must be an identifier object", member)
		}
		id, email, err := simpleID(m)
		if err != nil {
			return s, fmt.Errorf("sub_id.%s: %w", member, err)
		}
		switch member {
		case "user":
			s.User, s.Email = id, email
		case "session":
			s.Session = id
		case "device":
			s.Device = id
		case "tenant":
			s.Tenant = id
		default:
			return s, fmt.Errorf("sub_id.%s: complex subject member not supported (user, session, device, tenant)", member)
		}
		if email != "" && member != "user" {
			return s, fmt.Errorf("sub_id.%s: an email identifies a user, not a %s", member, member)
		}
	}
	if s.IsZero() {
		return s, fmt.Errorf("sub_id: a complex subject needs at least one member")
	}
	return s, nil
}

// simpleID reads an email, iss_sub or opaque identifier: the id (sub or
// id) or the lowercased email.
func simpleID(m map[string]any) (id, email string, err error) {
	format, _ := m["format"].(string)
	str := func(name string) (string, error) {
		v, ok := m[name].(string)
		if !ok || v == "" {
			return "", fmt.Errorf("format %s needs a non-empty %s", format, name)
		}
		return v, nil
	}
	switch format {
	case "email":
		email, err = str("email")
		return "", strings.ToLower(email), err
	case "iss_sub":
		if _, err := str("iss"); err != nil {
			return "", "", err
		}
		id, err = str("sub")
		return id, "", err
	case "opaque":
		id, err = str("id")
		return id, "", err
	case "":
		return "", "", fmt.Errorf("format is required")
	}
	return "", "", fmt.Errorf("format %q not supported (email, iss_sub, opaque, complex)", format)
}
