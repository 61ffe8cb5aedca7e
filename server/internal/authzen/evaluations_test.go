package authzen_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// decisions reads the decisions of an evaluations answer.
func decisions(t *testing.T, a answer) []map[string]any {
	t.Helper()
	authzentest.Valid(t, a.body, authzentest.EvaluationsResponse, authzentest.Obligations)
	var out struct{ Evaluations []map[string]any }
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Evaluations
}

func outcomes(ds []map[string]any) []bool {
	var out []bool
	for _, d := range ds {
		out = append(out, d["decision"].(bool))
	}
	return out
}

// threeDocuments asks whether alice may read documents 1, 2 and 3.
func threeDocuments(semantic string) string {
	options := ""
	if semantic != "" {
		options = fmt.Sprintf(`"options": {"evaluations_semantic": %q, "another_option": "value"},`, semantic)
	}
	return `{
	  "subject": {"type": "user", "id": "alice@example.com"},
	  "action": {"name": "read"},` + options + `
	  "evaluations": [
	    {"resource": {"type": "document", "id": "1"}},
	    {"resource": {"type": "document", "id": "2"}},
	    {"resource": {"type": "document", "id": "3"}}
	  ]
	}`
}

// oddDocuments allows documents 1 and 3.
var oddDocuments = allowIf(func(r *decision.Request) bool { return r.Resource.ID != "2" })

func TestEvaluationsAnswerInRequestOrderWithEachSemantic(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		semantic string
		want     []bool
	}{
		{"", []bool{true, false, true}},
		{authzen.ExecuteAll, []bool{true, false, true}},
		{authzen.DenyOnFirstDeny, []bool{true, false}},
		{authzen.PermitOnFirstPermit, []bool{true}},
	} {
		checker := &fakeChecker{decide: oddDocuments}
		srv := serve(t, authzen.Options{Checker: checker})
		got := outcomes(decisions(t, post(t, srv, "/tenants/acme/access/v1/evaluations", threeDocuments(tt.semantic)).want(t, http.StatusOK)))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: decisions %v, want %v", tt.semantic, got, tt.want)
		}
		if n := len(checker.requests()); n != len(tt.want) {
			t.Errorf("%q: %d items decided, want %d: the semantic stops at the first such result", tt.semantic, n, len(tt.want))
		}
	}
}

func TestPermitOnFirstPermitDecidesUntilThePermit(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: allowIf(func(r *decision.Request) bool { return r.Resource.ID == "2" })}})
	got := outcomes(decisions(t, post(t, srv, "/tenants/acme/access/v1/evaluations", threeDocuments(authzen.PermitOnFirstPermit)).want(t, http.StatusOK)))
	if want := []bool{false, true}; !reflect.DeepEqual(got, want) {
		t.Errorf("decisions %v, want %v", got, want)
	}
}

func TestItemsOverrideTheTopLevelDefaultsWhole(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{}
	srv := serve(t, authzen.Options{Checker: checker})
	post(t, srv, "/tenants/acme/access/v1/evaluations", `{
	  "subject": {"type": "user", "id": "alice@example.com"},
	  "context": {"time": "2024-05-31T15:22-07:00", "ticket": "T-1"},
	  "action": {"name": "can_read"},
	  "evaluations": [
	    {"resource": {"type": "document", "id": "boxcarring.md"}},
	    {"action": {"name": "can_edit"}, "resource": {"type": "document", "id": "resource-search.md"},
	     "subject": {"type": "user", "id": "bob@example.com"}, "context": {"ticket": "T-2"}}
	  ]
	}`).want(t, http.StatusOK)
	reqs := checker.requests()
	got := []string{
		reqs[0].Subject.ID, reqs[0].Action.Name, reqs[0].Resource.ID, fmt.Sprint(reqs[0].Attributes["ticket"]), reqs[0].Time.UTC().Format("15:04"),
		reqs[1].Subject.ID, reqs[1].Action.Name, reqs[1].Resource.ID, fmt.Sprint(reqs[1].Attributes["ticket"]), reqs[1].Time.UTC().Format("15:04"),
	}
	want := []string{
		"alice@example.com", "can_read", "boxcarring.md", "T-1", "22:22",
		// The item's context replaces the default whole: no time, the server clock.
		"bob@example.com", "can_edit", "resource-search.md", "T-2", "10:00",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestAnItemThatCannotBeDecidedIsFalseWithAnErrorAndTheBatchGoesOn(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: func(r *decision.Request) (*decision.Decision, error) {
		if r.Resource.ID == "broken" {
			return nil, fault.New(fault.Internal, "boom")
		}
		return &decision.Decision{Kind: decision.KindAllow, ID: "d", Enforced: true}, nil
	}}})
	ds := decisions(t, post(t, srv, "/tenants/acme/access/v1/evaluations", `{
	  "subject": {"type": "user", "id": "alice@example.com"},
	  "evaluations": [
	    {"action": {"name": "read"}, "resource": {"type": "document", "id": "1"}},
	    {"action": {"name": "read"}, "resource": {"type": "document"}},
	    {"resource": {"type": "document", "id": "3"}},
	    {"action": {"name": "read"}, "resource": {"type": "document", "id": "broken"}},
	    {"action": {"name": "read"}, "resource": {"type": "document", "id": "5"}}
	  ]
	}`).want(t, http.StatusOK))
	if got, want := outcomes(ds), []bool{true, false, false, false, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions %v, want %v", got, want)
	}
	for i, want := range map[int]struct {
		status  float64
		message string
	}{1: {400, "resource.id: required"}, 2: {400, "action: required"}, 3: {500, "internal error"}} {
		e := ds[i]["context"].(map[string]any)["error"].(map[string]any)
		if e["status"] != want.status || !strings.Contains(e["message"].(string), want.message) {
			t.Errorf("item %d error %v, want %v", i, e, want)
		}
	}
}

func TestEvaluationsWithoutItemsAreOneEvaluation(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	for _, body := range []string{aliceReadsAccount, strings.Replace(aliceReadsAccount, `{`, `{"evaluations": [],`, 1)} {
		a := post(t, srv, "/tenants/acme/access/v1/evaluations", body).want(t, http.StatusOK)
		authzentest.Valid(t, a.body, authzentest.EvaluationsResponse, authzentest.EvaluationResponse)
		if m := a.object(t); m["decision"] != true {
			t.Errorf("answered %s", a.body)
		}
	}
}

func TestEvaluationsRefuseAnUnknownSemanticAndTooManyItems(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	a := post(t, srv, "/tenants/acme/access/v1/evaluations", threeDocuments("all_of_them")).want(t, http.StatusBadRequest)
	if msg := a.errorMessage(t); !strings.Contains(msg, "options.evaluations_semantic") {
		t.Errorf("message %q", msg)
	}
	items := strings.Repeat(`{"resource": {"type": "d", "id": "1"}},`, authzen.MaxEvaluations+1)
	body := `{"subject": {"type": "user", "id": "u"}, "action": {"name": "r"}, "evaluations": [` + strings.TrimSuffix(items, ",") + `]}`
	post(t, srv, "/tenants/acme/access/v1/evaluations", body).want(t, http.StatusBadRequest)
}
