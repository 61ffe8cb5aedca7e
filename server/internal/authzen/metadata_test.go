package authzen_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
)

func TestEachTenantHasMetadataWhosePDPIsTheURLItDescribes(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{DefaultTenant: "acme", PublicURL: "https://pdp.example.com/", Directory: exampleDirectory})
	for path, pdp := range map[string]string{
		"/.well-known/authzen-configuration":                "https://pdp.example.com",
		"/.well-known/authzen-configuration/tenants/globex": "https://pdp.example.com/tenants/globex",
	} {
		a := get(t, srv, path).want(t, http.StatusOK)
		authzentest.Valid(t, a.body, authzentest.Metadata)
		m := a.object(t)
		want := map[string]any{
			"policy_decision_point":       pdp,
			"access_evaluation_endpoint":  pdp + "/access/v1/evaluation",
			"access_evaluations_endpoint": pdp + "/access/v1/evaluations",
			"search_subject_endpoint":     pdp + "/access/v1/search/subject",
			"search_resource_endpoint":    pdp + "/access/v1/search/resource",
			"search_action_endpoint":      pdp + "/access/v1/search/action",
			"obligations_supported":       []any{"step-up", "notification", "session_termination", "custom"},
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s:\n got %v\nwant %v", path, m, want)
		}
		if !strings.Contains(a.header.Get("Cache-Control"), "max-age=") {
			t.Errorf("%s: Cache-Control %q", path, a.header.Get("Cache-Control"))
		}
	}
}

// Every endpoint the metadata lists answers, at the path it gives.
func TestTheMetadataListsTheEndpointsThatAnswer(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Directory: exampleDirectory})
	m := get(t, srv, "/.well-known/authzen-configuration/tenants/acme").want(t, http.StatusOK).object(t)
	if m["policy_decision_point"] != srv.URL+"/tenants/acme" {
		t.Errorf("policy_decision_point %v, want %s: derived from the Host without --public-url", m["policy_decision_point"], srv.URL+"/tenants/acme")
	}
	bodies := map[string]string{
		"access_evaluation_endpoint":  aliceReadsAccount,
		"access_evaluations_endpoint": aliceReadsAccount,
		"search_subject_endpoint":     `{"subject": {"type": "user"}, "action": {"name": "r"}, "resource": {"type": "account", "id": "1"}}`,
		"search_resource_endpoint":    `{"subject": {"type": "user", "id": "u"}, "action": {"name": "r"}, "resource": {"type": "account"}}`,
		"search_action_endpoint":      `{"subject": {"type": "user", "id": "u"}, "resource": {"type": "account", "id": "1"}}`,
	}
	for key, body := range bodies {
		url, _ := m[key].(string)
		path := strings.TrimPrefix(url, srv.URL)
		if path == url {
			t.Errorf("%s %q is not on this server", key, url)
			continue
		}
		post(t, srv, path, body).want(t, http.StatusOK)
	}
}

func TestWithoutADirectoryTheMetadataListsNoSearch(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{DefaultTenant: "acme"})
	m := get(t, srv, "/.well-known/authzen-configuration").want(t, http.StatusOK).object(t)
	for _, key := range []string{"search_subject_endpoint", "search_resource_endpoint", "search_action_endpoint"} {
		if _, ok := m[key]; ok {
			t.Errorf("%s listed without a directory", key)
		}
	}
	get(t, srv, "/.well-known/authzen-configuration/tenants/").want(t, http.StatusNotFound)
	get(t, srv, "/.well-known/authzen-configuration/other").want(t, http.StatusNotFound)
	post(t, srv, "/.well-known/authzen-configuration", `{}`).want(t, http.StatusMethodNotAllowed)
}

func TestAMalformedPublicURLOrDefaultTenantIsRefused(t *testing.T) {
	t.Parallel()
	for _, opts := range []authzen.Options{
		{Checker: &fakeChecker{}, PublicURL: "pdp.example.com"},
		{Checker: &fakeChecker{}, PublicURL: "https://pdp.example.com/?x=1"},
		{Checker: &fakeChecker{}, PublicURL: "ftp://pdp.example.com"},
		{Checker: &fakeChecker{}, DefaultTenant: "Acme Corp"},
		{},
	} {
		if _, err := authzen.New(opts); err == nil {
			t.Errorf("%+v accepted", opts)
		}
	}
}
