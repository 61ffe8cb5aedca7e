package pdptest_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/cli"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// explainTenant denies api.read to members from 198.51.100.0/24 when
// deny is set.
func explainTenant(deny bool) string {
	t := `
tenant: sec
plan: enterprise
environments:
  development:
    roles:
      member:
        actions: [login, api.read]
`
	if deny {
		t += "    ip_denylist: [198.51.100.0/24]\n"
	}
	return t
}

func TestExplainByIDAcrossARestart(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "decisions.log")
	withLog := pdptest.WithConfig(func(c *config.Config) {
		c.DecisionLog = log
		c.DecisionLogInputs = true
		c.DecisionLogMask = []string{"subject.email"}
	})

	first := pdptest.Start(t, pdptest.WithTenant("sec.yaml", explainTenant(true)), withLog)
	resp, err := first.Decisions.Check(secCtx(t), secCheck())
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision() != pdpv1.Decision_DECISION_DENY {
		t.Fatalf("decision %v, want a deny by the deny list", resp.GetDecision())
	}
	id, revision := resp.GetDecisionId(), resp.GetPolicyRevision()
	first.Stop()

	// The same files after a restart: the same revision, which decides it
	// again as it was decided, with the explanation.
	second := pdptest.Start(t, pdptest.WithTenant("sec.yaml", explainTenant(true)), withLog)
	admin := pdpv1.NewPolicyAdminServiceClient(second.Conn)
	got, err := admin.GetDecision(secCtx(t), &pdpv1.GetDecisionRequest{DecisionId: id, Reason: "incident 42"})
	if err != nil {
		t.Fatal(err)
	}
	rec, ex := got.GetRecorded(), got.GetExplained()
	if rec.GetDecisionId() != id || rec.GetDecision() != pdpv1.Decision_DECISION_DENY || rec.GetPolicyRevision() != revision {
		t.Errorf("recorded %v, want %s deny by %s", rec, id, revision)
	}
	if !got.GetRecordedRevision() || ex.GetPolicyRevision() != revision || ex.GetDecision() != pdpv1.Decision_DECISION_DENY || ex.GetDecisionId() != id {
		t.Errorf("explained with %s (recorded revision %v) as %v, want the recorded %s deciding deny", ex.GetPolicyRevision(), got.GetRecordedRevision(), ex.GetDecision(), revision)
	}
	if len(ex.GetExplanation()) == 0 {
		t.Error("no explanation: every evaluated condition must be listed")
	}
	if !strings.Contains(strings.Join(codesOf(ex), ","), "network.ip_denied") {
		t.Errorf("explained reasons %v lack network.ip_denied", codesOf(ex))
	}
	if strings.Join(got.GetApproximate(), ",") != "subject.email" {
		t.Errorf("approximate %v, want the masked subject.email", got.GetApproximate())
	}
	if ip := got.GetInput().GetFields()["network"].GetStructValue().GetFields()["ip"].GetStringValue(); ip != "198.51.100.7" {
		t.Errorf("input network.ip %q, want the recorded address", ip)
	}

	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), []string{"explain", id, "--reason", "incident 42", "--addr", second.GRPCAddr},
		cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
	if code != cli.ExitOK || !strings.Contains(out.String(), "evaluated again with the recorded revision "+revision) ||
		!strings.Contains(out.String(), "network.ip_denied") || !strings.Contains(out.String(), "explanation:") {
		t.Errorf("pdp explain: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	second.Stop()

	// Changed files: the recorded revision is gone, and the answer says
	// that the current one evaluated it.
	third := pdptest.Start(t, pdptest.WithTenant("sec.yaml", explainTenant(false)), withLog)
	got, err = pdpv1.NewPolicyAdminServiceClient(third.Conn).GetDecision(secCtx(t), &pdpv1.GetDecisionRequest{DecisionId: id, Reason: "incident 42"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRecordedRevision() || got.GetExplained().GetPolicyRevision() == revision || got.GetExplained().GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("after a change: recorded revision %v, evaluated with %s as %v; want the current revision, allowing",
			got.GetRecordedRevision(), got.GetExplained().GetPolicyRevision(), got.GetExplained().GetDecision())
	}
	out.Reset()
	cli.Main(context.Background(), []string{"explain", id, "--reason", "incident 42", "--addr", third.GRPCAddr},
		cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
	if !strings.Contains(out.String(), "evaluated again with the CURRENT revision") {
		t.Errorf("pdp explain does not say the current revision evaluated:\n%s", out.String())
	}

	_, err = pdpv1.NewPolicyAdminServiceClient(third.Conn).GetDecision(secCtx(t), &pdpv1.GetDecisionRequest{DecisionId: "no-such-id", Reason: "incident 42"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("an unknown id: %v, want NotFound", err)
	}
}

// TestPolicyHistoryBoundsTheRevisionsAnExplanationCanUse decides, changes
// the tenant's policy twice through the admin API and explains the first
// decision: with --policy-history 2 its revision is gone and the answer
// says the current one evaluated it; with the default it is still held.
func TestPolicyHistoryBoundsTheRevisionsAnExplanationCanUse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		history int
		held    bool
	}{{2, false}, {config.DefaultPolicyHistory, true}} {
		log := filepath.Join(t.TempDir(), "decisions.log")
		srv := pdptest.Start(t, pdptest.WithTenant("sec.yaml", explainTenant(true)), pdptest.WithConfig(func(c *config.Config) {
			c.DecisionLog, c.DecisionLogInputs, c.PolicyHistory = log, true, tc.history
		}))
		ctx := secCtx(t)
		resp, err := srv.Decisions.Check(ctx, secCheck())
		if err != nil {
			t.Fatal(err)
		}
		admin := pdpv1.NewPolicyAdminServiceClient(srv.Conn)
		for _, action := range []string{"api.write", "api.list"} {
			got, err := admin.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "sec"})
			if err != nil {
				t.Fatal(err)
			}
			next := proto.Clone(got.GetPolicy()).(*pdpv1.TenantPolicy)
			member := next.GetEnvironments()["development"].GetRoles()["member"]
			member.Actions = append(member.Actions, action)
			if _, err := admin.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: next, Reason: "members may " + action}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := admin.GetDecision(ctx, &pdpv1.GetDecisionRequest{DecisionId: resp.GetDecisionId(), Reason: "incident 42"})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetRecordedRevision() != tc.held || (got.GetExplained().GetPolicyRevision() == resp.GetPolicyRevision()) != tc.held {
			t.Errorf("--policy-history %d, two reloads later: recorded revision %v, explained with %s (recorded %s); want held %v",
				tc.history, got.GetRecordedRevision(), got.GetExplained().GetPolicyRevision(), resp.GetPolicyRevision(), tc.held)
		}
		var out, errOut bytes.Buffer
		cli.Main(context.Background(), []string{"explain", resp.GetDecisionId(), "--reason", "incident 42", "--addr", srv.GRPCAddr},
			cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
		if gone := strings.Contains(out.String(), "NOTE: revision "+resp.GetPolicyRevision()+" is no longer held; evaluated again with the CURRENT revision"); gone == tc.held {
			t.Errorf("--policy-history %d: pdp explain says the revision is gone: %v\n%s%s", tc.history, gone, out.String(), errOut.String())
		}
	}
}
