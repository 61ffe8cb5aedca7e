package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/checkpoint"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/incident"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

func TestIncidentAuditorAppends(t *testing.T) {
	st := memory.New(memory.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = st.Close() })
	log := st.AuditLog()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	a := incidentAuditor{log: log}
	err := a.Record(context.Background(), incident.AuditEntry{
		Time: at, Actor: incident.Actor, Action: "incident.block_ip", Tenant: "acme", Target: "198.51.100.7",
		Reason: "12 failed logins in 15m", Details: map[string]string{"expires_at": "2026-03-10T13:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := log.List(context.Background(), audit.Query{Tenant: "acme"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("List = %v, %v", evs, err)
	}
	ev := evs[0]
	if ev.Actor != incident.Actor || ev.Action != "incident.block_ip" || ev.Target != "198.51.100.7" ||
		!ev.Time.Equal(at) || ev.After["expires_at"] != "2026-03-10T13:00:00Z" || ev.Before != nil {
		t.Errorf("recorded %+v", ev)
	}
}

func TestStateOpensTheStoresAuditLog(t *testing.T) {
	cfg := config.Default()
	cfg.Store = "bolt:" + filepath.Join(t.TempDir(), "pdp.db")
	s, err := openState(cfg, options{logger: slog.New(slog.DiscardHandler), now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.audit.Append(context.Background(), audit.Entry{Actor: "admin", Action: "sso.set", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Verify(context.Background(), auditOf(t, s))
	if err != nil || !r.OK() || r.Events != 1 {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	s.close()
}

// auditOf asks the state's store for its log again: the same chain.
func auditOf(t *testing.T, s *state) audit.Log {
	t.Helper()
	log, err := auditLogOf(s.store)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func TestStateCheckpointsTheAuditChain(t *testing.T) {
	dir := t.TempDir()
	privPEM, pubPEM, err := checkpoint.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Store = "bolt:" + filepath.Join(dir, "pdp.db")
	cfg.AuditCheckpointKey = filepath.Join(dir, "checkpoint.key")
	cfg.AuditCheckpoints = filepath.Join(dir, "checkpoints.jws")
	cfg.AuditCheckpointInterval = 0
	if err := os.WriteFile(cfg.AuditCheckpointKey, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openState(cfg, options{logger: slog.New(slog.DiscardHandler), now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.audit.(audit.Committer); !ok {
		t.Fatal("with checkpoints the state's audit log no longer commits a change with its record")
	}
	for i := range 3 {
		if _, err := s.audit.Append(context.Background(), audit.Entry{Actor: "admin", Action: "sso.set", Tenant: fmt.Sprint("t", i)}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := auditOf(t, s).(audit.Header).Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.close()

	pub, _ := checkpoint.ParsePublicKey(pubPEM)
	ks, _ := checkpoint.NewKeys(pub)
	lines, torn, err := checkpoint.ReadFile(cfg.AuditCheckpoints, ks)
	if err != nil || torn != nil || len(lines) < 2 {
		t.Fatalf("ReadFile = %d lines, torn %v, %v", len(lines), torn, err)
	}
	first, last := lines[0].Checkpoint, lines[len(lines)-1].Checkpoint
	if lines[0].Err != nil || first.Seq != 0 || lines[len(lines)-1].Err != nil || last.Head() != head {
		t.Fatalf("start checkpoint %+v, shutdown checkpoint %+v; want seq 0 and the head %+v", first, last, head)
	}
	if st, err := os.Stat(cfg.AuditCheckpoints); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoints file mode %v, %v", st.Mode(), err)
	}
	// A key that is not a private key stops the start.
	cfg.AuditCheckpointKey = filepath.Join(dir, "checkpoint.pub")
	_ = os.WriteFile(cfg.AuditCheckpointKey, pubPEM, 0o600)
	if _, err := openState(cfg, options{logger: slog.New(slog.DiscardHandler), now: time.Now}); err == nil ||
		!strings.Contains(err.Error(), "--audit-checkpoint-key") {
		t.Fatalf("openState with a public key as the signing key: %v", err)
	}
}

// linkFails is a bolt audit log whose record fails to link once the
// action ran, inside the commit's transaction.
type linkFails struct{ audit.Log }

func (l linkFails) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	return l.Log.(audit.Committer).Commit(ctx, e, func(ctx context.Context, e *audit.Entry) error {
		if err := change(ctx, e); err != nil {
			return err
		}
		e.Actor = ""
		return nil
	})
}

func TestIncidentAuditorCommitsTheActionWithItsRecord(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "pdp.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	entry := func(user string) incident.AuditEntry {
		return incident.AuditEntry{Time: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), Actor: incident.Actor,
			Action: "incident.suspend_user", Tenant: "acme", Target: user, Reason: "escalation"}
	}
	suspend := func(user string) func(context.Context) error {
		return func(ctx context.Context) error {
			return st.SetSuspension(ctx, "acme", user, store.Suspension{Suspended: true, By: incident.Actor})
		}
	}
	suspended := func(user string) bool {
		var p store.Profile
		ok, err := st.GetProfile(ctx, "acme", user, &p)
		if err != nil {
			t.Fatal(err)
		}
		return ok && p.Suspension.Suspended
	}

	if err := (incidentAuditor{log: st.AuditLog()}).Commit(ctx, entry("u1"), suspend("u1")); err != nil {
		t.Fatal(err)
	}
	if err := (incidentAuditor{log: linkFails{st.AuditLog()}}).Commit(ctx, entry("u2"), suspend("u2")); err == nil {
		t.Fatal("a suspension whose record failed was committed")
	}
	if !suspended("u1") || suspended("u2") {
		t.Errorf("suspended u1 %v, u2 %v; want u1 only", suspended("u1"), suspended("u2"))
	}
	evs, _, err := st.AuditLog().List(ctx, audit.Query{})
	if err != nil || len(evs) != 1 || evs[0].Target != "u1" {
		t.Errorf("recorded %+v, %v; want u1's suspension only", evs, err)
	}
}

func TestStateLogsAChainThatNoLongerHoldsTheLatestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	privPEM, _, err := checkpoint.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "pdp.db")
	cfg := config.Default()
	cfg.Store = "bolt:" + db
	cfg.AuditCheckpointKey = filepath.Join(dir, "checkpoint.key")
	cfg.AuditCheckpoints = filepath.Join(dir, "checkpoints.jws")
	_ = os.WriteFile(cfg.AuditCheckpointKey, privPEM, 0o600)
	start := func() (*state, string) {
		var logs bytes.Buffer
		s, err := openState(cfg, options{logger: slog.New(slog.NewTextHandler(&logs, nil)), now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s, logs.String()
	}
	s, logs := start()
	for range 3 {
		if _, err := s.audit.Append(context.Background(), audit.Entry{Actor: "admin", Action: "sso.set", Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	s.close()
	if strings.Contains(logs, "does not hold") {
		t.Fatalf("a first start complains:\n%s", logs)
	}
	s, logs = start()
	s.close()
	if strings.Contains(logs, "does not hold") {
		t.Fatalf("a restart of a sound chain complains:\n%s", logs)
	}

	// While stopped, the store goes back to an older copy: seq 3 is cut and
	// the head moved to seq 2.
	bdb, err := bbolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bbolt.Tx) error {
		recs := tx.Bucket([]byte("audit"))
		ev, err := audit.Decode(recs.Get(binary.BigEndian.AppendUint64(nil, 2)))
		if err != nil {
			return err
		}
		head, _ := json.Marshal(map[string]any{"seq": ev.Seq, "hash": ev.Hash, "id": ev.ID})
		return errors.Join(recs.Delete(binary.BigEndian.AppendUint64(nil, 3)), tx.Bucket([]byte("audit_head")).Put([]byte("head"), head))
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, logs = start()
	s.close()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "the audit chain does not hold the latest checkpoint") ||
		!strings.Contains(logs, "problem=truncated seq=3") {
		t.Fatalf("a start on a cut chain logs:\n%s", logs)
	}
}
