package authzentest_test

import (
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
)

// The schemas must refuse what the specification's text refuses, or the
// conformance tests that use them prove nothing.
func TestTheSchemasRefuseWhatTheSpecificationRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		schema, valid, invalid string
	}{
		{authzentest.EvaluationResponse, `{"decision": false, "context": {"reason_admin": {"403": "x"}}}`, `{"decision": "false"}`},
		{authzentest.EvaluationResponse, `{"decision": true}`, `{"context": {}}`},
		{authzentest.EvaluationsResponse, `{"evaluations": [{"decision": true}, {"decision": false, "context": {"error": {"status": 404, "message": "m"}}}]}`,
			`{"evaluations": [{"context": {}}]}`},
		{authzentest.EvaluationRequest, `{"subject": {"type": "user", "id": "a"}, "action": {"name": "r"}, "resource": {"type": "b", "id": "1"}}`,
			`{"subject": {"type": "user"}, "action": {"name": "r"}, "resource": {"type": "b", "id": "1"}}`},
		{authzentest.EvaluationsRequest, `{"subject": {"type": "user", "id": "a"}, "evaluations": [{"action": {"name": "r"}, "resource": {"type": "b", "id": "1"}}]}`,
			`{"subject": {"type": "user", "id": "a"}, "evaluations": [{"resource": {"type": "b", "id": "1"}}]}`},
		{authzentest.SubjectSearch, `{"subject": {"type": "user"}, "action": {"name": "r"}, "resource": {"type": "b", "id": "1"}, "page": {"limit": 2}}`,
			`{"subject": {"type": "user"}, "action": {"name": "r"}, "resource": {"type": "b", "id": "1"}, "page": {"limit": -1}}`},
		{authzentest.SubjectResults, `{"page": {"next_token": "", "count": 1, "total": 1}, "results": [{"type": "user", "id": "a"}]}`,
			`{"page": {"count": 1}, "results": [{"type": "user", "id": "a"}]}`},
		{authzentest.ActionResults, `{"results": [{"name": "can_read"}]}`, `{"results": [{"type": "user", "id": "a"}]}`},
		{authzentest.ResourceResults, `{"results": []}`, `{"page": {"next_token": ""}}`},
		{authzentest.Metadata, `{"policy_decision_point": "https://pdp.example.com", "access_evaluation_endpoint": "https://pdp.example.com/access/v1/evaluation"}`,
			`{"policy_decision_point": "https://pdp.example.com?x=1", "access_evaluation_endpoint": "https://pdp.example.com/access/v1/evaluation"}`},
		{authzentest.Metadata, `{"policy_decision_point": "https://pdp.example.com", "access_evaluation_endpoint": "https://pdp.example.com/e", "capabilities": ["urn:ietf:params:authzen:x"]}`,
			`{"policy_decision_point": "https://pdp.example.com", "access_evaluation_endpoint": "https://pdp.example.com/e", "capabilities": []}`},
		{authzentest.Metadata, `{"policy_decision_point": "https://pdp.example.com", "access_evaluation_endpoint": "https://pdp.example.com/e", "capabilities": ["urn:ietf:params:authzen:x"]}`,
			`{"policy_decision_point": "https://pdp.example.com", "access_evaluation_endpoint": "https://pdp.example.com/e", "capabilities": ["urn:example:pdp:obligations"]}`},
		{authzentest.Obligations, `{"decision": false, "context": {"obligations": [{"type": "step-up", "id": "obl-1", "acr_value": "urn:com:example:loa:3", "amr_values": ["mfa", "hwk"]}]}}`,
			`{"decision": false, "context": {"obligations": [{"type": "step-up", "id": "obl-1", "amr_values": ["mfa"]}]}}`},
		{authzentest.Obligations, `{"decision": true, "context": {"obligations": [{"type": "session_termination", "id": "obl-3", "subject": "jdoe@example.com"}]}}`,
			`{"decision": true, "context": {"obligations": [{"type": "notification", "id": "obl-2", "to": "m@example.com"}]}}`},
	} {
		if err := authzentest.Check(tt.schema, []byte(tt.valid)); err != nil {
			t.Errorf("%s refuses %s: %v", tt.schema, tt.valid, err)
		}
		if err := authzentest.Check(tt.schema, []byte(tt.invalid)); err == nil {
			t.Errorf("%s accepts %s", tt.schema, tt.invalid)
		}
	}
}
