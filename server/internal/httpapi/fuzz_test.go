package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/httpapi"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// allowAll decides every valid check as allowed.
type allowAll struct{}

func (allowAll) Decide(context.Context, *decision.Request) (*decision.Decision, error) {
	return &decision.Decision{Kind: decision.KindAllow, ID: "dec-1", PolicyRevision: "rev-1", Enforced: true,
		Risk: decision.Risk{Score: 0.1, Level: decision.RiskLow}}, nil
}

// keepEvents records every valid report, for the invariants below.
type keepEvents struct{ last *decision.Event }

func (k *keepEvents) Apply(_ context.Context, ev *decision.Event) (signals.Recorded, error) {
	k.last = ev
	return signals.Recorded{EventID: "ev-1", Event: *ev}, nil
}

// fuzzNow is the service clock of the HTTP door fuzz.
var fuzzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// FuzzHTTPDoors posts arbitrary bodies, with arbitrary content types, to
// POST /v1/check and POST /v1/report. Every answer is JSON: 200 exactly
// when the body is a pdp.v1 request in protojson (or empty) that the
// DecisionService's validation accepts; otherwise 400 (with complete
// field violations when validation refused it), 413 past the size limit,
// or 415 for a non-JSON body sent as something else. A recorded report
// always has its tenant, subject and event.
func FuzzHTTPDoors(f *testing.F) {
	for _, s := range []struct {
		report bool
		ct     string
		body   string
	}{
		{false, "application/json", `{"tenant":"acme","environment":"production","action":{"name":"read","resource":"/a"},"subject":{"id":"u1","roles":["x"]},"network":{"ip":"203.0.113.9","country":"DE"}}`},
		{false, "application/json", `{"tenant":"acme","action":{"name":"allow"},"time":"2026-01-02T03:04:05Z","session":{"id":"s","lastActivityAt":"2026-01-02T03:00:00Z"}}`},
		{false, "application/json; charset=utf-8", `{"tenant":"Acme","action":{},"network":{"ip":"::ffff:1.2.3.4"}}`},
		{false, "text/plain", `tenant=acme`},
		{false, "", ``},
		{false, "application/problem+json", `{"tenant":"acme","action":{"name":"a"},"unknown":1}`},
		{false, "application/json", `{"tenant":"acme","action":{"name":"a"},"attributes":{"k":[1,{"x":null}]}}`},
		{true, "application/json", `{"tenant":"acme","event":"EVENT_LOGIN_FAILED","subject":{"id":"u1"}}`},
		{true, "application/json", `{"tenant":"acme","event":"EVENT_MFA_SUCCEEDED","subject":{"id":"u1"},"time":"2026-01-02T03:04:00Z","network":{"ip":"2001:db8::1"}}`},
		{true, "application/json", `{"tenant":"acme","event":99,"subject":{}}`},
		{true, "application/json", `{"tenant":"acme","event":"EVENT_LOGOUT","subject":{"id":"u\u0000"},"time":"9999-12-31T23:59:59Z"}`},
		{true, "", ` `},
	} {
		f.Add(s.report, s.ct, []byte(s.body))
	}
	events := &keepEvents{}
	svc := decisionService(f, allowAll{}, events, fuzzNow)
	const maxBody = 4 << 10
	h := httpapi.NewHandler(httpapi.Options{Decisions: svc, MaxBodyBytes: maxBody})
	f.Fuzz(func(t *testing.T, report bool, contentType string, body []byte) {
		path, msg := "/v1/check", proto.Message(&pdpv1.CheckRequest{})
		if report {
			path, msg = "/v1/report", &pdpv1.ReportRequest{}
		}
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		events.last = nil
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		parsed := len(bytes.TrimSpace(body)) == 0 || protojson.Unmarshal(body, msg) == nil
		valid := false
		var err error
		if parsed && len(body) <= maxBody {
			if report {
				_, err = pdpsvc.ToEvent(msg.(*pdpv1.ReportRequest), fuzzNow)
			} else {
				_, err = pdpsvc.ToRequest(msg.(*pdpv1.CheckRequest), fuzzNow)
			}
			valid = err == nil
		}
		var answer struct {
			Code            string                                `json:"code"`
			Message         string                                `json:"message"`
			FieldViolations []struct{ Field, Description string } `json:"field_violations"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%s answered %d with a body that is not JSON: %q", path, w.Code, w.Body)
		}
		switch {
		case w.Code == http.StatusOK:
			if !valid {
				t.Fatalf("%s accepted %q, which the service refuses", path, body)
			}
			if report && (events.last == nil || events.last.Tenant == "" || events.last.Subject.ID == "" || events.last.Kind == decision.EventUnspecified) {
				t.Fatalf("recorded %+v for %q", events.last, body)
			}
			return
		case valid:
			t.Fatalf("%s refused a valid request %q: %d %s", path, body, w.Code, w.Body)
		case answer.Code == "" || answer.Message == "":
			t.Fatalf("%d without code or message: %s", w.Code, w.Body)
		}
		switch w.Code {
		case http.StatusRequestEntityTooLarge:
			if len(body) <= maxBody {
				t.Fatalf("413 for %d bytes", len(body))
			}
		case http.StatusUnsupportedMediaType:
			if parsed {
				t.Fatalf("415 for a body that parses: %q", body)
			}
		case http.StatusBadRequest:
			if parsed && len(answer.FieldViolations) == 0 {
				t.Fatalf("400 for a parsed body without field violations: %s", w.Body)
			}
			for _, v := range answer.FieldViolations {
				if v.Field == "" || v.Description == "" {
					t.Fatalf("incomplete violation %+v", v)
				}
			}
		default:
			t.Fatalf("%s answered %d %s to %q", path, w.Code, w.Body, body)
		}
	})
}
