package decision_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func fv(field, desc string) fault.FieldViolation {
	return fault.FieldViolation{Field: field, Description: desc}
}

func TestValidateReportsADoorsProblemsInTheirFieldsPlace(t *testing.T) {
	t.Parallel()
	var p decision.Problems
	p.Add("time", decision.NotATimestamp) // added first, reported in its place
	ip := decision.ParseIP(&p, "network.ip", "10.0.0.300")
	r := &decision.Request{
		Tenant:  "Shop!",
		Subject: decision.Subject{Email: "not an email"},
		Network: decision.Network{IP: ip, Country: "usa"},
		Action:  decision.Action{Name: "read"},
	}
	want := []fault.FieldViolation{
		fv("tenant", "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'"),
		fv("subject.email", "must be a single plain email address such as user@example.com"),
		fv("network.ip", decision.NotAnIP),
		fv("network.country", "must be an ISO 3166-1 alpha-2 code such as US"),
		fv("time", decision.NotATimestamp),
	}
	if diff := cmp.Diff(want, r.Validate(p)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestValidateNormalises(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	r := &decision.Request{
		Tenant:  "shop",
		Subject: decision.Subject{Email: "Ana@Shop.example", Roles: []string{"admin"}},
		Network: decision.Network{IP: netip.MustParseAddr("::ffff:10.0.0.1"), Country: "de"},
		Action:  decision.Action{Name: "read"},
		Time:    at,
	}
	if v := r.Validate(nil); len(v) != 0 {
		t.Fatalf("violations %v", v)
	}
	if r.Environment != decision.DefaultEnvironment || r.Subject.Email != "ana@shop.example" ||
		r.Network.IP.String() != "10.0.0.1" || r.Network.Country != "DE" {
		t.Errorf("not normalised: %+v", r)
	}
}

func TestEventValidateRefusesTheFuture(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	e := &decision.Event{Tenant: "shop", Kind: decision.EventLoginFailed, Time: now.Add(decision.MaxClockSkew + time.Second)}
	got := e.Validate(now, nil)
	if len(got) != 2 || got[0].Field != "subject.id" || got[1].Field != "time" {
		t.Errorf("violations %v, want subject.id required and time ahead of the clock", got)
	}
}

func TestValidNameIsTheOneRuleForNames(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"shop": true, "a-b_c9": true, "0x": true, "": false, "Shop": false, "-a": false, "a.b": false,
		string(make([]byte, decision.MaxNameBytes+1)): false,
	} {
		if got := decision.ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidateChecksTheTypedResourceAndProperties(t *testing.T) {
	t.Parallel()
	deep := map[string]any{}
	for i, m := 0, deep; i < decision.MaxAttributesDepth; i++ {
		next := map[string]any{}
		m["x"] = next
		m = next
	}
	for _, tt := range []struct {
		name string
		r    decision.Request
		want []fault.FieldViolation
	}{
		{"no resource", decision.Request{Tenant: "shop", Action: decision.Action{Name: "read"}}, nil},
		{"a typed resource", decision.Request{Tenant: "shop", Action: decision.Action{Name: "read"},
			Resource: decision.Resource{Type: "document", ID: "d-1", Properties: map[string]any{"owner": "ana"}}}, nil},
		{"a resource without an id", decision.Request{Tenant: "shop", Action: decision.Action{Name: "read"},
			Resource: decision.Resource{Type: "document"}}, []fault.FieldViolation{fv("resource.id", "required when a resource is given")}},
		{"properties without a type", decision.Request{Tenant: "shop", Action: decision.Action{Name: "read"},
			Resource: decision.Resource{Properties: map[string]any{"a": 1.0}}},
			[]fault.FieldViolation{fv("resource.type", "required when a resource is given"), fv("resource.id", "required when a resource is given")}},
		{"a control character", decision.Request{Tenant: "shop", Action: decision.Action{Name: "read"},
			Resource: decision.Resource{Type: "doc\x00", ID: "1"}}, []fault.FieldViolation{fv("resource.type", "contains control characters")}},
	} {
		got := tt.r.Validate(nil)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: violations (-want +got):\n%s", tt.name, diff)
		}
	}
	r := decision.Request{Tenant: "shop", Action: decision.Action{Name: "read", Properties: deep}}
	if got := r.Validate(nil); len(got) != 1 || !strings.HasPrefix(got[0].Field, "action.properties.") || r.Action.Properties != nil {
		t.Errorf("properties nested too deep: %v", got)
	}
}

// Attributes without a problem cost their validation no allocations: the
// paths that name problems are built only when there is one.
func TestValidatingFineAttributesAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	base := decision.Request{Tenant: "shop", Action: decision.Action{Name: "read"}, Time: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
	attrs := map[string]any{
		"http": map[string]any{"method": "GET", "path": "/v1/items"},
		"plan": "pro", "seats": 12.0, "tags": []any{"a", map[string]any{"b": true}},
	}
	validate := func(attrs map[string]any) func() {
		return func() {
			r := base
			r.Attributes, r.Subject.Properties, r.Action.Properties = attrs, attrs, attrs
			if v := r.Validate(nil); len(v) != 0 {
				t.Fatalf("violations %v", v)
			}
		}
	}
	without, with := testing.AllocsPerRun(100, validate(nil)), testing.AllocsPerRun(100, validate(attrs))
	if with != without {
		t.Errorf("Validate allocates %v times with attributes, %v without", with, without)
	}
}
