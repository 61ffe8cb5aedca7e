package pdpsvc

import (
	"fmt"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// invalidCheck is a CheckRequest in protojson that validation must refuse
// with exactly the listed field violations, in order.
type invalidCheck struct {
	name string
	json string
	want []fault.FieldViolation
}

func fv(field, desc string) fault.FieldViolation {
	return fault.FieldViolation{Field: field, Description: desc}
}

// minimal wraps extra JSON members in an otherwise valid request.
func minimal(extra string) string {
	if extra == "" {
		return `{"tenant":"acme","action":{"name":"login"}}`
	}
	return `{"tenant":"acme","action":{"name":"login"},` + extra + `}`
}

const (
	nameRule   = "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'"
	actionRule = "must start with a letter, a digit or '*' and contain only letters, digits, '.', '_', '-', ':', '/' and '*'"
	emailRule  = "must be a single plain email address such as user@example.com"
	yearRule   = "must be between year 1970 and 9999"
)

func jsonList(n int, item string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = `"` + item + `"`
	}
	return "[" + strings.Join(items, ",") + "]"
}

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{"a":1}` + strings.Repeat("}", depth-1)
}

var invalidChecks = []invalidCheck{
	{"empty", `{}`, []fault.FieldViolation{fv("tenant", "required"), fv("action.name", "required")}},
	{"tenant with space", `{"tenant":"acme corp","action":{"name":"login"}}`, []fault.FieldViolation{fv("tenant", nameRule)}},
	{"tenant leading dash", `{"tenant":"-acme","action":{"name":"login"}}`, []fault.FieldViolation{fv("tenant", nameRule)}},
	{"tenant hash tag", `{"tenant":"{acme}","action":{"name":"login"}}`, []fault.FieldViolation{fv("tenant", nameRule)}},
	{"tenant too long", fmt.Sprintf(`{"tenant":%q,"action":{"name":"login"}}`, strings.Repeat("a", MaxNameBytes+1)),
		[]fault.FieldViolation{fv("tenant", "longer than 63 bytes")}},
	{"tenant uppercase", `{"tenant":"Acme","action":{"name":"login"}}`, []fault.FieldViolation{fv("tenant", nameRule)}},
	{"tenant dot", `{"tenant":"acme.eu","action":{"name":"login"}}`, []fault.FieldViolation{fv("tenant", nameRule)}},
	{"environment charset", minimal(`"environment":"prod/eu"`), []fault.FieldViolation{fv("environment", nameRule)}},
	{"environment too long", minimal(fmt.Sprintf(`"environment":%q`, strings.Repeat("e", MaxNameBytes+1))),
		[]fault.FieldViolation{fv("environment", "longer than 63 bytes")}},
	{"environment uppercase", minimal(`"environment":"Staging"`), []fault.FieldViolation{fv("environment", nameRule)}},
	{"action missing", `{"tenant":"acme","action":{"resource":"/x"}}`, []fault.FieldViolation{fv("action.name", "required")}},
	{"action with space", `{"tenant":"acme","action":{"name":"log in"}}`, []fault.FieldViolation{fv("action.name", actionRule)}},
	{"action leading dot", `{"tenant":"acme","action":{"name":".login"}}`, []fault.FieldViolation{fv("action.name", actionRule)}},
	{"action too long", fmt.Sprintf(`{"tenant":"acme","action":{"name":%q}}`, strings.Repeat("a", MaxActionBytes+1)),
		[]fault.FieldViolation{fv("action.name", "longer than 256 bytes")}},
	{"action resource too long", fmt.Sprintf(`{"tenant":"acme","action":{"name":"api.read","resource":%q}}`, strings.Repeat("r", MaxStringBytes+1)),
		[]fault.FieldViolation{fv("action.resource", "longer than 1024 bytes")}},
	{"ip garbage", minimal(`"network":{"ip":"300.1.1.1"}`), []fault.FieldViolation{fv("network.ip", "not an IPv4 or IPv6 address")}},
	{"ip cidr", minimal(`"network":{"ip":"10.0.0.0/8"}`), []fault.FieldViolation{fv("network.ip", "not an IPv4 or IPv6 address")}},
	{"ip with port", minimal(`"network":{"ip":"10.0.0.1:443"}`), []fault.FieldViolation{fv("network.ip", "not an IPv4 or IPv6 address")}},
	{"ip zone", minimal(`"network":{"ip":"fe80::1%eth0"}`), []fault.FieldViolation{fv("network.ip", "must not have a zone")}},
	{"country three letters", minimal(`"network":{"country":"USA"}`), []fault.FieldViolation{fv("network.country", "must be an ISO 3166-1 alpha-2 code such as US")}},
	{"country digit", minimal(`"network":{"country":"1A"}`), []fault.FieldViolation{fv("network.country", "must be an ISO 3166-1 alpha-2 code such as US")}},
	{"latitude range", minimal(`"network":{"latitude":90.5,"longitude":0}`), []fault.FieldViolation{fv("network.latitude", "must be between -90 and 90")}},
	{"longitude range", minimal(`"network":{"latitude":0,"longitude":-180.01}`), []fault.FieldViolation{fv("network.longitude", "must be between -180 and 180")}},
	{"latitude NaN", minimal(`"network":{"latitude":"NaN","longitude":1}`), []fault.FieldViolation{fv("network.latitude", "must be between -90 and 90")}},
	{"longitude infinite", minimal(`"network":{"latitude":1,"longitude":"Infinity"}`), []fault.FieldViolation{fv("network.longitude", "must be between -180 and 180")}},
	{"latitude alone", minimal(`"network":{"latitude":10}`), []fault.FieldViolation{fv("network.longitude", "required when network.latitude is set")}},
	{"longitude alone", minimal(`"network":{"longitude":10}`), []fault.FieldViolation{fv("network.latitude", "required when network.longitude is set")}},
	{"region control char", minimal(`"network":{"region":"a\u0007b"}`), []fault.FieldViolation{fv("network.region", "contains control characters")}},
	{"email display name", minimal(`"subject":{"email":"Bob <bob@example.com>"}`), []fault.FieldViolation{fv("subject.email", emailRule)}},
	{"email list", minimal(`"subject":{"email":"a@example.com, b@example.com"}`), []fault.FieldViolation{fv("subject.email", emailRule)}},
	{"email no at", minimal(`"subject":{"email":"bob.example.com"}`), []fault.FieldViolation{fv("subject.email", emailRule)}},
	{"email surrounding space", minimal(`"subject":{"email":" bob@example.com"}`), []fault.FieldViolation{fv("subject.email", emailRule)}},
	{"email comment", minimal(`"subject":{"email":"bob@example.com (Bob)"}`), []fault.FieldViolation{fv("subject.email", emailRule)}},
	{"email too long", minimal(fmt.Sprintf(`"subject":{"email":"%s@example.com"}`, strings.Repeat("b", 243))),
		[]fault.FieldViolation{fv("subject.email", "longer than 254 bytes")}},
	{"subject id too long", minimal(fmt.Sprintf(`"subject":{"id":%q}`, strings.Repeat("u", MaxStringBytes+1))),
		[]fault.FieldViolation{fv("subject.id", "longer than 1024 bytes")}},
	{"subject tenant charset", minimal(`"subject":{"tenant":"other tenant"}`), []fault.FieldViolation{fv("subject.tenant", nameRule)}},
	{"too many roles", minimal(`"subject":{"roles":` + jsonList(MaxListEntries+1, "r") + `}`),
		[]fault.FieldViolation{fv("subject.roles", "more than 256 entries")}},
	{"empty group", minimal(`"subject":{"groups":["eng",""]}`), []fault.FieldViolation{fv("subject.groups[1]", "must not be empty")}},
	{"role too long", minimal(fmt.Sprintf(`"subject":{"roles":["admin",%q]}`, strings.Repeat("r", MaxStringBytes+1))),
		[]fault.FieldViolation{fv("subject.roles[1]", "longer than 1024 bytes")}},
	{"too many methods", minimal(`"authentication":{"methods":` + jsonList(MaxListEntries+1, "otp") + `}`),
		[]fault.FieldViolation{fv("authentication.methods", "more than 256 entries")}},
	{"provider control char", minimal(`"authentication":{"provider":"goo\ngle"}`), []fault.FieldViolation{fv("authentication.provider", "contains control characters")}},
	{"mfa verified before 1970", minimal(`"authentication":{"mfaVerifiedAt":"1969-12-31T23:59:59Z"}`),
		[]fault.FieldViolation{fv("authentication.mfa_verified_at", yearRule)}},
	{"authenticated year one", minimal(`"authentication":{"authenticated_at":"0001-01-01T00:00:00Z"}`),
		[]fault.FieldViolation{fv("authentication.authenticated_at", yearRule)}},
	{"created before 1970", minimal(`"subject":{"createdAt":"1900-01-01T00:00:00Z"}`), []fault.FieldViolation{fv("subject.created_at", yearRule)}},
	{"session started before 1970", minimal(`"session":{"startedAt":"1960-01-01T00:00:00Z"}`), []fault.FieldViolation{fv("session.started_at", yearRule)}},
	{"session activity before 1970", minimal(`"session":{"last_activity_at":"1960-01-01T00:00:00Z"}`),
		[]fault.FieldViolation{fv("session.last_activity_at", yearRule)}},
	{"time before 1970", minimal(`"time":"1950-06-01T00:00:00Z"`), []fault.FieldViolation{fv("time", yearRule)}},
	{"mfa verified in the future", minimal(`"time":"2026-01-01T12:00:00Z","authentication":{"mfaVerifiedAt":"2026-01-01T12:05:01Z"}`),
		[]fault.FieldViolation{fv("authentication.mfa_verified_at", "is 5m1s after the request time; at most 5m0s of clock skew is accepted")}},
	{"future proofs all named", minimal(`"time":"2026-01-01T12:00:00Z","authentication":{"authenticatedAt":"2027-01-01T00:00:00Z"},` +
		`"session":{"startedAt":"2026-01-01T13:00:00Z","lastActivityAt":"2026-01-01T12:30:00Z"}`),
		[]fault.FieldViolation{
			fv("authentication.authenticated_at", "is 8748h0m0s after the request time; at most 5m0s of clock skew is accepted"),
			fv("session.last_activity_at", "is 30m0s after the request time; at most 5m0s of clock skew is accepted"),
			fv("session.started_at", "is 1h0m0s after the request time; at most 5m0s of clock skew is accepted"),
		}},
	{"mfa verified in year 9999", minimal(`"time":"2026-01-01T12:00:00Z","authentication":{"mfaVerifiedAt":"9999-12-31T00:00:00Z"}`),
		[]fault.FieldViolation{fv("authentication.mfa_verified_at", "is 9999-12-31T00:00:00Z, more than a year after the request time "+
			"(2026-01-01T12:00:00Z); at most 5m0s of clock skew is accepted")}},
	{"device id control char", minimal(`"device":{"id":"d\u0000"}`), []fault.FieldViolation{fv("device.id", "contains control characters")}},
	{"device platform too long", minimal(fmt.Sprintf(`"device":{"platform":%q}`, strings.Repeat("p", MaxStringBytes+1))),
		[]fault.FieldViolation{fv("device.platform", "longer than 1024 bytes")}},
	{"attributes too deep", minimal(`"attributes":` + nested(decision.MaxAttributesDepth+1)),
		[]fault.FieldViolation{fv("attributes"+strings.Repeat(".a", decision.MaxAttributesDepth), "nested deeper than 16 levels")}},
	{"attributes list too deep", minimal(`"attributes":{"l":` + strings.Repeat("[", decision.MaxAttributesDepth) + strings.Repeat("]", decision.MaxAttributesDepth) + `}`),
		[]fault.FieldViolation{fv("attributes.l"+strings.Repeat("[0]", decision.MaxAttributesDepth-1), "nested deeper than 16 levels")}},
	{"attributes too large", minimal(fmt.Sprintf(`"attributes":{"blob":%q}`, strings.Repeat("x", MaxAttributesBytes))),
		[]fault.FieldViolation{fv("attributes", "larger than 65536 bytes encoded")}},
	{"everything at once",
		`{"tenant":"a b","environment":"x y","subject":{"email":"nope"},"network":{"ip":"nope","country":"ZZZ"},"action":{}}`,
		[]fault.FieldViolation{
			fv("tenant", nameRule), fv("environment", nameRule), fv("subject.email", emailRule),
			fv("network.ip", "not an IPv4 or IPv6 address"), fv("network.country", "must be an ISO 3166-1 alpha-2 code such as US"),
			fv("action.name", "required"),
		}},
}

// validChecks are accepted CheckRequests; they seed the fuzz target too.
var validChecks = []string{
	minimal(""),
	minimal(`"environment":"staging","network":{"ip":"::ffff:192.0.2.7","country":"br"}`),
	minimal(`"network":{"ip":"2001:db8::1","latitude":-90,"longitude":180,"asn":64500}`),
	minimal(`"subject":{"id":"u1","email":"Alice@Example.COM","roles":["admin"],"groups":["eng"],"mfaEnrolled":true}`),
	minimal(`"authentication":{"provider":"saml:okta","methods":["pwd","otp"],"mfa_verified_at":"2026-01-01T00:00:00Z"}`),
	minimal(`"attributes":` + nested(decision.MaxAttributesDepth)),
	minimal(`"time":"1970-01-01T00:00:00Z","explain":true`),
	`{"tenant":"0acme_eu-1","environment":"eu_prod-2","action":{"name":"admin.*"}}`,
	`{"tenant":"acme","action":{"name":"*"}}`,
	`{"tenant":"acme","action":{"name":"http.get","resource":"/v1/users?id=1"}}`,
}
