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

// DefaultACRValues requests acr "mfa" for STEP_UP_MFA and STEP_UP_ENROLL_MFA.
// Replace the values with those your authorization server knows (for
// example "phr" or a URN).
func DefaultACRValues() ACRValues {
	return ACRValues{
		pdpv1.StepUpKind_STEP_UP_MFA:        "mfa",
		pdpv1.StepUpKind_STEP_UP_ENROLL_MFA: "mfa",
	}
}

// stepUpDescriptions are the fixed, user-facing error descriptions.
var stepUpDescriptions = map[pdpv1.StepUpKind]string{
	pdpv1.StepUpKind_STEP_UP_MFA:            "multi-factor authentication is required",
	pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE: "a more recent authentication is required",
	pdpv1.StepUpKind_STEP_UP_ENROLL_MFA:     "enrollment of a second factor is required",
	pdpv1.StepUpKind_STEP_UP_USE_PROVIDER:   "sign-in with another identity provider is required",
	pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE:  "device verification is required",
}

// Challenge is a challenge decision in the terms of RFC 9470 (OAuth 2.0
// Step-Up Authentication Challenge).
type Challenge struct {
	// Description says what the user must do, for error_description.
	Description string
	// ACRValues are the acr values requested, in order of the step-ups.
	ACRValues []string
	// MaxAge is the strictest max_age of the step-ups, when HasMaxAge.
	// A STEP_UP_REAUTHENTICATE without a max_age asks for 0: authenticate
	// now.
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
	if acr == nil {
		acr = DefaultACRValues()
	}
	var descriptions []string
	for _, s := range d.StepUps() {
		if text, found := stepUpDescriptions[s.GetKind()]; found && !slices.Contains(descriptions, text) {
			descriptions = append(descriptions, text)
		}
		for _, v := range strings.Fields(acr[s.GetKind()]) {
			if !slices.Contains(c.ACRValues, v) {
				c.ACRValues = append(c.ACRValues, v)
			}
		}
		age, has := time.Duration(0), false
		switch {
		case s.GetMaxAge() != nil:
			age, has = max(s.GetMaxAge().AsDuration(), 0), true
		case s.GetKind() == pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE:
			has = true
		}
		if has && (!c.HasMaxAge || age < c.MaxAge) {
			c.MaxAge, c.HasMaxAge = age, true
		}
	}
	if len(descriptions) == 0 {
		descriptions = append(descriptions, "a different authentication level is required")
	}
	c.Description = strings.Join(descriptions, "; ")
	return c, true
}

// Header is the WWW-Authenticate value of the challenge (RFC 9470 section
// 3), for example:
//
//	Bearer error="insufficient_user_authentication", error_description="multi-factor authentication is required", acr_values="mfa", max_age=300
func (c Challenge) Header() string {
	var b strings.Builder
	b.WriteString(`Bearer error="insufficient_user_authentication", error_description=`)
	writeQuoted(&b, c.Description)
	if len(c.ACRValues) > 0 {
		b.WriteString(", acr_values=")
		writeQuoted(&b, strings.Join(c.ACRValues, " "))
	}
	if c.HasMaxAge {
		b.WriteString(", max_age=")
		b.WriteString(strconv.FormatInt(int64(c.MaxAge/time.Second), 10))
	}
	return b.String()
}

// writeQuoted writes s as an HTTP quoted-string, replacing anything but
// printable ASCII so a value can never break the header.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
