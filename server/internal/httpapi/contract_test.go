package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/httpapi"
)

// explainingDecider denies, explaining one rule of each effect.
type explainingDecider struct{}

func (explainingDecider) Decide(context.Context, *decision.Request) (*decision.Decision, error) {
	d := &decision.Decision{Kind: decision.KindDeny, ID: "dec-1", Enforced: true}
	for _, e := range []string{decision.EffectDeny, decision.EffectChallenge, decision.EffectAllow, decision.EffectInfo} {
		d.Explanation = append(d.Explanation, decision.Explanation{Rule: "r." + e, Code: "c." + e, Effect: e, Matched: e == decision.EffectDeny, Message: "m"})
	}
	return d, nil
}

func TestHTTPCheckNamesExplainedEffectsByTheirEnumNames(t *testing.T) {
	t.Parallel()
	svc := decisionService(t, explainingDecider{}, fakeRecorder{}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h, _ := newHTTP(t, httpapi.Options{Decisions: svc})
	w := do(h, http.MethodPost, "/v1/check", "application/json", `{"tenant":"acme","action":{"name":"login"},"explain":true}`)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got struct {
		Explanation []struct{ Rule, Effect string } `json:"explanation"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []struct{ Rule, Effect string }{
		{"r.deny", "EFFECT_DENY"}, {"r.challenge", "EFFECT_CHALLENGE"}, {"r.allow", "EFFECT_ALLOW"}, {"r.info", "EFFECT_INFO"},
	}
	if diff := cmp.Diff(want, got.Explanation); diff != "" {
		t.Errorf("explanation (-want +got):\n%s", diff)
	}
}

func TestHTTPReportRefusesAnEventTheEnumDoesNotDefine(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	w := do(h, http.MethodPost, "/v1/report", "application/json", `{"tenant":"acme","event":99,"subject":{"id":"u1"}}`)
	e := decodeError(t, w)
	if w.Code != http.StatusBadRequest || len(e.FieldViolations) != 1 ||
		e.FieldViolations[0].Field != "event" || e.FieldViolations[0].Description != "unknown event 99" {
		t.Fatalf("status %d body %s, want 400 with event: unknown event 99", w.Code, w.Body)
	}
}
