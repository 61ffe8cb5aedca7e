package bolt

import (
	"context"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func TestAuditConformance(t *testing.T) {
	t.Parallel()
	audittest.Run(t, func(t *testing.T) audit.Log {
		s := open(t, filepath.Join(t.TempDir(), "pdp.db"), Options{})
		t.Cleanup(func() { _ = s.Close() })
		return s.AuditLog()
	})
}

func TestAuditSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	s := open(t, path, Options{})
	var last audit.Event
	for i := range 3 {
		last = audittest.MustAppend(t, s.AuditLog(), audittest.Entry("acme", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuditLog().Append(context.Background(), audittest.Entry("acme", 3)); err != store.ErrClosed {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	s = open(t, path, Options{})
	t.Cleanup(func() { _ = s.Close() })
	l := s.AuditLog()
	r := audittest.MustVerify(t, l, 3)
	if r.Head != last.Hash {
		t.Fatalf("head after reopen %s, want %s", r.Head, last.Hash)
	}
	ev := audittest.MustAppend(t, l, audittest.Entry("acme", 3))
	if ev.Seq != 4 || ev.PrevHash != last.Hash || ev.ID <= last.ID {
		t.Fatalf("append after reopen: seq %d prev %s id %s; want seq 4 linked to %s", ev.Seq, ev.PrevHash, ev.ID, last.Hash)
	}
	audittest.MustVerify(t, l, 4)
}

// rewrite edits the stored record of seq directly in the file, keeping its
// hash, as someone with access to the file could.
func rewrite(t *testing.T, s *Store, seq uint64, edit func(*audit.Event)) {
	t.Helper()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		ev, err := audit.Decode(b.Get(auditKey(seq)))
		if err != nil {
			return err
		}
		edit(&ev)
		rec, err := audit.Encode(ev)
		if err != nil {
			return err
		}
		return b.Put(auditKey(seq), rec)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tamper  func(t *testing.T, s *Store)
		seq     uint64
		problem string
	}{
		{"RewrittenReason", func(t *testing.T, s *Store) {
			rewrite(t, s, 3, func(ev *audit.Event) { ev.Reason = "routine maintenance" })
		}, 3, audit.ProblemHash},
		{"RehashedRecord", func(t *testing.T, s *Store) {
			rewrite(t, s, 2, func(ev *audit.Event) { ev.Actor = "someone-else"; ev.Hash, _ = audit.ComputeHash(*ev) })
		}, 3, audit.ProblemPrevHash},
		{"DeletedRecord", func(t *testing.T, s *Store) {
			_ = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketAudit).Delete(auditKey(4)) })
		}, 4, audit.ProblemSequence},
		{"CutTail", func(t *testing.T, s *Store) {
			_ = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketAudit).Delete(auditKey(5)) })
		}, 4, audit.ProblemHead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, filepath.Join(t.TempDir(), "pdp.db"), Options{})
			t.Cleanup(func() { _ = s.Close() })
			l := s.AuditLog()
			for i := range 5 {
				audittest.MustAppend(t, l, audittest.Entry("acme", i))
			}
			tc.tamper(t, s)
			r, err := audit.Verify(context.Background(), l)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || r.Broken.Seq != tc.seq || r.Broken.Problem != tc.problem {
				t.Fatalf("Verify = %+v, broken %v; want %s at seq %d", r, r.Broken, tc.problem, tc.seq)
			}
			t.Log(r.Broken)
		})
	}
}

func TestAuditCommitConformance(t *testing.T) {
	t.Parallel()
	audittest.RunCommit(t, func(t *testing.T) audittest.Backend {
		s := open(t, filepath.Join(t.TempDir(), "pdp.db"), Options{})
		t.Cleanup(func() { _ = s.Close() })
		return audittest.Backend{Log: s.AuditLog(), State: s, Policies: s.Policies(), Rules: s.IPRules(), RollsBack: true}
	})
}
