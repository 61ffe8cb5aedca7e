package tenants_test

import (
	"path/filepath"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
)

// TestPoliciesSurviveRestart stores a policy and a pending change through
// the service on a bolt file, reopens the file as a restarted server does,
// and finds both served and listed.
func TestPoliciesSurviveRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	db, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, db.Policies())
	root := admin("root")
	put, err := r.svc.PutTenantPolicy(root, &pdpv1.PutTenantPolicyRequest{Policy: acmePolicy(r.etag(t, "acme")), Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := r.svc.PutTenantPolicy(root, &pdpv1.PutTenantPolicyRequest{Policy: globexChange(t, r), Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	again := start(t, db.Policies())
	if _, source := again.served("acme"); source != reload.SourceAPI {
		t.Fatalf("after a restart acme is served from %s", source)
	}
	if got := again.etag(t, "acme"); got != put.GetPolicy().GetEtag() {
		t.Errorf("etag %s after a restart, want %s", got, put.GetPolicy().GetEtag())
	}
	list, err := again.svc.ListPendingChanges(root, &pdpv1.ListPendingChangesRequest{Tenant: "globex"})
	if err != nil || len(list.GetChanges()) != 1 || list.GetChanges()[0].GetId() != pending.GetPendingChange().GetId() {
		t.Fatalf("pending after a restart: %v, %v", list, err)
	}
}
