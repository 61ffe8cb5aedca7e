package incident

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// t0 is the wall clock at the start of every test.
var t0 = time.Date(2026, 3, 10, 10, 30, 0, 0, time.UTC)

// clock is an injectable wall clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// notifierRecorder collects notifications.
type notifierRecorder struct {
	mu     sync.Mutex
	got    []Notification
	signal chan Notification
	closed bool
}

func newNotifierRecorder() *notifierRecorder {
	return &notifierRecorder{signal: make(chan Notification, 64)}
}

func (n *notifierRecorder) Notify(x Notification) error {
	n.mu.Lock()
	n.got = append(n.got, x)
	n.mu.Unlock()
	n.signal <- x
	return nil
}

func (n *notifierRecorder) Close(context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	return nil
}

func (n *notifierRecorder) all() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.got...)
}

// auditRecorder collects audit entries.
type auditRecorder struct {
	mu      sync.Mutex
	entries []AuditEntry
}

func (a *auditRecorder) Record(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	a.entries = append(a.entries, e)
	a.mu.Unlock()
	return nil
}

func (a *auditRecorder) actions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.entries {
		out = append(out, e.Action)
	}
	return out
}

type fixture struct {
	clock    *clock
	store    *memory.Store
	ips      *ipset.Set
	blocker  *IPSetBlocker
	notes    *notifierRecorder
	audit    *auditRecorder
	resp     *Responder
	recorder reporter
}

// newFixture starts a Responder on a memory store and real IP lists, with
// the thresholds of settings for every tenant.
func newFixture(t *testing.T, settings Settings, adjust ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: t0}, store: memory.New(memory.Options{SweepInterval: -1}), ips: ipset.NewSet(nil),
		notes: newNotifierRecorder(), audit: &auditRecorder{}}
	t.Cleanup(func() { f.store.Close() })
	f.blocker = NewIPSetBlocker(f.ips)
	o := Options{
		Suspender: f.store,
		Blocker:   f.blocker,
		Notifier:  f.notes,
		Auditor:   f.audit,
		Settings:  func(string, string) Settings { return settings },
		Now:       f.clock.Now,
	}
	for _, a := range adjust {
		a(&o)
	}
	resp, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.resp = resp
	t.Cleanup(func() { resp.Close(context.Background()) })
	f.recorder = reporter{svc: service(resp, staticDecider{}, signals.NewRecorder(signals.RecorderOptions{State: f.store, Now: f.clock.Now}))}
	return f
}

// fail reports n failed logins of user (user-1, user-2, ... when user
// ends in "-") from ip, a second apart from at.
func (f *fixture) fail(t *testing.T, tenant, user string, ip netip.Addr, at time.Time, n int) {
	t.Helper()
	for i := range n {
		u := user
		if u != "" && u[len(u)-1] == '-' {
			u += strconv.Itoa(i + 1)
		}
		ev := &decision.Event{Tenant: tenant, Kind: decision.EventLoginFailed, Subject: decision.Subject{ID: u},
			Network: decision.Network{IP: ip}, Time: at.Add(time.Duration(i) * time.Second)}
		if _, err := f.recorder.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// drain waits until every queued action is done.
func (f *fixture) drain(t *testing.T) {
	t.Helper()
	if err := f.resp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) denied(tenant string, ip netip.Addr) ipset.Match {
	return f.ips.Lookup(tenant, "production", ip, f.clock.Now()).Deny
}

func (f *fixture) suspension(t *testing.T, tenant, user string) store.Suspension {
	t.Helper()
	var p store.Profile
	ok, err := f.store.GetProfile(context.Background(), tenant, user, &p)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return store.Suspension{}
	}
	return p.Suspension
}

// service is the decision service of the server, evaluating with ev and
// applying reports with ap, so every decision and report reaches r.
func service(r *Responder, ev decide.Evaluator, ap decide.Applier) *decide.Service {
	svc, err := decide.New(decide.Options{Evaluator: ev, Applier: ap, Responder: r})
	if err != nil {
		panic(err)
	}
	return svc
}

// decider checks through the decision service with next's decision.
func decider(r *Responder, next staticDecider) checker {
	return checker{svc: service(r, next, noReports{})}
}

type checker struct{ svc *decide.Service }

func (c checker) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	return c.svc.Check(ctx, req)
}

type reporter struct{ svc *decide.Service }

func (r reporter) Record(ctx context.Context, ev *decision.Event) (string, error) {
	return r.svc.Report(ctx, ev)
}

// noReports refuses reports; the deciding tests send none.
type noReports struct{}

func (noReports) Apply(context.Context, *decision.Event) (signals.Recorded, error) {
	return signals.Recorded{}, errors.New("no reports in this test")
}

// staticDecider returns a copy of its decision.
type staticDecider struct{ d decision.Decision }

func (s staticDecider) Decide(context.Context, *decision.Request) (*decision.Decision, error) {
	d := s.d
	return &d, nil
}

// escalation is the decision of a privilege escalation with suspension.
func escalation(user string, enforced bool) decision.Decision {
	params := map[string]string{"user": user, "action": "admin.users.delete", "reason": "incident.privilege_escalation"}
	obs := []decision.Obligation{{Kind: decision.ObligationNotifySecurity, Params: params}}
	if enforced {
		obs = append(obs, decision.Obligation{Kind: decision.ObligationSuspendUser, Params: params})
	}
	return decision.Decision{Kind: decision.KindDeny, ID: "dec-1", Enforced: enforced, WouldDecide: decision.KindDeny,
		Obligations: obs}
}

func request(tenant, user string, ip netip.Addr) *decision.Request {
	return &decision.Request{Tenant: tenant, Subject: decision.Subject{ID: user},
		Action: decision.Action{Name: "admin.users.delete"}, Network: decision.Network{IP: ip}}
}
