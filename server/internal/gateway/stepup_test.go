package gateway

import (
	"slices"
	"strings"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
)

func TestTheStepUpKindsOfTheFlagsAreTheProtos(t *testing.T) {
	var words []string
	for n := range pdpv1.StepUpKind_name {
		if k := pdpv1.StepUpKind(n); k != pdpv1.StepUpKind_STEP_UP_KIND_UNSPECIFIED {
			words = append(words, strings.ToLower(strings.TrimPrefix(k.String(), "STEP_UP_")))
		}
	}
	slices.Sort(words)
	if !slices.Equal(words, config.StepUpKinds) {
		t.Fatalf("config.StepUpKinds %v, the proto's kinds %v", config.StepUpKinds, words)
	}
	for _, w := range words {
		if stepUpKind(w) == pdpv1.StepUpKind_STEP_UP_KIND_UNSPECIFIED {
			t.Errorf("--step-up-acr %s names no kind", w)
		}
	}
}
