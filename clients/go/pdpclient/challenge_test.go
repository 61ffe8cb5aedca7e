package pdpclient_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func TestChallengeHeader(t *testing.T) {
	t.Parallel()
	const prefix = `Bearer error="insufficient_user_authentication", error_description=`
	reauth := &pdpv1.StepUp{Kind: pdpv1.StepUpKind_STEP_UP_REAUTHENTICATE}
	provider := &pdpv1.StepUp{Kind: pdpv1.StepUpKind_STEP_UP_USE_PROVIDER, AllowedProviders: []string{"google"}}
	device := &pdpv1.StepUp{Kind: pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE}
	enroll := &pdpv1.StepUp{Kind: pdpv1.StepUpKind_STEP_UP_ENROLL_MFA}
	tests := []struct {
		name    string
		stepUps []*pdpv1.StepUp
		acr     pdpclient.ACRValues
		want    string
	}{
		{name: "mfa", stepUps: []*pdpv1.StepUp{pdpfake.MFA(5 * time.Minute)},
			want: prefix + `"multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=300`},
		{name: "reauthenticate without max age", stepUps: []*pdpv1.StepUp{reauth},
			want: prefix + `"re-authentication required", max_age=0`},
		{name: "strictest max age and unique acr", stepUps: []*pdpv1.StepUp{pdpfake.MFA(time.Hour), enroll, pdpfake.MFA(90 * time.Second)},
			want: prefix + `"multi-factor authentication required; enrollment in multi-factor authentication required", acr_values="urn:pdp:acr:mfa urn:pdp:acr:mfa-enroll", max_age=90`},
		{name: "no acr for provider", stepUps: []*pdpv1.StepUp{provider},
			want: prefix + `"sign in with google"`},
		{name: "configured acr", stepUps: []*pdpv1.StepUp{pdpfake.MFA(time.Minute), device},
			acr: pdpclient.ACRValues{
				pdpv1.StepUpKind_STEP_UP_MFA:           "phrh phr",
				pdpv1.StepUpKind_STEP_UP_VERIFY_DEVICE: `urn:example:"device"`,
			},
			want: prefix + `"multi-factor authentication required; device verification required", acr_values="phrh phr urn:example:device", max_age=60`},
		{name: "control characters never reach the header", stepUps: []*pdpv1.StepUp{pdpfake.MFA(time.Minute)},
			acr:  pdpclient.ACRValues{pdpv1.StepUpKind_STEP_UP_MFA: "a\r\nX-Evil:\u00e9"},
			want: prefix + `"multi-factor authentication required", acr_values="a X-Evil:", max_age=60`},
		{name: "no step-ups", want: prefix + `"additional authentication required"`},
		{name: "no max age for a negative one", stepUps: []*pdpv1.StepUp{{Kind: pdpv1.StepUpKind_STEP_UP_MFA, MaxAge: durationpb.New(-time.Second)}},
			acr:  pdpclient.ACRValues{},
			want: prefix + `"multi-factor authentication required"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := pdpclient.NewDecision(pdpfake.Challenge(tt.stepUps...))
			c, ok := d.Challenge(tt.acr)
			if !ok {
				t.Fatal("not a challenge")
			}
			if got := c.Header(); got != tt.want {
				t.Errorf("header\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, ok := pdpclient.NewDecision(pdpfake.Deny("x")).Challenge(nil); ok {
		t.Error("a deny is a challenge")
	}
}
