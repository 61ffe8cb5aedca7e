package engine

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// variedRequest is the full request with one or two of the fields an
// input object is built from set to another value, so that requests
// share most objects with earlier ones and differ from them in any one
// field.
func variedRequest(r *rand.Rand) *decision.Request {
	req := fullRequest()
	req.Attributes = nil
	at := []time.Time{{}, t0, t0.Add(time.Second), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	change := []func(){
		func() { req.Subject.ID = "u-2" },
		func() { req.Subject.Email = "bob@acme.com" },
		func() { req.Subject.Roles = []string{"admin"} },
		func() { req.Subject.Groups = nil },
		func() { req.Subject.MFAEnrolled = false },
		func() { req.Subject.CreatedAt = at[r.IntN(4)] },
		func() { req.Subject.Tenant = "other" },
		func() { req.Subject.Type = "user" },
		func() { req.Subject.Properties = map[string]any{"k": "v"} },
		func() { req.Authentication.Provider = "okta" },
		func() { req.Authentication.Methods = []string{"pwd"} },
		func() { req.Authentication.ACR = "" },
		func() { req.Authentication.AuthenticatedAt = at[r.IntN(4)] },
		func() { req.Authentication.MFAVerifiedAt = at[r.IntN(4)] },
		func() {
			req.Network.IP = []netip.Addr{{}, netip.MustParseAddr("::ffff:203.0.113.7"), netip.MustParseAddr("2001:db8::1")}[r.IntN(3)]
		},
		func() { req.Network.Country = "PT" },
		func() { req.Network.Region = "" },
		func() { req.Network.City = "Lisbon" },
		func() { req.Network.ASN = 1 },
		func() { req.Network.HasLocation = false },
		func() { req.Network.Latitude = -0.0 },
		func() { req.Network.Longitude = 2.5 },
		func() { req.Device.ID = "d-2" },
		func() { req.Device.Platform = "" },
		func() { req.Device.Managed = false },
		func() { req.Device.Compliant = false },
		func() { req.Action.Name = "read" },
		func() { req.Action.Resource = "" },
		func() { req.Action.Properties = map[string]any{"k": "v"} },
		func() { req.Signals.Profile.Known = false },
		func() { req.Signals.Profile.Suspended = false },
		func() { req.Signals.Profile.SuspendedReason = "" },
		func() { req.Signals.Profile.MFAResetAt = at[r.IntN(4)] },
		func() { req.Signals.Profile.DeviceKnown = false },
		func() { req.Signals.Profile.LoginCount = 1 },
		func() { req.Signals.Profile.Countries = nil },
		func() { req.Signals.Profile.HourUsual = false },
		func() { req.Signals.Profile.ActionSeen = false },
		func() { req.Signals.Profile.FailedLogins = 0 },
		func() { req.Signals.Profile.IPFailedUsers = 0 },
		func() { req.Signals.Profile.IPFailedLogins = 0 },
		func() { req.Signals.Profile.Travel.Known = false },
		func() { req.Signals.Profile.Travel.DistanceKm = 1 },
		func() { req.Signals.Profile.Travel.SpeedKmh = 1 },
		func() { req.Signals.Profile.Travel.FromCountry = "" },
		func() { req.Signals.Profile.Travel.Since = at[r.IntN(4)] },
	}
	for range 1 + r.IntN(2) {
		change[r.IntN(len(change))]()
	}
	return req
}

// An input built with objects from the memo is the input built afresh,
// for every plan, over requests that share some objects with earlier
// ones and differ from them in any field.
func TestAMemoisedInputIsTheInputBuiltAfresh(t *testing.T) {
	t.Parallel()
	plans := map[string]inputPlan{
		"whole": nil,
		"a field of each object": {"subject": {"email": nil}, "authentication": {"acr": nil}, "network": {"latitude": nil},
			"device": {"platform": nil}, "action": {"resource": nil}, "signals": {"profile": {"travel": {"since_ns": nil}}}},
		"other fields": {"subject": {"roles": nil, "created_at_ns": nil, "type": nil}, "authentication": {"methods": nil, "mfa_verified_at_ns": nil},
			"network": {"ip": nil, "asn": nil}, "device": {"managed": nil}, "action": {"name": nil},
			"signals": {"profile": {"countries": nil, "login_count": nil, "mfa_reset_at_ns": nil, "suspended_reason": nil}}},
		"objects without fields": {"subject": {}, "network": {}, "signals": {"profile": {}}},
	}
	var m objectMemo
	r := rand.New(rand.NewPCG(5, 8))
	hits := 0
	seen := map[*ast.Term]bool{} // the subjects built so far
	for i := range 3000 {
		req := variedRequest(r)
		parts, err := convertParts(req)
		if err != nil {
			t.Fatal(err)
		}
		for name, pl := range plans {
			got := parts.inputWith(&m, req, req.Time, pl)
			if subject := got.(ast.Object).Get(kSubject); seen[subject] {
				hits++
			} else {
				seen[subject] = true
			}
			want := parts.inputWith(nil, req, req.Time, pl)
			if got.Compare(want) != 0 || got.String() != want.String() {
				t.Fatalf("request %d, plan %q:\n got %v\nwant %v", i, name, got, want)
			}
		}
	}
	if hits < 1000 {
		t.Fatalf("only %d inputs took their subject from the memo", hits)
	}
}
