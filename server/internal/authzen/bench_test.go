package authzen_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen"
)

// BenchmarkEvaluation is what the AuthZEN door adds to a decision: reading
// and mapping the JSON, validating it, and writing the answer, with a
// checker that allows at once.
func BenchmarkEvaluation(b *testing.B) {
	h, err := authzen.New(authzen.Options{Checker: &fakeChecker{}})
	if err != nil {
		b.Fatal(err)
	}
	body := specRequests[2].body // the example with subject, resource and action properties
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tenants/acme/access/v1/evaluation", strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Body.String())
		}
	}
}
