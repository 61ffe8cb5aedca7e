package contract

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func fv(field, desc string) fault.FieldViolation {
	return fault.FieldViolation{Field: field, Description: desc}
}

func TestCheckWordsEachBrokenRuleAsTheServerDoes(t *testing.T) {
	t.Parallel()
	far := 91.0
	groups := make([]string, 257)
	for i := range groups {
		groups[i] = "g"
	}
	tests := []struct {
		name string
		in   proto.Message
		want []fault.FieldViolation
	}{
		{"required and too long", &pdpv1.CheckRequest{Environment: strings.Repeat("e", 64)},
			[]fault.FieldViolation{fv("tenant", "required"), fv("environment", "longer than 63 bytes")}},
		{"list entries", &pdpv1.CheckRequest{Tenant: "acme", Subject: &pdpv1.Subject{Groups: groups}},
			[]fault.FieldViolation{fv("subject.groups", "more than 256 entries")}},
		{"range", &pdpv1.CheckRequest{Tenant: "acme", Network: &pdpv1.Network{Latitude: &far}},
			[]fault.FieldViolation{fv("network.latitude", "must be between -90 and 90")}},
		{"unknown enum value", &pdpv1.ReportRequest{Tenant: "acme", Event: 42},
			[]fault.FieldViolation{fv("event", "unknown event 42")}},
		{"valid", &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGOUT}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Check(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeAnswersOncePerFieldInTheMessagesFieldOrder(t *testing.T) {
	t.Parallel()
	desc := (&pdpv1.CheckRequest{}).ProtoReflect().Descriptor()
	rules := []fault.FieldViolation{fv("tenant", "longer than 63 bytes"), fv("subject.roles[2]", "must not be empty")}
	own := []fault.FieldViolation{
		fv("tenant", "must start with a lowercase letter"),
		fv("attributes.a", "must be a finite number"),
		fv("environment", "must start with a lowercase letter"),
		fv("session.started_at", "is 1h0m0s after the request time"),
		fv("authentication.mfa_verified_at", "is 2h0m0s after the request time"),
		fv("subject.roles[1]", "contains control characters"),
	}
	want := []fault.FieldViolation{
		fv("tenant", "longer than 63 bytes"),
		fv("environment", "must start with a lowercase letter"),
		fv("subject.roles[2]", "must not be empty"),
		fv("subject.roles[1]", "contains control characters"),
		fv("authentication.mfa_verified_at", "is 2h0m0s after the request time"),
		fv("session.started_at", "is 1h0m0s after the request time"),
		fv("attributes.a", "must be a finite number"),
	}
	if diff := cmp.Diff(want, Merge(desc, rules, own)); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	if got := Merge(desc, nil, nil); len(got) != 0 {
		t.Errorf("Merge of nothing = %v", got)
	}
}
