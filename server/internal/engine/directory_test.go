package engine

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

const directoryModule = `package pdp.custom

users := {"acme": [
	{"type": "user", "id": "bob", "properties": {"roles": ["viewer"]}},
	{"type": "user", "id": "alice"},
]}

subjects contains u if some u in users[input.tenant]

resources contains {"type": "document", "id": "d-2"} if input.tenant == "acme"

resources contains {"type": "document", "id": "d-1", "properties": {"owner": "alice"}} if input.environment == "production"

actions contains "files.share"

actions contains "api.read"
`

func TestDirectoryListsTheAuthorsEntitiesAndTheRolesConcreteActions(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t), Modules: map[string]string{"policies/directory.rego": directoryModule}})
	got, err := e.Directory(context.Background(), "acme", "production")
	if err != nil {
		t.Fatal(err)
	}
	want := &Directory{
		Subjects: []Entity{{Type: "user", ID: "alice"}, {Type: "user", ID: "bob", Properties: map[string]any{"roles": []any{"viewer"}}}},
		Resources: []Entity{
			{Type: "document", ID: "d-1", Properties: map[string]any{"owner": "alice"}},
			{Type: "document", ID: "d-2"},
		},
		// Role entries with a wildcard ("api.*", "*") are not actions.
		Actions: []string{"api.read", "files.read", "files.share", "login"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("directory\n got %+v\nwant %+v", got, want)
	}

	other, err := e.Directory(context.Background(), "globex", "production")
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Subjects) != 0 || len(other.Resources) != 1 || !reflect.DeepEqual(other.Actions, []string{"api.read", "files.share"}) {
		t.Errorf("an unknown tenant's directory: %+v", other)
	}
}

func TestDirectoryWithoutAuthorsModulesHasOnlyTheRolesActions(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	got, err := e.Directory(context.Background(), "acme", "production")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Subjects) != 0 || len(got.Resources) != 0 || !reflect.DeepEqual(got.Actions, []string{"api.read", "files.read", "login"}) {
		t.Errorf("directory %+v", got)
	}
}

func TestAMalformedDirectoryEntryIsAnError(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t), Modules: map[string]string{
		"policies/bad.rego": "package pdp.custom\n\nsubjects contains {\"id\": \"no-type\"}\n\nactions contains 7\n",
	}})
	_, err := e.Directory(context.Background(), "acme", "production")
	if fault.As(err).Code != fault.Internal || !strings.Contains(err.Error(), "data.pdp.custom.subjects") || !strings.Contains(err.Error(), "data.pdp.custom.actions") {
		t.Errorf("error %v, want an internal error naming both sets", err)
	}
	if _, err := New(Options{}).Directory(context.Background(), "acme", "production"); fault.As(err).Code != fault.Unavailable {
		t.Errorf("before a load: %v", err)
	}
}
