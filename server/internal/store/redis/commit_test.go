package redis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/internal/tenantstore/tenantstoretest"
)

func TestAuditCommitConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	audittest.RunCommit(t, func(t *testing.T) audittest.Backend {
		s := openStore(t, srv, Options{})
		return audittest.Backend{Log: s.AuditLog(), State: s, Policies: s.Policies(), Rules: s.IPRules(nil), RollsBack: true}
	})
}

// outboxLen is how many records the outboxes of s hold.
func outboxLen(t *testing.T, s *Store) int {
	t.Helper()
	ctx := context.Background()
	keys, err := s.client.Do(ctx, s.client.B().Smembers().Key((&auditLog{s: s}).outboxesKey()).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		l, err := s.client.Do(ctx, s.client.B().Llen().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		n += int(l)
	}
	return n
}

// suspend is an audited change suspending user u1 of acme.
func suspend(s *Store) func(context.Context, *audit.Entry) error {
	return func(ctx context.Context, e *audit.Entry) error {
		e.After = map[string]any{"suspended": true}
		return s.SetSuspension(ctx, "acme", "u1", store.Suspension{Suspended: true, At: t0, By: "admin-key"})
	}
}

func suspended(t *testing.T, s *Store) bool {
	t.Helper()
	var p store.Profile
	if _, err := s.GetProfile(context.Background(), "acme", "u1", &p); err != nil {
		t.Fatal(err)
	}
	return p.Suspension.Suspended
}

func TestAuditRecordOfAReplicaThatStoppedBeforeLinkingIsLinkedOnceBySweepers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	crashed := openStore(t, srv, Options{})
	ctx := context.Background()
	l := &auditLog{s: crashed} // a replica without a sweeper, as one that stops
	// The change and its record are written; the replica stops before it
	// links the record.
	outbox, rec, err := l.commitChange(ctx, audittest.Entry("acme", 1), suspend(crashed))
	if err != nil {
		t.Fatal(err)
	}
	if !suspended(t, crashed) || outboxLen(t, crashed) != 1 {
		t.Fatalf("after the change's script: suspended %v, outbox %d; want the change and one waiting record", suspended(t, crashed), outboxLen(t, crashed))
	}
	audittest.MustVerify(t, l, 0)

	// Another replica's sweeper links it at start.
	other := sameKeys(t, srv, crashed)
	other.opts.SweepInterval = 10 * time.Millisecond
	ol := other.AuditLog()
	deadline := time.Now().Add(10 * time.Second)
	for outboxLen(t, crashed) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not link the waiting record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Linking it again, as a replica that read it before it was removed
	// would, returns the same event and appends nothing.
	ev, err := l.link(ctx, outbox, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	audittest.MustVerify(t, ol, 1)
	evs, _, err := ol.List(ctx, audit.Query{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("List = %v, %v", evs, err)
	}
	if evs[0].Hash != ev.Hash || evs[0].Target != "rule-1" || evs[0].After["suspended"] != true {
		t.Errorf("linked %+v, a second link returned %+v", evs[0], ev)
	}
}

func TestAuditCommitsOfReplicasWithSweepersFormOneChain(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := openStore(t, srv, Options{SweepInterval: time.Millisecond})
	replicas := []*Store{a, sameKeys(t, srv, a), sameKeys(t, srv, a)}
	const each = 10
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*each)
	for r, s := range replicas {
		wg.Go(func() {
			l := s.AuditLog().(*auditLog)
			for i := range each {
				tenant := fmt.Sprintf("t%d", i%3)
				e := audittest.Entry(tenant, i)
				change := func(ctx context.Context, _ *audit.Entry) error {
					return s.ResetMFA(ctx, tenant, fmt.Sprintf("u%d", r), t0.Add(time.Duration(i)*time.Second))
				}
				// Every other commit stops before it links: the sweepers
				// link those.
				var err error
				if i%2 == 0 {
					_, _, err = l.commitChange(ctx, e, change)
				} else {
					_, err = l.Commit(ctx, e, change)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for outboxLen(t, a) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still wait to be linked", outboxLen(t, a))
		}
		time.Sleep(5 * time.Millisecond)
	}
	audittest.MustVerify(t, a.AuditLog(), uint64(len(replicas)*each))
}

func TestAuditCommitInAClusterRunsEveryChangeInOneSlot(t *testing.T) {
	t.Parallel()
	srv := redistest.StartWith(t, redistest.Options{Cluster: true})
	ctx := context.Background()
	s, err := Open(ctx, srv.URL(0)+"?prefix=cc", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	l := s.AuditLog().(audit.Committer)
	pol, rules := s.Policies(), s.IPRules(s.Notifier())
	global := iprules.Rule{List: "deny", Prefix: netip.MustParsePrefix("203.0.113.0/24"), Reason: "scanner",
		Source: iprules.SourceAdmin, CreatedAt: t0, CreatedBy: "admin-key"}
	tenantRule := global
	tenantRule.Tenant = "acme"
	changes := []struct {
		name   string
		change func(context.Context) error
	}{
		{"SSO status and suspension", func(ctx context.Context) error {
			if err := s.SetSSOStatus(ctx, "acme", store.SSOStatus{Available: false, UpdatedAt: t0}); err != nil {
				return err
			}
			return s.SetSuspension(ctx, "acme", "u1", store.Suspension{Suspended: true, At: t0})
		}},
		{"MFA reset", func(ctx context.Context) error { return s.ResetMFA(ctx, "acme", "u1", t0) }},
		{"erasure", func(ctx context.Context) error { _, err := s.DeleteUser(ctx, "acme", "u1"); return err }},
		{"tenant policy", func(ctx context.Context) error {
			_, err := pol.Put(ctx, tenantstoretest.Policy("acme", 2), "")
			return err
		}},
		{"pending change", func(ctx context.Context) error {
			return pol.PutPending(ctx, &pdpv1.PendingChange{Id: "c1", Tenant: "acme", Policy: tenantstoretest.Policy("acme", 3)})
		}},
		{"approval", func(ctx context.Context) error {
			cur, err := pol.Get(ctx, "acme")
			if err != nil {
				return err
			}
			if _, err := pol.Put(ctx, tenantstoretest.Policy("acme", 3), cur.GetEtag()); err != nil {
				return err
			}
			return pol.DeletePending(ctx, "c1")
		}},
		{"global IP rule", func(ctx context.Context) error { _, err := rules.Add(ctx, global); return err }},
		{"tenant IP rule", func(ctx context.Context) error { _, err := rules.Add(ctx, tenantRule); return err }},
		{"IP rule removal", func(ctx context.Context) error {
			_, err := rules.Remove(ctx, tenantRule.WithID().ID)
			return err
		}},
	}
	for i, c := range changes {
		_, err := l.Commit(ctx, audittest.Entry("acme", i), func(ctx context.Context, _ *audit.Entry) error { return c.change(ctx) })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	audittest.MustVerify(t, s.AuditLog(), uint64(len(changes)))
	if got, err := rules.All(ctx); err != nil || len(got) != 1 || got[0].Tenant != "" {
		t.Errorf("IP rules = %v, %v; want the global one", got, err)
	}
	if p, err := pol.Get(ctx, "acme"); err != nil || !strings.Contains(p.String(), "3") {
		t.Errorf("policy = %v, %v", p, err)
	}
	if _, err := pol.GetPending(ctx, "c1"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("the approved change is still pending: %v", err)
	}

	// A change across slots cannot be one script: it is refused whole.
	_, err = l.Commit(ctx, audittest.Entry("acme", 99), func(ctx context.Context, _ *audit.Entry) error {
		if err := s.SetSSOStatus(ctx, "globex", store.SSOStatus{Available: false, UpdatedAt: t0}); err != nil {
			return err
		}
		_, err := pol.Put(ctx, tenantstoretest.Policy("globex", 2), "")
		return err
	})
	if fault.As(err).Code != fault.Internal {
		t.Fatalf("a change across slots = %v, want INTERNAL", err)
	}
	var v store.View
	if err := s.Read(ctx, store.Query{Tenant: "globex", At: t0}, &v); err != nil || v.HasSSO {
		t.Errorf("the refused change wrote the SSO status (%v)", err)
	}
	audittest.MustVerify(t, s.AuditLog(), uint64(len(changes)))
}

func TestOpenMovesTheGlobalIPRulesOfEarlierVersions(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	old := openStore(t, srv, Options{})
	ctx := context.Background()
	rule, err := iprules.Prepare(iprules.Rule{List: "deny", Prefix: netip.MustParsePrefix("203.0.113.0/24"),
		Source: iprules.SourceAdmin, CreatedAt: t0, CreatedBy: "admin-key"})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := rule.MarshalBinary()
	// The global scope as earlier versions wrote it.
	c, p := old.client, old.cfg.Prefix
	for _, res := range c.DoMulti(ctx,
		c.B().Hset().Key(p+":{}:iprules").FieldValue().FieldValue(rule.ID, string(v)).Build(),
		c.B().Zadd().Key(p+":{}:iprules:ids").ScoreMember().ScoreMember(0, rule.ID).Build(),
		c.B().Set().Key(p+":{}:iprules:v").Value("7").Build(),
		c.B().Hset().Key(p+":iprules:where").FieldValue().FieldValue(rule.ID, "").Build(),
		c.B().Sadd().Key(p+":iprules:scopes").Member("").Build()) {
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
	}
	s := sameKeys(t, srv, old)
	r := s.IPRules(nil)
	if got, err := r.Get(ctx, rule.ID); err != nil || got.Prefix != rule.Prefix {
		t.Fatalf("Get after the move = %v, %v", got, err)
	}
	if page, _, err := r.List(ctx, iprules.Query{}); err != nil || len(page) != 1 {
		t.Errorf("List after the move = %v, %v", page, err)
	}
	if n, err := r.Version(ctx, ""); err != nil || n != 7 {
		t.Errorf("Version after the move = %d, %v; want 7", n, err)
	}
	if n, _ := s.client.Do(ctx, s.client.B().Exists().Key(p+":{}:iprules", p+":{}:iprules:ids", p+":{}:iprules:v").Build()).AsInt64(); n != 0 {
		t.Errorf("%d old keys are left", n)
	}
}
func TestAuditCommitWhoseRecordTheScriptCannotPushWritesNoChange(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{SweepInterval: time.Hour})
	ctx := context.Background()
	l := s.AuditLog().(*auditLog)
	// The outbox is not a list, so the script's first write fails.
	if err := s.client.Do(ctx, s.client.B().Set().Key(l.outboxKey("acme")).Value("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Commit(ctx, audittest.Entry("acme", 1), suspend(s)); err == nil {
		t.Fatal("Commit succeeded though its record could not be pushed")
	}
	if suspended(t, s) {
		t.Error("the change was written without its record")
	}
	audittest.MustVerify(t, l, 0)
}

func TestAReaderWithoutASweeperLinksNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	crashed := openStore(t, srv, Options{})
	ctx := context.Background()
	l := &auditLog{s: crashed} // a replica that stops before it links
	if _, _, err := l.commitChange(ctx, audittest.Entry("acme", 1), suspend(crashed)); err != nil {
		t.Fatal(err)
	}
	// Opened as `pdp audit verify` opens it.
	reader, err := Open(ctx, srv.URL(0)+"?prefix="+crashed.cfg.Prefix, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	audittest.MustVerify(t, reader.AuditLog(), 0)
	// A sweeper would link the record at once; give one the chance.
	time.Sleep(100 * time.Millisecond)
	if n := outboxLen(t, crashed); n != 1 {
		t.Fatalf("outbox holds %d records after a reader opened the log; want the 1 it had", n)
	}
	audittest.MustVerify(t, reader.AuditLog(), 0)
}
