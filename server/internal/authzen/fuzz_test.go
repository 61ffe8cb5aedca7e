package authzen_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

// FuzzAuthZENBodies sends arbitrary bodies to every endpoint. What holds:
// never a 5xx (the checker always decides), a 200 only with a document
// valid against the endpoint's schema, every refusal a 400 or 413 whose
// body is a JSON string, and every request the checker saw valid for the
// domain (Validate finds nothing left to refuse).
func FuzzAuthZENBodies(f *testing.F) {
	for _, ex := range specRequests {
		f.Add(ex.path, ex.body)
	}
	f.Add(authzen.PathEvaluation, `{"subject": {"type": "user", "id": "u", "properties": {"roles": ["a", ""]}}, "action": {"name": "r"}, "resource": {"type": "d", "id": "1"}, "context": {"time": "2026-01-01T00:00Z", "ip": "::ffff:10.0.0.1"}}`)
	f.Add(authzen.PathEvaluations, `{"evaluations": [{}], "options": {"evaluations_semantic": 7}}`)
	f.Add(authzen.PathSearchResource, `{"subject": {"type": "user", "id": "u"}, "action": {"name": "r"}, "resource": {"type": "account"}, "page": {"limit": 1.5, "token": "x"}}`)

	checker := &fakeChecker{decide: func(r *decision.Request) (*decision.Decision, error) {
		if fields := r.Validate(nil); len(fields) > 0 {
			return nil, errInvalidSeen
		}
		kind := decision.KindAllow
		if len(r.Resource.ID)%2 == 1 {
			kind = decision.KindChallenge
		}
		return &decision.Decision{Kind: kind, ID: "d", Enforced: true,
			StepUps: []decision.StepUp{{Kind: decision.StepUpMFA}}, Obligations: []decision.Obligation{{Kind: decision.ObligationAudit}}}, nil
	}}
	h, err := authzen.New(authzen.Options{Checker: checker, Directory: exampleDirectory, MaxBodyBytes: 1 << 14})
	if err != nil {
		f.Fatal(err)
	}
	schemas := map[string]string{
		authzen.PathEvaluation:     authzentest.EvaluationResponse,
		authzen.PathEvaluations:    authzentest.EvaluationsResponse,
		authzen.PathSearchSubject:  authzentest.SubjectResults,
		authzen.PathSearchResource: authzentest.ResourceResults,
		authzen.PathSearchAction:   authzentest.ActionResults,
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		schema, ok := schemas[path]
		if !ok {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tenants/acme"+path, strings.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
			if err := authzentest.Check(schema, rec.Body.Bytes()); err != nil {
				t.Fatalf("200 not valid against %s: %v\n%s", schema, err, rec.Body.Bytes())
			}
			if err := authzentest.Check(authzentest.Obligations, rec.Body.Bytes()); path != authzen.PathEvaluations && err != nil {
				t.Fatalf("obligations: %v\n%s", err, rec.Body.Bytes())
			}
			// An item the checker failed (a request the domain refuses)
			// says status 500.
			if bytes.Contains(rec.Body.Bytes(), []byte(`"status":500`)) {
				t.Fatalf("the checker was given a request the domain refuses: %s", rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var msg string
			if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg == "" {
				t.Fatalf("%d body is not a JSON string: %s", rec.Code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}

var errInvalidSeen = errFakeInvalid{}

type errFakeInvalid struct{}

func (errFakeInvalid) Error() string { return "checker saw an invalid request" }
