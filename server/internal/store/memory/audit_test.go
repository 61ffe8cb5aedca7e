package memory

import (
	"context"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func TestAuditConformance(t *testing.T) {
	t.Parallel()
	audittest.Run(t, func(t *testing.T) audit.Log {
		s := New(Options{SweepInterval: -1})
		t.Cleanup(func() { _ = s.Close() })
		return s.AuditLog()
	})
}

func TestAuditLogIsOnePerStore(t *testing.T) {
	t.Parallel()
	s := New(Options{SweepInterval: -1})
	a, b := s.AuditLog(), s.AuditLog()
	audittest.MustAppend(t, a, audittest.Entry("acme", 0))
	audittest.MustAppend(t, b, audittest.Entry("acme", 1))
	audittest.MustVerify(t, a, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(context.Background(), audittest.Entry("acme", 2)); err != store.ErrClosed {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestAuditVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	s := New(Options{SweepInterval: -1})
	t.Cleanup(func() { _ = s.Close() })
	l := s.AuditLog()
	for i := range 5 {
		audittest.MustAppend(t, l, audittest.Entry("acme", i))
	}
	if err := l.(*auditLog).tamper(3, func(ev *audit.Event) { ev.Reason = "nothing to see" }); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Verify(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Broken.Seq != 3 || r.Broken.Problem != audit.ProblemHash || r.Events != 2 {
		t.Fatalf("Verify after tampering with seq 3 = %+v, broken %v", r, r.Broken)
	}
}

func TestAuditCommitConformance(t *testing.T) {
	t.Parallel()
	audittest.RunCommit(t, func(t *testing.T) audittest.Backend {
		s := New(Options{SweepInterval: -1})
		t.Cleanup(func() { _ = s.Close() })
		return audittest.Backend{Log: s.AuditLog(), State: s, Policies: NewPolicies(), Rules: NewIPRules()}
	})
}
