package pdpsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/telemetry"
)

// The metrics of package telemetry plug in as the Observer and as the
// decision service's Metrics.
var (
	_ Observer       = (*telemetry.Metrics)(nil)
	_ decide.Metrics = (*telemetry.Metrics)(nil)
)

// deciderFunc adapts a function to decide.Evaluator.
type deciderFunc func(ctx context.Context, req *decision.Request) (*decision.Decision, error)

func (f deciderFunc) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	return f(ctx, req)
}

// byAction decides from the action name: "allow", "deny", "challenge",
// "fail" (unavailable), "panic"; the decision id echoes the tenant.
var byAction = deciderFunc(func(_ context.Context, req *decision.Request) (*decision.Decision, error) {
	switch req.Action.Name {
	case "fail":
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	case "panic":
		panic("decider exploded")
	case "nil":
		return nil, nil
	}
	kind, ok := decision.ParseKind(req.Action.Name)
	if !ok {
		kind = decision.KindDeny
	}
	return &decision.Decision{Kind: kind, ID: req.Tenant + "/" + req.Caller.Name, Enforced: true}, nil
})

type fakeRecorder struct {
	mu     sync.Mutex
	events []*decision.Event
	err    error
}

func (r *fakeRecorder) Apply(_ context.Context, ev *decision.Event) (signals.Recorded, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return signals.Recorded{}, r.err
	}
	r.events = append(r.events, ev)
	return signals.Recorded{EventID: fmt.Sprintf("ev-%d", len(r.events)), Event: *ev}, nil
}

type fakeObserver struct {
	mu        sync.Mutex
	decisions []string
	batches   []int
	reports   []string
}

func (o *fakeObserver) RecordDecision(kind string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		kind = "negative duration"
	}
	o.decisions = append(o.decisions, kind)
}

func (o *fakeObserver) RecordReasons(string, []decision.Reason) {}

func (o *fakeObserver) RecordBatchItems(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, n)
}

func (o *fakeObserver) RecordReport(event string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reports = append(o.reports, event)
}

func newService(t *testing.T) (*Service, *fakeRecorder, *fakeObserver) {
	t.Helper()
	rec, obs := &fakeRecorder{}, &fakeObserver{}
	s := serviceWith(t, decide.Options{
		Evaluator: byAction, Applier: rec, Metrics: obs,
		Caller: func(context.Context) decision.Caller { return decision.Caller{Name: "gw"} },
	}, obs)
	return s, rec, obs
}

// serviceWith is the DecisionService over a decision service built from o.
func serviceWith(t *testing.T, o decide.Options, obs Observer) *Service {
	t.Helper()
	d, err := decide.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Decisions: d, Observer: obs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func check(tenant, action string) *pdpv1.CheckRequest {
	return &pdpv1.CheckRequest{Tenant: tenant, Action: &pdpv1.Action{Name: action}}
}

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	_, err := New(Options{})
	if err == nil {
		t.Fatal("New(Options{}) succeeded")
	}
	for _, want := range []string{"Decisions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	s, _, obs := newService(t)
	ctx := t.Context()

	got, err := s.Check(ctx, check("acme", "challenge"))
	if err != nil {
		t.Fatal(err)
	}
	want := &pdpv1.CheckResponse{Decision: pdpv1.Decision_DECISION_CHALLENGE, DecisionId: "acme/gw", Enforced: true,
		CacheTtl: durationpb.New(0), Risk: &pdpv1.Risk{}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}

	_, err = s.Check(ctx, &pdpv1.CheckRequest{Action: &pdpv1.Action{Name: "allow"}, Network: &pdpv1.Network{Ip: "1.2.3"}})
	if diff := cmp.Diff([]fault.FieldViolation{fv("tenant", "required"), fv("network.ip", "not an IPv4 or IPv6 address")}, violations(t, err)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}

	_, err = s.Check(ctx, check("acme", "fail"))
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("decider error = %v, want it passed through", err)
	}
	_, err = s.Check(ctx, check("acme", "nil"))
	if code := rpcstatus.ToStatus(err).Code(); code != codes.Internal {
		t.Errorf("nil decision: code %v, want Internal", code)
	}
	if diff := cmp.Diff([]string{"challenge"}, obs.decisions); diff != "" {
		t.Errorf("observed decisions (-want +got):\n%s", diff)
	}
}

func TestBatchCheckWholeCallErrors(t *testing.T) {
	t.Parallel()
	s, _, _ := newService(t)
	tooMany := &pdpv1.BatchCheckRequest{}
	for range MaxBatchChecks + 1 {
		tooMany.Checks = append(tooMany.Checks, check("acme", "allow"))
	}
	tests := []struct {
		name string
		in   *pdpv1.BatchCheckRequest
		want []fault.FieldViolation
	}{
		{"empty", &pdpv1.BatchCheckRequest{}, []fault.FieldViolation{fv("checks", "at least one check is required")}},
		{"too many", tooMany, []fault.FieldViolation{fv("checks", "at most 100 checks are allowed")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.BatchCheck(t.Context(), tc.in)
			if diff := cmp.Diff(tc.want, violations(t, err)); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBatchCheckItemsFailAlone(t *testing.T) {
	t.Parallel()
	s, _, obs := newService(t)
	ctx := t.Context()
	bad := &pdpv1.CheckRequest{Tenant: "acme", Action: &pdpv1.Action{Name: "allow"}, Network: &pdpv1.Network{Ip: "nope"}}
	in := &pdpv1.BatchCheckRequest{Checks: []*pdpv1.CheckRequest{
		check("acme", "allow"), bad, check("acme", "deny"), check("acme", "fail"), check("acme", "panic"), check("beta", "challenge"),
	}}
	got, err := s.BatchCheck(ctx, in)
	if err != nil {
		t.Fatalf("BatchCheck: %v", err)
	}
	_, badErr := s.Check(ctx, bad)
	_, failErr := s.Check(ctx, check("acme", "fail"))
	resp := func(kind pdpv1.Decision, id string) *pdpv1.BatchCheckResult {
		return &pdpv1.BatchCheckResult{Result: &pdpv1.BatchCheckResult_Response{Response: &pdpv1.CheckResponse{
			Decision: kind, Allowed: kind == pdpv1.Decision_DECISION_ALLOW,
			DecisionId: id, Enforced: true, CacheTtl: durationpb.New(0), Risk: &pdpv1.Risk{}}}}
	}
	failed := func(err error) *pdpv1.BatchCheckResult {
		return &pdpv1.BatchCheckResult{Result: &pdpv1.BatchCheckResult_Error{Error: rpcstatus.ToStatus(err).Proto()}}
	}
	want := &pdpv1.BatchCheckResponse{Results: []*pdpv1.BatchCheckResult{
		resp(pdpv1.Decision_DECISION_ALLOW, "acme/gw"),
		failed(badErr),
		resp(pdpv1.Decision_DECISION_DENY, "acme/gw"),
		failed(failErr),
		failed(fault.New(fault.Internal, "x")),
		resp(pdpv1.Decision_DECISION_CHALLENGE, "beta/gw"),
	}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	if c := codes.Code(got.GetResults()[1].GetError().GetCode()); c != codes.InvalidArgument {
		t.Errorf("bad item code = %v, want InvalidArgument", c)
	}
	if diff := cmp.Diff([]int{6}, obs.batches); diff != "" {
		t.Errorf("observed batches (-want +got):\n%s", diff)
	}
}

func TestBatchCheckContextEnded(t *testing.T) {
	t.Parallel()
	s, _, _ := newService(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.BatchCheck(ctx, &pdpv1.BatchCheckRequest{Checks: []*pdpv1.CheckRequest{check("acme", "allow")}})
	if code := rpcstatus.ToStatus(err).Code(); code != codes.Canceled {
		t.Errorf("code = %v, want Canceled", code)
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	s, rec, obs := newService(t)
	ctx := t.Context()
	got, err := s.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGIN_SUCCEEDED,
		Subject: &pdpv1.Subject{Id: "u1"}, Network: &pdpv1.Network{Ip: "::ffff:10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&pdpv1.ReportResponse{EventId: "ev-1"}, got, protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if ip := rec.events[0].Network.IP.String(); ip != "10.0.0.1" {
		t.Errorf("recorded ip %s, want 10.0.0.1", ip)
	}

	_, err = s.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme"})
	if diff := cmp.Diff([]fault.FieldViolation{fv("event", "required"), fv("subject.id", "required")}, violations(t, err)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}

	rec.err = fault.New(fault.Unavailable, "store down")
	_, err = s.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGOUT, Subject: &pdpv1.Subject{Id: "u1"}})
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("recorder error = %v, want it passed through", err)
	}
	if diff := cmp.Diff([]string{"login_succeeded"}, obs.reports); diff != "" {
		t.Errorf("observed reports (-want +got):\n%s", diff)
	}
}

func TestReportDatedInTheFutureIsRefusedAndRecordsNothing(t *testing.T) {
	t.Parallel()
	s, rec, obs := newService(t)
	for _, at := range []time.Time{testNow.Add(decision.MaxClockSkew + time.Second), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		_, err := s.Report(t.Context(), &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGIN_FAILED,
			Subject: &pdpv1.Subject{Id: "u1"}, Time: timestamppb.New(at)})
		if diff := cmp.Diff([]fault.FieldViolation{fv("time", futureRule)}, violations(t, err)); diff != "" {
			t.Errorf("report at %v: violations (-want +got):\n%s", at, diff)
		}
	}
	if len(rec.events) != 0 || len(obs.reports) != 0 {
		t.Errorf("refused reports reached the recorder (%d) or the metrics (%v)", len(rec.events), obs.reports)
	}
}

func TestScopeRefusesOtherTenantsBeforeDecidingOrRecording(t *testing.T) {
	t.Parallel()
	rec, obs := &fakeRecorder{}, &fakeObserver{}
	var asked []string
	s := serviceWith(t, decide.Options{
		Evaluator: byAction, Applier: rec, Metrics: obs,
		Scope: func(_ context.Context, tenant string) error {
			asked = append(asked, tenant)
			if tenant != "acme" {
				return fault.New(fault.PermissionDenied, "not for tenant %q", tenant)
			}
			return nil
		},
	}, obs)
	ctx := t.Context()
	if _, err := s.Check(ctx, check("acme", "allow")); err != nil {
		t.Errorf("Check for the key's tenant: %v", err)
	}
	if _, err := s.Check(ctx, check("globex", "allow")); !errors.Is(err, fault.ErrPermissionDenied) {
		t.Errorf("Check for another tenant: %v, want PERMISSION_DENIED", err)
	}
	batch, err := s.BatchCheck(ctx, &pdpv1.BatchCheckRequest{Checks: []*pdpv1.CheckRequest{check("acme", "allow"), check("globex", "allow")}})
	if err != nil {
		t.Fatal(err)
	}
	if r := batch.GetResults(); r[0].GetResponse() == nil || codes.Code(r[1].GetError().GetCode()) != codes.PermissionDenied {
		t.Errorf("batch results %v, want the acme item decided and the globex item PERMISSION_DENIED", r)
	}
	report := func(tenant string) error {
		_, err := s.Report(ctx, &pdpv1.ReportRequest{Tenant: tenant, Event: pdpv1.Event_EVENT_LOGIN_FAILED, Subject: &pdpv1.Subject{Id: "u1"}})
		return err
	}
	if err := report("acme"); err != nil {
		t.Errorf("Report for the key's tenant: %v", err)
	}
	if err := report("globex"); !errors.Is(err, fault.ErrPermissionDenied) {
		t.Errorf("Report for another tenant: %v, want PERMISSION_DENIED", err)
	}
	// An invalid request is refused by validation, before the scope.
	if _, err := s.Check(ctx, check("Not A Tenant", "allow")); !errors.Is(err, fault.ErrInvalidArgument) {
		t.Errorf("Check with an invalid tenant: %v, want INVALID_ARGUMENT", err)
	}
	if len(rec.events) != 1 || rec.events[0].Tenant != "acme" {
		t.Errorf("recorded %v, want the acme report only", rec.events)
	}
	if diff := cmp.Diff([]string{"allow", "allow"}, obs.decisions); diff != "" {
		t.Errorf("decided (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"acme", "globex", "acme", "globex", "acme", "globex"}, asked); diff != "" {
		t.Errorf("tenants the scope was asked about (-want +got):\n%s", diff)
	}
}
