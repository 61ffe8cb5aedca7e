package incident

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// commitRecorder is a CommitAuditor: Commit runs the action and records
// its entry, or, when down, fails without running it.
type commitRecorder struct {
	auditRecorder
	down    bool
	commits int
}

func (c *commitRecorder) Commit(ctx context.Context, e AuditEntry, act func(context.Context) error) error {
	if c.down {
		return errors.New("audit log unavailable")
	}
	if err := act(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.commits++
	c.mu.Unlock()
	return c.Record(ctx, e)
}

func TestASuspensionIsCommittedWithItsRecord(t *testing.T) {
	log := &commitRecorder{}
	f := newFixture(t, strict, func(o *Options) { o.Auditor = log })
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if !f.suspension(t, "acme", "mallory").Suspended {
		t.Error("the user is not suspended")
	}
	if got := log.actions(); !slices.Equal(got, []string{"incident.suspend_user", "incident.notify"}) || log.commits != 1 {
		t.Errorf("audited %v in %d commits, want the suspension committed with its record, then the notification", got, log.commits)
	}
}

func TestASuspensionTheAuditLogCannotRecordIsNotMade(t *testing.T) {
	log := &commitRecorder{down: true}
	f := newFixture(t, strict, func(o *Options) { o.Auditor = log })
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	if f.suspension(t, "acme", "mallory").Suspended {
		t.Error("a suspension the audit log did not record was made")
	}
	if slices.Contains(log.actions(), "incident.suspend_user") {
		t.Errorf("audited %v", log.actions())
	}
	if st := f.resp.Stats(); st.Failed != 1 {
		t.Errorf("stats %+v, want the action counted as failed", st)
	}
}

func TestAFailedActionIsRecordedWithItsError(t *testing.T) {
	log := &commitRecorder{}
	f := newFixture(t, strict, func(o *Options) { o.Auditor = log; o.Suspender = failingSuspender{} })
	h := decider(f.resp, staticDecider{escalation("mallory", true)})
	if _, err := h.Decide(context.Background(), request("acme", "mallory", attacker)); err != nil {
		t.Fatal(err)
	}
	f.drain(t)
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.entries) == 0 || log.entries[0].Action != "incident.suspend_user" ||
		!strings.Contains(log.entries[0].Details["error"], "store down") || log.commits != 0 {
		t.Errorf("entries %+v (%d commits), want the failed suspension recorded with its error", log.entries, log.commits)
	}
}
