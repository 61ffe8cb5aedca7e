package engine

import (
	"errors"
	"math"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

var (
	t0    = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) // 1767268800000000000 ns
	clock = func() time.Time { return t0.Add(time.Hour) }
)

// fullRequest sets every field of a request.
func fullRequest() *decision.Request {
	return &decision.Request{
		Tenant:      "acme",
		Environment: "staging",
		Subject: decision.Subject{
			ID: "u-1", Email: "ada@acme.com", Roles: []string{"admin", "dev"}, Groups: []string{"eng"},
			MFAEnrolled: true, CreatedAt: t0.Add(-24 * time.Hour), Tenant: "acme",
		},
		Authentication: decision.Authentication{
			Provider: "google", Methods: []string{"pwd", "otp"}, ACR: "aal2",
			AuthenticatedAt: t0.Add(-time.Minute), MFAVerifiedAt: t0.Add(-2 * time.Minute),
		},
		Network: decision.Network{
			IP: netip.MustParseAddr("203.0.113.7"), Country: "BR", Region: "SP", City: "São Paulo",
			HasLocation: true, Latitude: -23.55, Longitude: -46.633, ASN: 64500,
		},
		Device:     decision.Device{ID: "d-1", Platform: "macos", Managed: true, Compliant: true},
		Action:     decision.Action{Name: "admin.users.delete", Resource: "/users/7"},
		Session:    decision.Session{ID: "s-1", StartedAt: t0.Add(-time.Hour), LastActivityAt: t0.Add(-time.Second)},
		Time:       t0,
		Attributes: map[string]any{"path": "/x", "n": 1.5, "tags": []any{"a", true, nil}, "nested": map[string]any{"k": "v"}},
		Explain:    true,
		Caller:     decision.Caller{Name: "gateway", Role: "pep", SPIFFEID: "spiffe://acme/gw"},
		Signals: decision.Signals{
			IP:  decision.IPSignals{Checked: true, Denied: true, DeniedBy: "203.0.113.0/24 (feed)", Allowed: false, Suspicious: true, SuspiciousBy: "import"},
			Geo: decision.GeoSignals{Found: true, Country: "BR", City: "São Paulo", HasLocation: true, Latitude: -23.5, Longitude: -46.6},
			Profile: decision.ProfileSignals{
				Known: true, Suspended: true, SuspendedReason: "brute force", MFAResetAt: t0.Add(-48 * time.Hour),
				DeviceKnown: true, LoginCount: 12, Countries: []string{"BR", "PT"}, HourUsual: true, ActionSeen: true,
				FailedLogins: 3, IPFailedUsers: 4, IPFailedLogins: 9,
				Travel: decision.Travel{Known: true, DistanceKm: 7900.5, SpeedKmh: 1200, FromCountry: "PT", Since: t0.Add(-6 * time.Hour)},
			},
			SSOAvailable: false, SSOKnown: true,
		},
	}
}

func TestBuildInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  *decision.Request
		want string // the expected input, in Rego syntax
	}{
		{
			name: "every field",
			req:  fullRequest(),
			want: `{
				"tenant": "acme", "environment": "staging", "time_ns": 1767268800000000000,
				"subject": {"id": "u-1", "email": "ada@acme.com", "roles": ["admin", "dev"], "groups": ["eng"],
					"mfa_enrolled": true, "tenant": "acme", "created_at_ns": 1767182400000000000},
				"authentication": {"provider": "google", "methods": ["pwd", "otp"], "acr": "aal2",
					"authenticated_at_ns": 1767268740000000000, "mfa_verified_at_ns": 1767268680000000000},
				"network": {"ip": "203.0.113.7", "country": "BR", "region": "SP", "city": "São Paulo", "asn": 64500,
					"latitude": -23.55, "longitude": -46.633},
				"device": {"id": "d-1", "platform": "macos", "managed": true, "compliant": true},
				"action": {"name": "admin.users.delete", "resource": "/users/7"},
				"session": {"id": "s-1", "started_at_ns": 1767265200000000000, "last_activity_at_ns": 1767268799000000000},
				"attributes": {"path": "/x", "n": 1.5, "tags": ["a", true, null], "nested": {"k": "v"}},
				"explain": true,
				"caller": {"name": "gateway", "role": "pep", "spiffe_id": "spiffe://acme/gw"},
				"signals": {
					"ip": {"denied": true, "denied_by": "203.0.113.0/24 (feed)", "allowed": false,
						"suspicious": true, "suspicious_by": "import"},
					"geo": {"country": "BR", "city": "São Paulo", "latitude": -23.5, "longitude": -46.6},
					"profile": {"suspended": true, "suspended_reason": "brute force", "mfa_reset_at_ns": 1767096000000000000,
						"device_known": true, "login_count": 12, "countries": ["BR", "PT"], "hour_usual": true,
						"action_seen": true, "failed_logins": 3, "ip_failed_users": 4, "ip_failed_logins": 9,
						"travel": {"distance_km": 7900.5, "speed_kmh": 1200, "from_country": "PT", "since_ns": 1767247200000000000}},
					"sso_available": false
				}
			}`,
		},
		{
			name: "optional fields omitted, defaults filled",
			req:  &decision.Request{Tenant: "acme", Action: decision.Action{Name: "login"}},
			want: `{
				"tenant": "acme", "environment": "production", "time_ns": 1767272400000000000,
				"subject": {"id": "", "email": "", "roles": [], "groups": [], "mfa_enrolled": false, "tenant": ""},
				"authentication": {"provider": "", "methods": [], "acr": ""},
				"network": {"ip": "", "country": "", "region": "", "city": "", "asn": 0},
				"device": {"id": "", "platform": "", "managed": false, "compliant": false},
				"action": {"name": "login", "resource": ""},
				"session": {"id": ""},
				"attributes": {},
				"explain": false,
				"caller": {"name": "", "role": "", "spiffe_id": ""},
				"signals": {}
			}`,
		},
		{
			name: "signal groups without optional parts",
			req: &decision.Request{
				Tenant: "acme", Environment: "production", Time: t0, Action: decision.Action{Name: "login"},
				Signals: decision.Signals{
					Geo:     decision.GeoSignals{Found: true, Country: "PT"},
					Profile: decision.ProfileSignals{Known: true},
				},
			},
			want: `{
				"tenant": "acme", "environment": "production", "time_ns": 1767268800000000000,
				"subject": {"id": "", "email": "", "roles": [], "groups": [], "mfa_enrolled": false, "tenant": ""},
				"authentication": {"provider": "", "methods": [], "acr": ""},
				"network": {"ip": "", "country": "", "region": "", "city": "", "asn": 0},
				"device": {"id": "", "platform": "", "managed": false, "compliant": false},
				"action": {"name": "login", "resource": ""},
				"session": {"id": ""},
				"attributes": {},
				"explain": false,
				"caller": {"name": "", "role": "", "spiffe_id": ""},
				"signals": {
					"geo": {"country": "PT", "city": ""},
					"profile": {"suspended": false, "suspended_reason": "", "device_known": false, "login_count": 0,
						"countries": [], "hour_usual": false, "action_seen": false, "failed_logins": 0,
						"ip_failed_users": 0, "ip_failed_logins": 0}
				}
			}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := buildInput(tt.req, clock)
			if err != nil {
				t.Fatal(err)
			}
			want := ast.MustParseTerm(tt.want).Value
			if diff := cmp.Diff(jsonOf(t, want), jsonOf(t, got)); diff != "" {
				t.Errorf("input mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildInputIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ip   netip.Addr
		want string
	}{
		{"absent", netip.Addr{}, ""},
		{"ipv4", netip.MustParseAddr("192.0.2.1"), "192.0.2.1"},
		{"ipv6", netip.MustParseAddr("2001:db8::1"), "2001:db8::1"},
		{"ipv6 expanded", netip.MustParseAddr("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1"},
		{"ipv4-mapped ipv6 is unmapped", netip.MustParseAddr("::ffff:198.51.100.9"), "198.51.100.9"},
		{"zone dropped", netip.MustParseAddr("fe80::1%eth0"), "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &decision.Request{Tenant: "acme", Action: decision.Action{Name: "login"}, Network: decision.Network{IP: tt.ip}}
			in, err := buildInput(req, clock)
			if err != nil {
				t.Fatal(err)
			}
			got := in.(ast.Object).Get(kNetwork).Value.(ast.Object).Get(kIP).Value
			if diff := cmp.Diff(ast.Value(ast.String(tt.want)), got); diff != "" {
				t.Errorf("network.ip mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildInputSSODownSince: the time SSO went down reaches Rego only
// while it is down.
func TestBuildInputSSODownSince(t *testing.T) {
	t.Parallel()
	since := t0.Add(-30 * time.Minute)
	for _, tt := range []struct {
		name    string
		signals decision.Signals
		want    string // signals, in Rego syntax
	}{
		{"down", decision.Signals{SSOKnown: true, SSODownSince: since},
			`{"sso_available": false, "sso_down_since_ns": 1767267000000000000}`},
		{"down without a time", decision.Signals{SSOKnown: true}, `{"sso_available": false}`},
		{"up", decision.Signals{SSOKnown: true, SSOAvailable: true, SSODownSince: since}, `{"sso_available": true}`},
		{"unknown", decision.Signals{SSODownSince: since}, `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &decision.Request{Tenant: "acme", Action: decision.Action{Name: "login"}, Signals: tt.signals}
			in, err := buildInput(req, clock)
			if err != nil {
				t.Fatal(err)
			}
			got := in.(ast.Object).Get(ast.StringTerm("signals")).Value
			if diff := cmp.Diff(jsonOf(t, ast.MustParseTerm(tt.want).Value), jsonOf(t, got)); diff != "" {
				t.Errorf("signals mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildInputBadAttributes(t *testing.T) {
	t.Parallel()
	req := &decision.Request{Tenant: "acme", Action: decision.Action{Name: "login"},
		Attributes: map[string]any{"ch": make(chan int)}}
	_, err := buildInput(req, clock)
	if !errors.Is(err, fault.ErrInvalidArgument) {
		t.Fatalf("err = %v, want invalid argument", err)
	}
}

// jsonOf converts an ast value to Go values (json.Number for numbers) for
// readable diffs.
func jsonOf(t *testing.T, v ast.Value) any {
	t.Helper()
	x, err := ast.JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestBuildInputClampsTimesBeyondInt64Nanoseconds(t *testing.T) {
	t.Parallel()
	// Validation accepts times up to year 9999; int64 nanoseconds end in
	// 2262. A later time is the latest instant, never a wrapped number.
	req := fullRequest()
	req.Time = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	req.Authentication.MFAVerifiedAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := buildInput(req, clock)
	if err != nil {
		t.Fatal(err)
	}
	in := got.(ast.Object)
	max := ast.Number(strconv.FormatInt(math.MaxInt64, 10))
	if v := in.Get(ast.StringTerm("time_ns")); v == nil || v.Value.Compare(max) != 0 {
		t.Errorf("time_ns of year 9999 = %v, want %v", v, max)
	}
	authn := in.Get(ast.StringTerm("authentication")).Value.(ast.Object)
	if v := authn.Get(ast.StringTerm("mfa_verified_at_ns")); v == nil || v.Value.Compare(max) != 0 {
		t.Errorf("mfa_verified_at_ns of year 2300 = %v, want %v", v, max)
	}
}

// The AuthZEN parts of a request (subject type and properties, action
// properties, the typed resource) are in the input only when the request
// has them, so that every other input stays as it was.
func TestBuildInputHasTheAuthZENPartsWhenGiven(t *testing.T) {
	t.Parallel()
	req := &decision.Request{
		Tenant: "acme", Environment: "production", Time: t0,
		Subject:  decision.Subject{ID: "alice", Type: "user", Properties: map[string]any{"department": "Sales"}},
		Action:   decision.Action{Name: "can_read", Properties: map[string]any{"method": "GET"}},
		Resource: decision.Resource{Type: "document", ID: "d-1", Properties: map[string]any{"owner": "bob", "tags": []any{"x"}}},
	}
	got, err := buildInput(req, clock)
	if err != nil {
		t.Fatal(err)
	}
	want := ast.MustParseTerm(`{
		"tenant": "acme", "environment": "production", "time_ns": 1767268800000000000,
		"subject": {"id": "alice", "email": "", "roles": [], "groups": [], "mfa_enrolled": false, "tenant": "",
			"type": "user", "properties": {"department": "Sales"}},
		"authentication": {"provider": "", "methods": [], "acr": ""},
		"network": {"ip": "", "country": "", "region": "", "city": "", "asn": 0},
		"device": {"id": "", "platform": "", "managed": false, "compliant": false},
		"action": {"name": "can_read", "resource": "", "properties": {"method": "GET"}},
		"resource": {"type": "document", "id": "d-1", "properties": {"owner": "bob", "tags": ["x"]}},
		"session": {"id": ""},
		"attributes": {},
		"explain": false,
		"caller": {"name": "", "role": "", "spiffe_id": ""},
		"signals": {}
	}`).Value
	if diff := cmp.Diff(jsonOf(t, want), jsonOf(t, got)); diff != "" {
		t.Errorf("input mismatch (-want +got):\n%s", diff)
	}

	req.Resource = decision.Resource{Type: "document", ID: "d-1"}
	got, err = buildInput(req, clock)
	if err != nil {
		t.Fatal(err)
	}
	if r := jsonOf(t, got).(map[string]any)["resource"]; !cmp.Equal(r, map[string]any{"type": "document", "id": "d-1", "properties": map[string]any{}}) {
		t.Errorf("resource without properties: %v", r)
	}

	req.Subject.Properties = map[string]any{"bad": make(chan int)}
	if _, err := buildInput(req, clock); fault.As(err).Code != fault.InvalidArgument {
		t.Errorf("properties that are not JSON-like: %v, want InvalidArgument", err)
	}
}

func TestInputCarriesSharedSignalsEventsOnlyWhenThereAreSome(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	req := &decision.Request{Tenant: "acme", Action: decision.Action{Name: "api.read"}, Time: at}
	v, err := buildInput(req, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(ast.Object).Get(ast.StringTerm("signals")).String(); got != "{}" {
		t.Fatalf("signals without events: %s", got)
	}
	req.Signals.SSF.Events = []decision.SSFEvent{
		{Event: "risk-level-change", Stream: "okta", JTI: "j1", At: at, Level: "HIGH"},
		{Event: "session-revoked", Stream: "okta", JTI: "j2", At: at, Reason: "policy"},
	}
	v, err = buildInput(req, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ssf": {"events": [` +
		`{"event": "risk-level-change", "event_time_ns": 1773144000000000000, "jti": "j1", "level": "HIGH", "stream": "okta"}, ` +
		`{"event": "session-revoked", "event_time_ns": 1773144000000000000, "jti": "j2", "reason": "policy", "stream": "okta"}]}}`
	if got := v.(ast.Object).Get(ast.StringTerm("signals")).String(); got != want {
		t.Fatalf("signals\n got %s\nwant %s", got, want)
	}
}

// TestBuildInputStaysWithinItsAllocationBudget guards what input building
// costs per decision (bench/README.md, issue 11): the count is exact for a
// fixed request, so a change that adds allocations to every decision fails
// here rather than only in a benchmark nobody reads.
func TestBuildInputStaysWithinItsAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	req := fullRequest()
	const budget = 148
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := buildInput(req, clock); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > budget {
		t.Errorf("building the input of a full request allocates %v times, want at most %d", allocs, budget)
	}
}
