package gateway

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MFAMethods are the amr values (RFC 8176, plus "webauthn" and "totp" as
// identity providers send them) that prove a second factor: a token whose
// amr holds one of them sets subject.mfa_enrolled and takes auth_time as
// authentication.mfa_verified_at.
var MFAMethods = []string{"mfa", "mca", "otp", "totp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "sc", "webauthn"}

// identityFromClaims maps the claims that lookup finds by path (see
// lookupClaim); each claim present replaces what a header set.
func (g *Gateway) identityFromClaims(b *builder, lookup func(path string) (any, bool), from string) {
	r := b.req
	src := func(name string) source { return source{kind: fromClaim, a: g.claims[name], b: from} }
	str := func(name, field string, set func(string)) {
		v, ok := lookup(g.claims[name])
		if !ok {
			return
		}
		s, isString := v.(string)
		if !isString {
			b.bad(field, src(name), "claim must be a string")
			return
		}
		set(s)
		b.source(field, src(name))
	}
	list := func(name, field string, set func([]string)) {
		v, ok := lookup(g.claims[name])
		if !ok {
			return
		}
		l, good := stringList(v)
		if !good {
			b.bad(field, src(name), "claim must be a string or an array of strings")
			return
		}
		set(l)
		b.source(field, src(name))
	}
	str("sub", "subject.id", func(s string) { r.Subject.ID = s })
	str("email", "subject.email", func(s string) { r.Subject.Email = s })
	str("tenant", "subject.tenant", func(s string) { r.Subject.Tenant = s })
	str("idp", "authentication.provider", func(s string) { r.Authentication.Provider = s })
	str("acr", "authentication.acr", func(s string) { r.Authentication.ACR = s })
	list("roles", "subject.roles", func(l []string) { r.Subject.Roles = l })
	list("amr", "authentication.methods", func(l []string) { r.Authentication.Methods = l })
	if v, ok := lookup(g.claims["mfa_enrolled"]); ok {
		if e, isBool := v.(bool); isBool {
			r.Subject.MFAEnrolled = e
			b.source("subject.mfa_enrolled", src("mfa_enrolled"))
		} else {
			b.bad("subject.mfa_enrolled", src("mfa_enrolled"), "claim must be a boolean")
		}
	}
	var authTime *timestamppb.Timestamp
	if v, ok := lookup(g.claims["auth_time"]); ok {
		t, good := numericDate(v)
		if !good {
			b.bad("authentication.authenticated_at", src("auth_time"), "claim must be a NumericDate (seconds since 1970)")
		} else {
			authTime = t
			b.authenticatedAt = t
			b.source("authentication.authenticated_at", src("auth_time"))
		}
	}
	if methods, _ := b.sourceFor("authentication.methods"); hasMFA(r.Authentication.Methods) && methods == src("amr") {
		r.Subject.MFAEnrolled = true
		b.source("subject.mfa_enrolled", src("amr"))
		if authTime != nil {
			b.mfaVerifiedAt = authTime
			b.source("authentication.mfa_verified_at", src("auth_time"))
		}
	}
}

// hasMFA reports whether any amr value proves a second factor.
func hasMFA(methods []string) bool {
	for _, m := range methods {
		if slices.Contains(MFAMethods, strings.ToLower(m)) {
			return true
		}
	}
	return false
}

// lookupClaim follows a dotted path through nested objects. A claim whose
// own name contains dots is found too, tried before the nested reading.
func lookupClaim(claims map[string]any, claimPath string) (any, bool) {
	if v, ok := claims[claimPath]; ok {
		return v, v != nil
	}
	head, rest, nested := strings.Cut(claimPath, ".")
	if !nested {
		return nil, false
	}
	obj, ok := claims[head].(map[string]any)
	if !ok {
		return nil, false
	}
	return lookupClaim(obj, rest)
}

// lookupPayloadClaim is lookupClaim over claims as a Struct: only the
// claim found is converted to a Go value, as Struct.AsMap converts it.
func lookupPayloadClaim(claims *structpb.Struct, claimPath string) (any, bool) {
	if v, ok := claims.GetFields()[claimPath]; ok {
		x := v.AsInterface()
		return x, x != nil
	}
	head, rest, nested := strings.Cut(claimPath, ".")
	if !nested {
		return nil, false
	}
	obj := claims.GetFields()[head].GetStructValue()
	if obj == nil {
		return nil, false
	}
	return lookupPayloadClaim(obj, rest)
}

// stringList accepts an array of strings, or a string of items separated
// by spaces or commas (as "scope"-style claims are written).
func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return splitList(x, " ,"), true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case []string:
		return slices.Clone(x), true
	}
	return nil, false
}

// numericDate reads a JWT NumericDate: a JSON number of seconds.
func numericDate(v any) (*timestamppb.Timestamp, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case json.Number:
		n, err := x.Float64()
		if err != nil {
			return nil, false
		}
		f = n
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	default:
		return nil, false
	}
	if math.IsNaN(f) || f < 0 || f > 253402300799 {
		return nil, false
	}
	sec, frac := math.Modf(f)
	return timestamppb.New(time.Unix(int64(sec), int64(frac*1e9)).UTC()), true
}
