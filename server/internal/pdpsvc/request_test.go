package pdpsvc

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

var testNow = time.Date(2026, time.March, 4, 5, 6, 7, 0, time.UTC)

// futureRule is the violation of an event dated past testNow and the skew.
const futureRule = "is ahead of the server's clock (2026-03-04T05:06:07Z); at most 5m0s of clock skew is accepted"

var addrComparer = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func parseCheck(t testing.TB, s string) *pdpv1.CheckRequest {
	t.Helper()
	in := &pdpv1.CheckRequest{}
	if err := protojson.Unmarshal([]byte(s), in); err != nil {
		t.Fatalf("protojson.Unmarshal(%.80s): %v", s, err)
	}
	return in
}

// violations returns the field violations of an InvalidArgument fault.
func violations(t *testing.T, err error) []fault.FieldViolation {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want InvalidArgument")
	}
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.InvalidArgument {
		t.Fatalf("got %v, want an InvalidArgument fault", err)
	}
	return fe.Fields
}

func TestToRequestInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidChecks {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ToRequest(parseCheck(t, tc.json), testNow)
			if diff := cmp.Diff(tc.want, violations(t, err)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestToRequestInvalidMessages covers what protojson cannot express:
// messages built in Go by a client library or another door.
func TestToRequestInvalidMessages(t *testing.T) {
	t.Parallel()
	base := func(mod func(*pdpv1.CheckRequest)) *pdpv1.CheckRequest {
		in := &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "login"}}
		mod(in)
		return in
	}
	tests := []struct {
		name string
		in   *pdpv1.CheckRequest
		want []fault.FieldViolation
	}{
		{"nil request", nil, []fault.FieldViolation{fv("tenant", "required"), fv("action.name", "required")}},
		{"invalid UTF-8", base(func(in *pdpv1.CheckRequest) { in.Network = &pdpv1.Network{City: "S\xffo Paulo"} }),
			[]fault.FieldViolation{fv("network.city", "not valid UTF-8")}},
		{"negative nanos", base(func(in *pdpv1.CheckRequest) { in.Time = &timestamppb.Timestamp{Seconds: 1e9, Nanos: -1} }),
			[]fault.FieldViolation{fv("time", "not a valid timestamp")}},
		{"after year 9999", base(func(in *pdpv1.CheckRequest) {
			in.Session = &pdpv1.Session{StartedAt: &timestamppb.Timestamp{Seconds: 253402300800}}
		}), []fault.FieldViolation{fv("session.started_at", "not a valid timestamp")}},
		{"attribute NaN", base(func(in *pdpv1.CheckRequest) {
			in.Attributes = &structpb.Struct{Fields: map[string]*structpb.Value{
				"b": structpb.NewNumberValue(math.NaN()),
				"a": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(math.Inf(-1))}}),
			}}
		}), []fault.FieldViolation{fv("attributes.a[0]", "must be a finite number"), fv("attributes.b", "must be a finite number")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ToRequest(tc.in, testNow)
			if diff := cmp.Diff(tc.want, violations(t, err)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToRequestAttributeViolationsCapped(t *testing.T) {
	t.Parallel()
	fields := map[string]*structpb.Value{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"} {
		fields[k] = structpb.NewNumberValue(math.NaN())
	}
	in := &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "x"}, Attributes: &structpb.Struct{Fields: fields}}
	_, err := ToRequest(in, testNow)
	if got := len(violations(t, err)); got != decision.MaxAttributeViolations {
		t.Errorf("got %d violations, want %d", got, decision.MaxAttributeViolations)
	}
}

func TestToRequestValid(t *testing.T) {
	t.Parallel()
	for _, s := range validChecks {
		t.Run(s[:min(len(s), 60)], func(t *testing.T) {
			t.Parallel()
			if _, err := ToRequest(parseCheck(t, s), testNow); err != nil {
				t.Fatalf("ToRequest: %v", err)
			}
		})
	}
}

const fullCheckCamel = `{
  "tenant": "acme", "environment": "staging",
  "subject": {"id": "u1", "email": "Alice@Example.com", "roles": ["admin", "dev"], "groups": ["eng"],
              "mfaEnrolled": true, "createdAt": "2025-01-02T03:04:05Z", "tenant": "acme"},
  "authentication": {"provider": "google", "methods": ["pwd", "otp"], "authenticatedAt": "2026-03-04T05:00:00Z",
                     "mfaVerifiedAt": "2026-03-04T05:01:00Z", "acr": "urn:mfa"},
  "network": {"ip": "::ffff:203.0.113.9", "country": "de", "region": "BE", "city": "Berlin",
              "latitude": 52.52, "longitude": 13.405, "asn": 3320},
  "device": {"id": "d1", "platform": "macos", "managed": true, "compliant": true},
  "action": {"name": "api.write", "resource": "/orders/7"},
  "session": {"id": "s1", "startedAt": "2026-03-04T04:00:00Z", "lastActivityAt": "2026-03-04T05:05:00Z"},
  "time": "2026-03-04T05:06:00Z",
  "attributes": {"ticket": "INC-1", "count": 2, "nested": {"ok": true, "list": [1, "two", null]}},
  "explain": true
}`

const fullCheckSnake = `{
  "tenant": "acme", "environment": "staging",
  "subject": {"id": "u1", "email": "Alice@Example.com", "roles": ["admin", "dev"], "groups": ["eng"],
              "mfa_enrolled": true, "created_at": "2025-01-02T03:04:05Z", "tenant": "acme"},
  "authentication": {"provider": "google", "methods": ["pwd", "otp"], "authenticated_at": "2026-03-04T05:00:00Z",
                     "mfa_verified_at": "2026-03-04T05:01:00Z", "acr": "urn:mfa"},
  "network": {"ip": "::ffff:203.0.113.9", "country": "de", "region": "BE", "city": "Berlin",
              "latitude": 52.52, "longitude": 13.405, "asn": 3320},
  "device": {"id": "d1", "platform": "macos", "managed": true, "compliant": true},
  "action": {"name": "api.write", "resource": "/orders/7"},
  "session": {"id": "s1", "started_at": "2026-03-04T04:00:00Z", "last_activity_at": "2026-03-04T05:05:00Z"},
  "time": "2026-03-04T05:06:00Z",
  "attributes": {"ticket": "INC-1", "count": 2, "nested": {"ok": true, "list": [1, "two", null]}},
  "explain": true
}`

func TestToRequestMapping(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	full := &decision.Request{
		Tenant: "acme", Environment: "staging",
		Subject: decision.Subject{ID: "u1", Email: "alice@example.com", Roles: []string{"admin", "dev"}, Groups: []string{"eng"},
			MFAEnrolled: true, CreatedAt: at("2025-01-02T03:04:05Z"), Tenant: "acme"},
		Authentication: decision.Authentication{Provider: "google", Methods: []string{"pwd", "otp"},
			AuthenticatedAt: at("2026-03-04T05:00:00Z"), MFAVerifiedAt: at("2026-03-04T05:01:00Z"), ACR: "urn:mfa"},
		Network: decision.Network{IP: netip.MustParseAddr("203.0.113.9"), Country: "DE", Region: "BE", City: "Berlin",
			HasLocation: true, Latitude: 52.52, Longitude: 13.405, ASN: 3320},
		Device:  decision.Device{ID: "d1", Platform: "macos", Managed: true, Compliant: true},
		Action:  decision.Action{Name: "api.write", Resource: "/orders/7"},
		Session: decision.Session{ID: "s1", StartedAt: at("2026-03-04T04:00:00Z"), LastActivityAt: at("2026-03-04T05:05:00Z")},
		Time:    at("2026-03-04T05:06:00Z"),
		Attributes: map[string]any{"ticket": "INC-1", "count": 2.0,
			"nested": map[string]any{"ok": true, "list": []any{1.0, "two", nil}}},
		Explain: true,
	}
	tests := []struct {
		name string
		json string
		want *decision.Request
	}{
		{"lowerCamel", fullCheckCamel, full},
		{"snake_case", fullCheckSnake, full},
		{"defaults", minimal(""), &decision.Request{Tenant: "acme", Environment: "production",
			Action: decision.Action{Name: "login"}, Time: testNow}},
		{"ipv6 kept", minimal(`"network":{"ip":"2001:db8::1"}`), &decision.Request{Tenant: "acme", Environment: "production",
			Action: decision.Action{Name: "login"}, Time: testNow, Network: decision.Network{IP: netip.MustParseAddr("2001:db8::1")}}},
		{"epoch time kept", minimal(`"time":"1970-01-01T00:00:00Z"`), &decision.Request{Tenant: "acme", Environment: "production",
			Action: decision.Action{Name: "login"}, Time: time.Unix(0, 0).UTC()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ToRequest(parseCheck(t, tc.json), testNow)
			if err != nil {
				t.Fatalf("ToRequest: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, addrComparer); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestToEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want *decision.Event
		errs []fault.FieldViolation
	}{
		{"missing everything", `{}`, nil,
			[]fault.FieldViolation{fv("tenant", "required"), fv("event", "required"), fv("subject.id", "required")}},
		{"unknown event", `{"tenant":"acme","event":99,"subject":{"id":"u1"}}`, nil,
			[]fault.FieldViolation{fv("event", "unknown event 99")}},
		{"bad ip and action", `{"tenant":"acme","event":"EVENT_ACTIVITY","subject":{"id":"u1"},"network":{"ip":"x"},"action":{"name":"a b"}}`, nil,
			[]fault.FieldViolation{fv("network.ip", "not an IPv4 or IPv6 address"), fv("action.name", actionRule)}},
		{"login failed, defaults", `{"tenant":"acme","event":"EVENT_LOGIN_FAILED","subject":{"id":"u1"}}`,
			&decision.Event{Tenant: "acme", Environment: "production", Kind: decision.EventLoginFailed,
				Subject: decision.Subject{ID: "u1"}, Time: testNow}, nil},
		{"activity, snake_case", `{"tenant":"acme","environment":"dev","event":"EVENT_ACTIVITY","subject":{"id":"u1","mfa_enrolled":true},
			"network":{"ip":"::ffff:10.0.0.1"},"action":{"name":"api.read"},"session":{"id":"s1","last_activity_at":"2026-01-01T00:00:00Z"},
			"time":"2026-01-01T00:00:01Z"}`,
			&decision.Event{Tenant: "acme", Environment: "dev", Kind: decision.EventActivity,
				Subject: decision.Subject{ID: "u1", MFAEnrolled: true}, Network: decision.Network{IP: netip.MustParseAddr("10.0.0.1")},
				Action:  decision.Action{Name: "api.read"},
				Session: decision.Session{ID: "s1", LastActivityAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
				Time:    time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)}, nil},
		{"time beyond the clock skew", `{"tenant":"acme","event":"EVENT_LOGIN_FAILED","subject":{"id":"u1"},"time":"2026-03-04T05:11:07.000000001Z"}`, nil,
			[]fault.FieldViolation{fv("time", futureRule)}},
		{"time in year 9999", `{"tenant":"acme","event":"EVENT_LOGIN_SUCCEEDED","subject":{"id":"u1"},"time":"9999-12-31T00:00:00Z"}`, nil,
			[]fault.FieldViolation{fv("time", futureRule)}},
		{"time at the edge of the clock skew", `{"tenant":"acme","event":"EVENT_LOGIN_FAILED","subject":{"id":"u1"},"time":"2026-03-04T05:11:07Z"}`,
			&decision.Event{Tenant: "acme", Environment: "production", Kind: decision.EventLoginFailed,
				Subject: decision.Subject{ID: "u1"}, Time: testNow.Add(decision.MaxClockSkew)}, nil},
	}
	kinds := map[string]decision.EventKind{
		"EVENT_LOGIN_SUCCEEDED": decision.EventLoginSucceeded, "EVENT_LOGIN_FAILED": decision.EventLoginFailed,
		"EVENT_MFA_SUCCEEDED": decision.EventMFASucceeded, "EVENT_MFA_FAILED": decision.EventMFAFailed,
		"EVENT_LOGOUT": decision.EventLogout, "EVENT_ACTIVITY": decision.EventActivity,
	}
	for name, kind := range kinds {
		tests = append(tests, struct {
			name string
			json string
			want *decision.Event
			errs []fault.FieldViolation
		}{name, `{"tenant":"t","event":"` + name + `","subject":{"id":"u"}}`,
			&decision.Event{Tenant: "t", Environment: "production", Kind: kind, Subject: decision.Subject{ID: "u"}, Time: testNow}, nil})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := &pdpv1.ReportRequest{}
			if err := protojson.Unmarshal([]byte(tc.json), in); err != nil {
				t.Fatal(err)
			}
			got, err := ToEvent(in, testNow)
			if tc.errs != nil {
				if diff := cmp.Diff(tc.errs, violations(t, err)); diff != "" {
					t.Errorf("violations (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToEvent: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, addrComparer); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

// CheckRequest.resource is the typed resource AuthZEN names, on every door
// that speaks the proto.
func TestToRequestTypedResource(t *testing.T) {
	t.Parallel()
	got, err := ToRequest(parseCheck(t, minimal(`"resource":{"type":"document","id":"d-1","properties":{"owner":"ana","tags":["x"]}}`)), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := decision.Resource{Type: "document", ID: "d-1", Properties: map[string]any{"owner": "ana", "tags": []any{"x"}}}
	if diff := cmp.Diff(want, got.Resource); diff != "" {
		t.Errorf("resource (-want +got):\n%s", diff)
	}
	_, err = ToRequest(parseCheck(t, minimal(`"resource":{"type":"document"}`)), testNow)
	if diff := cmp.Diff([]fault.FieldViolation{{Field: "resource.id", Description: "required when a resource is given"}}, violations(t, err)); diff != "" {
		t.Errorf("a resource without an id (-want +got):\n%s", diff)
	}
}
