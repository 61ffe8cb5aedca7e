package decisions_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/decisions"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// lines are two decisions of acme: one with its input, one without.
const lines = `{"decision_id":"d-1","time":"2026-03-04T10:00:00Z","tenant":"acme","environment":"production","action":{"name":"api.read"},"decision":"deny","enforced":true,"reasons":["tenant.unknown"],"step_ups":[],"policy_revision":"gone","input_format":1,"input":{"tenant":"acme","environment":"production","time_ns":1772618400000000000,"subject":{"id":"u1","email":"sha256:00"},"action":{"name":"api.read"},"explain":false},"masked":["subject.email"]}
{"decision_id":"d-2","time":"2026-03-04T10:00:01Z","tenant":"acme","environment":"production","action":{"name":"api.read"},"decision":"deny","enforced":true,"reasons":[],"step_ups":[],"policy_revision":"gone"}
`

type rig struct {
	svc *decisions.Service
	log audit.Log
}

func start(t *testing.T, logFile string) *rig {
	t.Helper()
	e := engine.New(engine.Options{})
	if _, err := e.Load(context.Background(), engine.Bundle{}); err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{log: st.AuditLog()}
	svc, err := decisions.New(decisions.Options{Log: logFile, Engine: e, Audit: r.log})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	return r
}

func writeLog(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "decisions.log")
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	// A rotated backup, older, holding nothing of interest.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "decisions-2026-03-01T00-00-00.000.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ctxOf(c authn.Caller) context.Context { return authn.WithCaller(context.Background(), c) }

var (
	acmeAdmin = ctxOf(authn.Caller{Name: "acme-admin", Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}})
	beta      = ctxOf(authn.Caller{Name: "beta-admin", Role: authn.RoleTenantAdmin, Tenants: []string{"beta"}})
)

func TestGetDecisionIsAnAuditedReadOfTheCallersTenantsOnly(t *testing.T) {
	t.Parallel()
	r := start(t, writeLog(t))
	got, err := r.svc.GetDecision(acmeAdmin, &pdpv1.GetDecisionRequest{DecisionId: "d-1", Reason: "ticket 7"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRecordedRevision() || got.GetExplained().GetPolicyRevision() == "gone" {
		t.Errorf("the revision gone is not held, yet recorded_revision %v with %s", got.GetRecordedRevision(), got.GetExplained().GetPolicyRevision())
	}
	if got.GetRecorded().GetDecision() != pdpv1.Decision_DECISION_DENY || got.GetExplained().GetDecisionId() != "d-1" {
		t.Errorf("recorded %v, explained id %s", got.GetRecorded(), got.GetExplained().GetDecisionId())
	}
	if len(got.GetApproximate()) != 1 || got.GetApproximate()[0] != "subject.email" {
		t.Errorf("approximate %v, want subject.email", got.GetApproximate())
	}
	events, _, err := r.log.List(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != decisions.ActionRead || events[0].Target != "d-1" || events[0].Tenant != "acme" || events[0].Reason != "ticket 7" {
		t.Errorf("audit log %+v, want one decision.read of d-1 for acme", events)
	}

	if _, err := r.svc.GetDecision(beta, &pdpv1.GetDecisionRequest{DecisionId: "d-1", Reason: "curious"}); fault.As(err).Code != fault.NotFound {
		t.Errorf("another tenant's admin: %v, want NotFound", err)
	}
	if _, err := r.svc.GetDecision(acmeAdmin, &pdpv1.GetDecisionRequest{DecisionId: "d-2", Reason: "ticket 7"}); fault.As(err).Code != fault.FailedPrecondition {
		t.Errorf("a line without input: %v, want FailedPrecondition", err)
	}
	if _, err := r.svc.GetDecision(acmeAdmin, &pdpv1.GetDecisionRequest{DecisionId: "d-1"}); fault.As(err).Code != fault.InvalidArgument {
		t.Errorf("no reason: %v, want InvalidArgument", err)
	}
	if events, _, _ := r.log.List(context.Background(), audit.Query{}); len(events) != 1 {
		t.Errorf("%d audit events; refused reads must record nothing", len(events))
	}
}

func TestGetDecisionWithoutALogFile(t *testing.T) {
	t.Parallel()
	for _, dest := range []string{"", "stdout"} {
		r := start(t, dest)
		_, err := r.svc.GetDecision(acmeAdmin, &pdpv1.GetDecisionRequest{DecisionId: "d-1", Reason: "x"})
		if fault.As(err).Code != fault.FailedPrecondition {
			t.Errorf("--decision-log %q: %v, want FailedPrecondition", dest, err)
		}
	}
}
