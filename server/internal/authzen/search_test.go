package authzen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

// directory is a fixed Directory.
type directory struct{ known authzen.Candidates }

func (d *directory) Candidates(context.Context, string, string) (*authzen.Candidates, error) {
	c := d.known
	return &c, nil
}

var exampleDirectory = &directory{known: authzen.Candidates{
	Subjects: []authzen.Entity{
		{Type: "user", ID: "bob@example.com", Properties: map[string]any{"roles": []any{"viewer"}}},
		{Type: "user", ID: "alice@example.com", Properties: map[string]any{"roles": []any{"owner"}}},
		{Type: "user", ID: "carol@example.com"},
		{Type: "service", ID: "backup"},
		{Type: "user", ID: "alice@example.com"},
	},
	Resources: []authzen.Entity{
		{Type: "account", ID: "789"}, {Type: "account", ID: "123"}, {Type: "account", ID: "456"}, {Type: "document", ID: "1"},
	},
	Actions: []string{"can_write", "can_read", "can_delete", "can_read"},
}}

type searchAnswer struct {
	Page struct {
		NextToken  string `json:"next_token"`
		Count      int
		Total      *int
		Properties map[string]any
	}
	Results []map[string]any
}

func searchOn(t *testing.T, a answer, schema string) searchAnswer {
	t.Helper()
	a.want(t, http.StatusOK)
	authzentest.Valid(t, a.body, schema, authzentest.Obligations)
	var out searchAnswer
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(rs []map[string]any, key string) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprint(r[key]))
	}
	return out
}

func TestSubjectSearchReturnsTheKnownSubjectsOfTheTypeThatArePermitted(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{decide: allowIf(func(r *decision.Request) bool { return r.Subject.ID != "bob@example.com" })}
	srv := serve(t, authzen.Options{Checker: &fakeChecker{}, Searcher: checker, Directory: exampleDirectory})
	got := searchOn(t, post(t, srv, "/tenants/acme/access/v1/search/subject", `{
	  "subject": {"type": "user", "id": "ignored@example.com"},
	  "action": {"name": "can_read"},
	  "resource": {"type": "account", "id": "123"},
	  "context": {"environment": "staging"}
	}`), authzentest.SubjectResults)
	if want := []string{"alice@example.com", "carol@example.com"}; !reflect.DeepEqual(ids(got.Results, "id"), want) {
		t.Errorf("results %v, want %v", ids(got.Results, "id"), want)
	}
	if got.Page.NextToken != "" || got.Page.Count != 2 || got.Page.Total == nil || *got.Page.Total != 2 {
		t.Errorf("page %+v", got.Page)
	}
	reqs := checker.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d candidates decided, want the 3 users", len(reqs))
	}
	for _, r := range reqs {
		if r.Subject.ID == "ignored@example.com" || r.Action.Name != "can_read" || r.Resource.ID != "123" || r.Environment != "staging" || r.Tenant != "acme" {
			t.Errorf("candidate decided as %+v", r)
		}
	}
	// The directory's properties of the subject are decided with it.
	if roles := reqs[0].Subject.Roles; !reflect.DeepEqual(roles, []string{"owner"}) {
		t.Errorf("alice decided with roles %v", roles)
	}
}

func TestResourceSearchPagesThroughThePermittedResources(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{}
	srv := serve(t, authzen.Options{Checker: checker, Directory: exampleDirectory})
	first := `{
	  "subject": {"type": "user", "id": "alice@example.com"},
	  "action": {"name": "can_read"},
	  "resource": {"type": "account"},
	  "page": {"limit": 2}
	}`
	p1 := searchOn(t, post(t, srv, "/tenants/acme/access/v1/search/resource", first), authzentest.ResourceResults)
	if !reflect.DeepEqual(ids(p1.Results, "id"), []string{"123", "456"}) || p1.Page.NextToken == "" || p1.Page.Count != 2 || p1.Page.Total != nil {
		t.Fatalf("first page %+v", p1)
	}
	second := strings.Replace(first, `"limit": 2`, `"limit": 2, "token": "`+p1.Page.NextToken+`"`, 1)
	p2 := searchOn(t, post(t, srv, "/tenants/acme/access/v1/search/resource", second), authzentest.ResourceResults)
	if !reflect.DeepEqual(ids(p2.Results, "id"), []string{"789"}) || p2.Page.NextToken != "" || p2.Page.Count != 1 || p2.Page.Total == nil || *p2.Page.Total != 3 {
		t.Fatalf("second page %+v", p2)
	}

	// A token sent with another request, or made up, is refused.
	changed := strings.Replace(second, "can_read", "can_write", 1)
	post(t, srv, "/tenants/acme/access/v1/search/resource", changed).want(t, http.StatusBadRequest)
	otherLimit := strings.Replace(second, `"limit": 2`, `"limit": 3`, 1)
	post(t, srv, "/tenants/acme/access/v1/search/resource", otherLimit).want(t, http.StatusBadRequest)
	madeUp := strings.Replace(first, `"limit": 2`, `"token": "a3M9NDU2O3N6PTI="`, 1)
	a := post(t, srv, "/tenants/acme/access/v1/search/resource", madeUp).want(t, http.StatusBadRequest)
	if !strings.Contains(a.errorMessage(t), "page.token") {
		t.Errorf("message %q", a.errorMessage(t))
	}
}

func TestActionSearchDecidesEveryKnownActionOnce(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{decide: allowIf(func(r *decision.Request) bool { return r.Action.Name != "can_delete" })}
	srv := serve(t, authzen.Options{Checker: checker, Directory: exampleDirectory})
	got := searchOn(t, post(t, srv, "/tenants/acme/access/v1/search/action", `{
	  "subject": {"type": "user", "id": "alice@example.com"},
	  "resource": {"type": "account", "id": "123"},
	  "action": {"name": "ignored"},
	  "context": {"time": "2024-10-26T01:22-07:00"}
	}`), authzentest.ActionResults)
	if want := []string{"can_read", "can_write"}; !reflect.DeepEqual(ids(got.Results, "name"), want) {
		t.Errorf("results %v, want %v", ids(got.Results, "name"), want)
	}
	if n := len(checker.requests()); n != 3 {
		t.Errorf("%d actions decided, want 3", n)
	}
}

func TestSearchResultsCarryTheirObligationsAndDropWhatThePEPCannotCarryOut(t *testing.T) {
	t.Parallel()
	checker := &fakeChecker{decide: func(r *decision.Request) (*decision.Decision, error) {
		d := &decision.Decision{Kind: decision.KindAllow, ID: "d", Enforced: true}
		if r.Resource.ID == "456" {
			d.Obligations = []decision.Obligation{{Kind: decision.ObligationAudit}}
		}
		return d, nil
	}}
	srv := serve(t, authzen.Options{Checker: checker, Directory: exampleDirectory})
	body := `{"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "can_read"}, "resource": {"type": "account"}%s}`
	got := searchOn(t, post(t, srv, "/tenants/acme/access/v1/search/resource", fmt.Sprintf(body, "")), authzentest.ResourceResults)
	if len(got.Results) != 3 || got.Results[1]["context"] == nil || got.Results[0]["context"] != nil {
		t.Errorf("results %v", got.Results)
	}
	got = searchOn(t, post(t, srv, "/tenants/acme/access/v1/search/resource", fmt.Sprintf(body, `, "context": {"obligations_supported": []}`)), authzentest.ResourceResults)
	if want := []string{"123", "789"}; !reflect.DeepEqual(ids(got.Results, "id"), want) {
		t.Errorf("results %v, want %v", ids(got.Results, "id"), want)
	}
}

func TestSearchNeedsTheTypeItSearchesAndIsNotServedWithoutADirectory(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Directory: exampleDirectory})
	a := post(t, srv, "/tenants/acme/access/v1/search/subject", `{"subject": {}, "action": {"name": "r"}, "resource": {"type": "a", "id": "1"}}`).want(t, http.StatusBadRequest)
	if !strings.Contains(a.errorMessage(t), "subject.type: required") {
		t.Errorf("message %q", a.errorMessage(t))
	}
	post(t, srv, "/tenants/acme/access/v1/search/resource", `{"subject": {"type": "user", "id": "u"}, "action": {"name": "r"}, "resource": {"type": "a"}, "page": {"limit": -1}}`).want(t, http.StatusBadRequest)

	none := serve(t, authzen.Options{})
	post(t, none, "/tenants/acme/access/v1/search/action", `{}`).want(t, http.StatusNotFound)
}
