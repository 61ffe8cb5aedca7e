package pdpclient

import (
	"slices"
	"strconv"
	"strings"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// ACRValues maps a step-up kind to the authentication context class
// reference values (acr) requested from the authorization server when a
// challenge asks for that step-up. A value may hold several acr values
// separated by spaces. Kinds without an entry request no acr.
type ACRValues map[pdpv1.StepUpKind]string

// DefaultACRValues requests the PDP's acr URNs, the ones `pdp serve` puts
// in its own gateway challenges: "urn:pdp:acr:mfa" for STEP_UP_MFA,
// "urn:pdp:acr:mfa-enroll" for STEP_UP_ENROLL_MFA and "urn:pdp:acr:device"
// for STEP_UP_VERIFY_DEVICE. Re-authentication is asked by max_age=0 and a
// provider by the decision's allowed providers, so those kinds have none.
// Replace the values with those your authorization server knows (for
// example "phr").
func DefaultACRValues() ACRValues {
	return ACRValues{
		pdpv1.StepUpKind_STEP_UP_MFA:           "urn:pdp:acr:mfa",
		pdpv1.StepUpKind_STEP_UP_ENROLL_MFA:    "urn:pdp:acr:mfa-enroll",
		pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE: "urn:pdp:acr:device",
	}
}

// Challenge is a challenge decision in the terms of RFC 9470 (OAuth 2.0
// Step-Up Authentication Challenge).
type Challenge struct {
	// Description says what the user must do, for error_description.
	Description string
	// ACRValues are the acr values requested, in order of the step-ups.
	ACRValues []string
	// MaxAge is the strictest max_age of the step-ups, when HasMaxAge:
	// the max age of an MFA step-up, 0 for a re-authentication.
	MaxAge time.Duration
	// HasMaxAge reports whether MaxAge is set.
	HasMaxAge bool
}

// Challenge describes a challenge decision with acr values from acr (nil
// means DefaultACRValues). ok is false when the decision is not a challenge.
func (d *Decision) Challenge(acr ACRValues) (c Challenge, ok bool) {
	if !d.Challenged() {
		return Challenge{}, false
	}
	return NewChallenge(d.StepUps(), acr), true
}

// NewChallenge describes the step-ups of a challenge with acr values from
// acr (nil means DefaultACRValues). It is the one description of a
// challenge: the PDP's own gateway answers (Envoy ext_authz, forward-auth)
// use it too.
func NewChallenge(steps []*pdpv1.StepUp, acr ACRValues) Challenge {
	if acr == nil {
		acr = DefaultACRValues()
	}
	var c Challenge
	var descriptions []string
	for _, s := range steps {
		if text := describeStepUp(s); !slices.Contains(descriptions, text) {
			descriptions = append(descriptions, text)
		}
		for _, v := range strings.Fields(acr[s.GetKind()]) {
			if !slices.Contains(c.ACRValues, v) {
				c.ACRValues = append(c.ACRValues, v)
			}
		}
		age, has := time.Duration(0), false
		switch s.GetKind() {
		case pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE:
			has = true
		case pdpv1.StepUpKind_STEP_UP_MFA:
			// max_age is whole seconds on the wire.
			if d := s.GetMaxAge().AsDuration(); d > 0 {
				age, has = d.Truncate(time.Second), true
			}
		}
		if has && (!c.HasMaxAge || age < c.MaxAge) {
			c.MaxAge, c.HasMaxAge = age, true
		}
	}
	if len(descriptions) == 0 {
		descriptions = append(descriptions, "additional authentication required")
	}
	c.Description = strings.Join(descriptions, "; ")
	return c
}

// describeStepUp is the user-facing text of one step-up.
func describeStepUp(s *pdpv1.StepUp) string {
	switch s.GetKind() {
	case pdpv1.StepUpKind_STEP_UP_MFA:
		return "multi-factor authentication required"
	case pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE:
		return "re-authentication required"
	case pdpv1.StepUpKind_STEP_UP_ENROLL_MFA:
		return "enrollment in multi-factor authentication required"
	case pdpv1.StepUpKind_STEP_UP_USE_PROVIDER:
		if p := s.GetAllowedProviders(); len(p) > 0 {
			return "sign in with " + strings.Join(p, " or ")
		}
		return "sign in with another identity provider"
	case pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE:
		return "device verification required"
	}
	return "additional authentication required"
}

// Header is the WWW-Authenticate value of the challenge (RFC 9470 section
// 3), for example:
//
//	Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=300
func (c Challenge) Header() string {
	var b strings.Builder
	b.WriteString(`Bearer error="insufficient_user_authentication", error_description="`)
	b.WriteString(quoteSafe(c.Description))
	b.WriteString(`"`)
	if len(c.ACRValues) > 0 {
		b.WriteString(`, acr_values="`)
		b.WriteString(quoteSafe(strings.Join(c.ACRValues, " ")))
		b.WriteString(`"`)
	}
	if c.HasMaxAge {
		b.WriteString(", max_age=")
		b.WriteString(strconv.FormatInt(int64(c.MaxAge/time.Second), 10))
	}
	return b.String()
}

// quoteSafe keeps printable ASCII without quotes and backslashes, so the
// text fits an RFC 9110 quoted-string unescaped and can never break the
// header.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
