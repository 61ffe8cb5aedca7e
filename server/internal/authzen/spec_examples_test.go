package authzen_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
)

// The examples of the AuthZEN Authorization API 1.0 text, each sent to
// the handler (or, for a response example, checked against the schema the
// handler's answers are checked against), so that the schemas and the
// handler agree with the specification's own examples.

// specRequests are the request examples of the specification, by the
// endpoint they go to.
var specRequests = []struct{ name, path, schema, body string }{
	{"request-example", authzen.PathEvaluation, authzentest.EvaluationRequest, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "resource": {"type": "account", "id": "123"},
  "action": {"name": "can_read", "properties": {"method": "GET"}},
  "context": {"time": "1985-10-26T01:22-07:00"}
}`},
	{"example-access-evaluation-request", authzen.PathEvaluation, authzentest.EvaluationRequest, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "resource": {"type": "todo", "id": "1"},
  "action": {"name": "can_read"},
  "context": {"time": "1985-10-26T01:22-07:00"}
}`},
	{"subject with properties", authzen.PathEvaluation, authzentest.EvaluationRequest, `{
  "subject": {"type": "user", "id": "alice@example.com", "properties": {"ip_address": "172.217.22.14", "device_id": "8:65:ee:17:7e:0b", "department": "Sales"}},
  "resource": {"type": "book", "id": "123", "properties": {"library_record": {"title": "AuthZEN in Action", "isbn": "978-0593383322"}}},
  "action": {"name": "extend-loan", "properties": {"period": "2W"}},
  "context": {"time": "1985-10-26T01:22-07:00", "schema": "https://schema.example.com/access-request.schema.json"}
}`},
	{"evaluations without defaults", authzen.PathEvaluations, authzentest.EvaluationsRequest, `{
  "evaluations": [
    {"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "can_read"},
     "resource": {"type": "document", "id": "boxcarring.md"}, "context": {"time": "2024-05-31T15:22-07:00"}},
    {"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "can_read"},
     "resource": {"type": "document", "id": "subject-search.md"}, "context": {"time": "2024-05-31T15:22-07:00"}},
    {"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "can_read"},
     "resource": {"type": "document", "id": "resource-search.md"}, "context": {"time": "2024-05-31T15:22-07:00"}}
  ]
}`},
	{"evaluations with a default subject and context", authzen.PathEvaluations, authzentest.EvaluationsRequest, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "context": {"time": "2024-05-31T15:22-07:00"},
  "evaluations": [
    {"action": {"name": "can_read"}, "resource": {"type": "document", "id": "boxcarring.md"}},
    {"action": {"name": "can_read"}, "resource": {"type": "document", "id": "subject-search.md"}},
    {"action": {"name": "can_read"}, "resource": {"type": "document", "id": "resource-search.md"}}
  ]
}`},
	{"example-access-evaluations-request", authzen.PathEvaluations, authzentest.EvaluationsRequest, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "context": {"time": "2024-05-31T15:22-07:00"},
  "action": {"name": "can_read"},
  "evaluations": [
    {"resource": {"type": "document", "id": "boxcarring.md"}},
    {"resource": {"type": "document", "id": "subject-search.md"}},
    {"action": {"name": "can_edit"}, "resource": {"type": "document", "id": "resource-search.md"}}
  ]
}`},
	{"execute_all", authzen.PathEvaluations, authzentest.EvaluationsRequest, threeDocuments(authzen.ExecuteAll)},
	{"deny_on_first_deny", authzen.PathEvaluations, authzentest.EvaluationsRequest, threeDocuments(authzen.DenyOnFirstDeny)},
	{"permit_on_first_permit", authzen.PathEvaluations, authzentest.EvaluationsRequest, threeDocuments(authzen.PermitOnFirstPermit)},
	{"subject-search-request-example", authzen.PathSearchSubject, authzentest.SubjectSearch, `{
  "subject": {"type": "user"},
  "action": {"name": "can_read"},
  "resource": {"type": "account", "id": "123"},
  "context": {"time": "2024-10-26T01:22-07:00"}
}`},
	{"resource-search-request-example", authzen.PathSearchResource, authzentest.ResourceSearch, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "action": {"name": "can_read"},
  "resource": {"type": "account"}
}`},
	{"search-pagination-token-initial-request", authzen.PathSearchResource, authzentest.ResourceSearch, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "action": {"name": "can_read"},
  "resource": {"type": "account"},
  "page": {"limit": 2}
}`},
	{"action-search-request-example", authzen.PathSearchAction, authzentest.ActionSearch, `{
  "subject": {"type": "user", "id": "alice@example.com"},
  "resource": {"type": "account", "id": "123"},
  "context": {"time": "2024-10-26T01:22-07:00"}
}`},
}

func TestEveryRequestExampleOfTheSpecificationIsAnsweredAsTheSchemasSay(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: &fakeChecker{decide: oddDocuments}, Directory: exampleDirectory})
	for _, ex := range specRequests {
		authzentest.Valid(t, []byte(ex.body), ex.schema)
		a := post(t, srv, "/tenants/acme"+ex.path, ex.body, "X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716").want(t, http.StatusOK)
		if a.header.Get("X-Request-ID") != "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" {
			t.Errorf("%s: X-Request-ID not echoed", ex.name)
		}
		var schema string
		switch ex.path {
		case authzen.PathEvaluation:
			schema = authzentest.EvaluationResponse
		case authzen.PathEvaluations:
			schema = authzentest.EvaluationsResponse
		case authzen.PathSearchSubject:
			schema = authzentest.SubjectResults
		case authzen.PathSearchResource:
			schema = authzentest.ResourceResults
		case authzen.PathSearchAction:
			schema = authzentest.ActionResults
		}
		authzentest.Valid(t, a.body, schema, authzentest.Obligations)
	}
}

// The options example gives an item without an action and no default: the
// specification requires one, so the item is an error, not the batch.
func TestTheOptionsExampleWithoutAnActionIsAnItemError(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{})
	body := `{
  "evaluations": [{"resource": {"type": "doc", "id": "1"}, "subject": {"type": "doc", "id": "2"}}],
  "options": {"evaluations_semantic": "execute_all", "another_option": "value"}
}`
	if authzentest.Check(authzentest.EvaluationsRequest, []byte(body)) == nil {
		t.Error("the request schema accepts an item without an action")
	}
	ds := decisions(t, post(t, srv, "/tenants/acme/access/v1/evaluations", body).want(t, http.StatusOK))
	if len(ds) != 1 || ds[0]["decision"] != false || !strings.Contains(ds[0]["context"].(map[string]any)["error"].(map[string]any)["message"].(string), "action: required") {
		t.Errorf("answered %v", ds)
	}
}

func TestEveryResponseExampleOfTheSpecificationFitsTheSchemas(t *testing.T) {
	t.Parallel()
	for _, ex := range []struct{ schema, body string }{
		{authzentest.EvaluationResponse, `{"decision": true}`},
		{authzentest.EvaluationResponse, `{"decision": false, "context": {"reason_admin": {"403": "Request failed policy C076E82F"}, "reason_user": {"403": "Insufficient privileges. Contact your administrator"}}}`},
		{authzentest.EvaluationResponse, `{"decision": false, "context": {"metadata": {"response_time": 60, "response_time_unit": "ms"}, "environment": {"ip": "10.10.0.1", "datetime": "2025-06-27T18:03-07:00", "os": "ubuntu24.04.2LTS-AMDx64"}}}`},
		{authzentest.EvaluationResponse, `{"decision": false, "context": {"acr_values": "urn:com:example:loa:3", "amr_values": "mfa hwk"}}`},
		{authzentest.EvaluationsResponse, `{"evaluations": [{"decision": true}, {"decision": false}, {"decision": true}]}`},
		{authzentest.EvaluationsResponse, `{"evaluations": [{"decision": true}, {"decision": false, "context": {"code": "200", "reason": "deny_on_first_deny"}}]}`},
		{authzentest.EvaluationsResponse, `{"evaluations": [{"decision": true}]}`},
		{authzentest.EvaluationsResponse, `{"evaluations": [{"decision": true}, {"decision": false, "context": {"reason": "resource not found"}}, {"decision": false, "context": {"reason": "Subject is a viewer of the resource"}}]}`},
		{authzentest.EvaluationsResponse, `{"evaluations": [{"decision": true}, {"decision": false, "context": {"error": {"status": 404, "message": "Resource not found"}}}, {"decision": false, "context": {"reason": "Subject is a viewer of the resource"}}]}`},
		{authzentest.ResourceResults, `{"page": {"next_token": "a3M9NDU2O3N6PTI=", "count": 2, "total": 3}, "results": [{"type": "account", "id": "123"}, {"type": "account", "id": "456"}]}`},
		{authzentest.ResourceResults, `{"page": {"next_token": "", "count": 1, "total": 3}, "results": [{"type": "account", "id": "789"}]}`},
		{authzentest.SubjectResults, `{"results": [{"type": "user", "id": "alice@example.com"}, {"type": "user", "id": "bob@example.com"}]}`},
		{authzentest.SubjectResults, `{"page": {"next_token": "a3M9NDU2O3N6PTI="}, "results": [{"type": "user", "id": "alice@example.com"}, {"type": "user", "id": "bob@example.com"}]}`},
		{authzentest.ActionResults, `{"results": [{"name": "can_read"}, {"name": "can_write"}]}`},
		{authzentest.ActionResults, `{"page": {"next_token": "a3M9NDU2O3N6PTI="}, "results": [{"name": "can_read"}, {"name": "can_write"}]}`},
		{authzentest.Metadata, `{"policy_decision_point": "https://pdp.example.com", "access_evaluation_endpoint": "https://pdp.example.com/access/v1/evaluation", "search_subject_endpoint": "https://pdp.example.com/access/v1/search/subject", "search_resource_endpoint": "https://pdp.example.com/access/v1/search/resource"}`},
		// The obligations profile's examples.
		{authzentest.Obligations, `{"decision": true, "context": {"obligations": [{"type": "custom", "id": "obl-1", "vendor": "example-dlp-suite", "action": "watermark", "watermark_text": "jdoe@example.com - 2026-07-03T14:02:00Z"}]}}`},
		{authzentest.Obligations, `{"decision": false, "context": {"obligations": [{"type": "step-up", "id": "obl-1", "acr_value": "urn:com:example:loa:3", "amr_values": ["mfa"]}]}}`},
	} {
		authzentest.Valid(t, []byte(ex.body), ex.schema)
	}
}
