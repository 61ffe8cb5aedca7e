package pdptest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/cli"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// TestAuditCheckpointsEndToEnd runs a server with --audit-checkpoints on a
// bolt store, makes audited changes over the admin API, and verifies the
// stopped server's chain against the checkpoints it wrote with the key pdp
// audit keygen created.
func TestAuditCheckpointsEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile, cpFile, db := filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "checkpoints.jws"), filepath.Join(dir, "pdp.db")
	pdp := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli.Main(context.Background(), args, cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
		return code, out.String()
	}
	if code, out := pdp("audit", "keygen", keyFile); code != cli.ExitOK {
		t.Fatalf("keygen: %s", out)
	}
	root := pdptest.NewKey(t, "root", authn.RoleAdmin)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, root), pdptest.WithTenant("sso-corp.yaml", adminSSOTenant),
		pdptest.WithConfig(func(c *config.Config) {
			c.Store = "bolt:" + db
			c.AuditCheckpointKey, c.AuditCheckpoints, c.AuditCheckpointInterval = keyFile, cpFile, 0
		}))
	admin := pdpv1.NewPolicyAdminServiceClient(s.DialAs(t, root.Key))
	ctx := secCtx(t)
	for i, up := range []bool{false, true, false} {
		if _, err := admin.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: up, Reason: "drill " + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpoints are counted on /metrics.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := s.HTTPAs(root.Key).Get(s.HTTPURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var n int
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "pdp_audit_checkpoints_total ") {
				_, _ = fmt.Sscanf(line, "pdp_audit_checkpoints_total %d", &n)
			}
		}
		if n >= 2 { // the start checkpoint and one after a change
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics counts no checkpoint after the changes:\n%s", grepLines(string(body), "pdp_audit_checkpoint"))
		}
	}
	s.Stop()

	if st, err := os.Stat(cpFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoints file: %v, %v", st, err)
	}
	code, out := pdp("audit", "verify", "--store", "bolt:"+db, "--checkpoints", cpFile, "--checkpoint-pubkey", keyFile+".pub")
	if code != cli.ExitOK || !strings.Contains(out, "audit chain verified: 3 events") || !strings.Contains(out, "the chain holds them all; latest seq 3") {
		t.Fatalf("verify after a clean run: code %d\n%s", code, out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
