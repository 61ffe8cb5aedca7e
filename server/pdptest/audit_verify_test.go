package pdptest_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/cli"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// TestVerifyAuditLogReportsTheChainAndItsLatestCheckpoint: an admin asks
// the server to walk the chain and gets what `pdp audit verify` reports,
// with the latest signed checkpoint; a tenant-admin may not ask.
func TestVerifyAuditLogReportsTheChainAndItsLatestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	keyFile, cpFile := filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "checkpoints.jws")
	var out bytes.Buffer
	if code := cli.Main(context.Background(), []string{"audit", "keygen", keyFile},
		cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}); code != cli.ExitOK {
		t.Fatalf("keygen: %s", out.String())
	}
	root := pdptest.NewKey(t, "root", authn.RoleAdmin)
	ops := pdptest.NewKey(t, "ops", authn.RoleTenantAdmin, "sso-corp")
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, root, ops), pdptest.WithTenant("sso-corp.yaml", adminSSOTenant),
		pdptest.WithConfig(func(c *config.Config) {
			c.Store = "bolt:" + filepath.Join(dir, "pdp.db")
			c.AuditCheckpointKey, c.AuditCheckpoints, c.AuditCheckpointInterval = keyFile, cpFile, 0
		}))
	admin := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, root.Key))
	for _, up := range []bool{false, true} {
		if _, err := admin.SetSSOStatus(t.Context(), &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: up, Reason: "drill"}); err != nil {
			t.Fatal(err)
		}
	}
	events, err := admin.ListAuditEvents(t.Context(), &pdpv1.ListAuditEventsRequest{})
	if err != nil || len(events.GetEvents()) != 2 {
		t.Fatalf("audit events = %v %v, want 2", events.GetEvents(), err)
	}
	head := events.GetEvents()[1]

	var r *pdpv1.VerifyAuditLogResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r, err = admin.VerifyAuditLog(t.Context(), &pdpv1.VerifyAuditLogRequest{}); err != nil {
			t.Fatal(err)
		}
		if r.GetLatestCheckpoint().GetSeq() == 2 || time.Now().After(deadline) {
			break
		}
	}
	if !r.GetIntact() || r.GetEvents() != 2 || r.GetHead() != head.GetHash() || r.GetBroken() != "" {
		t.Fatalf("VerifyAuditLog = %v, want an intact chain of 2 ending at %s", r, head.GetHash())
	}
	cp := r.GetLatestCheckpoint()
	if cp.GetSeq() != 2 || cp.GetHash() != head.GetHash() || cp.GetEventId() != head.GetId() || !cp.GetHeld() || cp.GetKeyId() == "" || cp.GetTime() == nil {
		t.Fatalf("latest checkpoint = %v, want seq 2 at %s, held", cp, head.GetId())
	}

	_, err = pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, ops.Key)).VerifyAuditLog(t.Context(), &pdpv1.VerifyAuditLogRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a tenant-admin's VerifyAuditLog = %v, want PERMISSION_DENIED", err)
	}
}

// TestVerifyAuditLogWithoutCheckpointsHasNone: with --audit-checkpoints
// off the chain is still checked and no checkpoint is reported.
func TestVerifyAuditLogWithoutCheckpointsHasNone(t *testing.T) {
	s := pdptest.Start(t, pdptest.WithTenant("sso-corp.yaml", adminSSOTenant))
	admin := pdpv1.NewPolicyAdminServiceClient(s.Conn)
	if _, err := admin.SetSSOStatus(t.Context(), &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: false, Reason: "drill"}); err != nil {
		t.Fatal(err)
	}
	r, err := admin.VerifyAuditLog(t.Context(), &pdpv1.VerifyAuditLogRequest{})
	if err != nil || !r.GetIntact() || r.GetEvents() != 1 || r.GetLatestCheckpoint() != nil {
		t.Fatalf("VerifyAuditLog = %v %v, want an intact chain of 1 and no checkpoint", r, err)
	}
}
