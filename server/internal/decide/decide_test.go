package decide_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// steps records every step the service takes, in order, and fails the
// steps it is told to.
type steps struct {
	log      []string
	scopeErr error
	evalErr  error
	logErr   error
	decision *decision.Decision
	deadline time.Duration // the deadline left when evaluation ran
}

func (s *steps) add(step string) { s.log = append(s.log, step) }

func (s *steps) scope(_ context.Context, tenant string) error {
	s.add("scope " + tenant)
	return s.scopeErr
}

func (s *steps) caller(context.Context) decision.Caller {
	s.add("caller")
	return decision.Caller{Name: "gw"}
}

type enricher struct{ *steps }

func (e enricher) Enrich(_ context.Context, req *decision.Request) error {
	e.add("enrich " + req.Caller.Name)
	req.Signals.Profile.Known = true
	return nil
}

type evaluator struct{ *steps }

func (e evaluator) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	e.add("evaluate")
	if dl, ok := ctx.Deadline(); ok {
		e.deadline = time.Until(dl)
	}
	if !req.Signals.Profile.Known {
		return nil, errors.New("evaluated before enrichment")
	}
	return e.decision, e.evalErr
}

type dlog struct{ *steps }

func (l dlog) LogDecision(_ context.Context, _ *decision.Request, d *decision.Decision, _ time.Duration) error {
	l.add("log " + d.ID)
	return l.logErr
}

type applier struct{ *steps }

func (a applier) Apply(_ context.Context, ev *decision.Event) (signals.Recorded, error) {
	a.add("apply " + ev.Kind.String())
	return signals.Recorded{EventID: "ev-1", Event: *ev}, nil
}

type responder struct{ *steps }

func (r responder) ObserveDecision(_ *decision.Request, d *decision.Decision) {
	r.add("observe decision " + d.ID)
}

func (r responder) ObserveReport(rec *signals.Recorded) { r.add("observe report " + rec.EventID) }

type metrics struct{ *steps }

func (m metrics) RecordDecision(kind string, _ time.Duration) { m.add("count " + kind) }
func (m metrics) RecordReasons(string, []decision.Reason)     {}
func (m metrics) RecordReport(event string)                   { m.add("count " + event) }

func newService(t *testing.T, s *steps, timeout time.Duration) *decide.Service {
	t.Helper()
	svc, err := decide.New(decide.Options{
		Timeout: timeout, Scope: s.scope, Caller: s.caller,
		Enricher: enricher{s}, Evaluator: evaluator{s}, DecisionLog: dlog{s},
		Applier: applier{s}, Responder: responder{s}, Metrics: metrics{s},
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func suspend() *decision.Decision {
	return &decision.Decision{Kind: decision.KindDeny, ID: "d-1", Enforced: true,
		Obligations: []decision.Obligation{{Kind: decision.ObligationSuspendUser, Params: map[string]string{"user": "u1"}}}}
}

func request() *decision.Request {
	return &decision.Request{Tenant: "acme", Action: decision.Action{Name: "read"}}
}

func TestCheckRunsEveryStepInOrder(t *testing.T) {
	t.Parallel()
	s := &steps{decision: suspend()}
	d, err := newService(t, s, time.Minute).Check(t.Context(), request())
	if err != nil || d.ID != "d-1" {
		t.Fatalf("Check = %v, %v", d, err)
	}
	want := []string{"scope acme", "caller", "enrich gw", "evaluate", "observe decision d-1", "log d-1", "count deny"}
	if diff := cmp.Diff(want, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if s.deadline <= 0 || s.deadline > time.Minute {
		t.Errorf("evaluation ran with %v left, want the check timeout", s.deadline)
	}
}

func TestCheckWithoutObligationsObservesNothing(t *testing.T) {
	t.Parallel()
	s := &steps{decision: &decision.Decision{Kind: decision.KindAllow, ID: "d-2"}}
	if _, err := newService(t, s, 0).Check(t.Context(), request()); err != nil {
		t.Fatal(err)
	}
	want := []string{"scope acme", "caller", "enrich gw", "evaluate", "log d-2", "count allow"}
	if diff := cmp.Diff(want, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestCheckRefusedByTheScopeReadsNothing(t *testing.T) {
	t.Parallel()
	s := &steps{decision: suspend(), scopeErr: fault.New(fault.PermissionDenied, "not for acme")}
	if _, err := newService(t, s, 0).Check(t.Context(), request()); !errors.Is(err, fault.ErrPermissionDenied) {
		t.Fatalf("Check = %v, want PERMISSION_DENIED", err)
	}
	if diff := cmp.Diff([]string{"scope acme"}, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestCheckThatCouldNotBeDecidedIsNeitherLoggedNorCounted(t *testing.T) {
	t.Parallel()
	s := &steps{evalErr: fault.New(fault.Unavailable, "no policy loaded")}
	if _, err := newService(t, s, 0).Check(t.Context(), request()); !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("Check = %v, want the evaluator's error", err)
	}
	s = &steps{}
	_, err := newService(t, s, 0).Check(t.Context(), request())
	if fe := fault.As(err); fe.Code != fault.Internal {
		t.Fatalf("no decision and no error: %v, want INTERNAL", err)
	}
	if diff := cmp.Diff([]string{"scope acme", "caller", "enrich gw", "evaluate"}, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestCheckTheLogWithholdsIsStillActedOnButNotCounted(t *testing.T) {
	t.Parallel()
	s := &steps{decision: suspend(), logErr: fault.New(fault.Unavailable, "decision log unavailable")}
	d, err := newService(t, s, 0).Check(t.Context(), request())
	if d != nil || !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("Check = %v, %v, want no decision and UNAVAILABLE", d, err)
	}
	want := []string{"scope acme", "caller", "enrich gw", "evaluate", "observe decision d-1", "log d-1"}
	if diff := cmp.Diff(want, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestReportRunsEveryStepInOrder(t *testing.T) {
	t.Parallel()
	s := &steps{}
	id, err := newService(t, s, 0).Report(t.Context(), &decision.Event{Tenant: "acme", Kind: decision.EventLoginFailed})
	if err != nil || id != "ev-1" {
		t.Fatalf("Report = %q, %v", id, err)
	}
	want := []string{"scope acme", "apply login_failed", "observe report ev-1", "count login_failed"}
	if diff := cmp.Diff(want, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	s = &steps{scopeErr: fault.New(fault.PermissionDenied, "not for acme")}
	if _, err := newService(t, s, 0).Report(t.Context(), &decision.Event{Tenant: "acme"}); !errors.Is(err, fault.ErrPermissionDenied) {
		t.Fatalf("Report = %v, want PERMISSION_DENIED", err)
	}
	if diff := cmp.Diff([]string{"scope acme"}, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestNewNamesEachMissingDependency(t *testing.T) {
	t.Parallel()
	_, err := decide.New(decide.Options{})
	for _, want := range []string{"Evaluator", "Applier"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Options{}) = %v, want it to name %s", err, want)
		}
	}
}

func TestOptionalStepsMayBeLeftOut(t *testing.T) {
	t.Parallel()
	s := &steps{decision: suspend()}
	svc, err := decide.New(decide.Options{Enricher: enricher{s}, Evaluator: evaluator{s}, Applier: applier{s}})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := svc.Check(t.Context(), request()); err != nil || d.ID != "d-1" {
		t.Fatalf("Check = %v, %v", d, err)
	}
	if _, err := svc.Report(t.Context(), &decision.Event{Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"enrich ", "evaluate", "apply unspecified"}
	if diff := cmp.Diff(want, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

type shadow struct{ *steps }

func (s shadow) Observe(_ *decision.Request, d *decision.Decision) { s.add("shadow " + d.ID) }

func TestCheckHandsTheLoggedDecisionToTheShadowBeforeCounting(t *testing.T) {
	t.Parallel()
	s := &steps{decision: suspend()}
	svc, err := decide.New(decide.Options{
		Timeout: time.Minute, Scope: s.scope, Caller: s.caller,
		Enricher: enricher{s}, Evaluator: evaluator{s}, DecisionLog: dlog{s},
		Applier: applier{s}, Responder: responder{s}, Metrics: metrics{s}, Shadow: shadow{s},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Check(t.Context(), request()); err != nil {
		t.Fatal(err)
	}
	want := []string{"scope acme", "caller", "enrich gw", "evaluate", "observe decision d-1", "log d-1", "shadow d-1", "count deny"}
	if diff := cmp.Diff(want, s.log); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	// A decision the log withholds is no answer: the shadow does not see it.
	s = &steps{decision: suspend(), logErr: errors.New("disk full")}
	svc, _ = decide.New(decide.Options{Evaluator: evaluator{s}, DecisionLog: dlog{s}, Applier: applier{s}, Shadow: shadow{s}, Enricher: enricher{s}, Caller: s.caller})
	if _, err := svc.Check(t.Context(), request()); err == nil {
		t.Fatal("the log's error was swallowed")
	}
	for _, step := range s.log {
		if strings.HasPrefix(step, "shadow") {
			t.Errorf("steps %v: a withheld decision reached the shadow", s.log)
		}
	}
}
