package audittest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
	"github.com/pdp-dev/pdp/server/internal/tenantstore/tenantstoretest"
)

// Backend is one store backend as an audited change sees it: its audit log,
// which must be an audit.Committer, and the stores a change writes to.
type Backend struct {
	Log      audit.Log
	State    store.Store
	Policies tenantstore.Store
	Rules    iprules.Store
	// RollsBack is true when the backend undoes a change's writes if the
	// change fails after writing, or if the record cannot be appended after
	// the change ran (one transaction). A backend without it (memory)
	// checks everything that can refuse the record before the change runs.
	RollsBack bool
}

// OpenBackend returns a fresh, empty backend for one test; the opener
// cleans it up.
type OpenBackend func(t *testing.T) Backend

// RunCommit runs the conformance tests of audit.Committer against the
// backends open returns: a change and its record are committed together or
// not at all.
func RunCommit(t *testing.T, open OpenBackend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"ChangeAndRecordTogether", testCommitTogether},
		{"AFailingChangeAppendsNoRecord", testCommitFailingChange},
		{"ARecordTheLogRefusesRunsNoChange", testCommitRefusedRecord},
		{"AFailedAppendAfterTheChangeLeavesNoChange", testCommitFailedAppend},
		{"AChangeThatFailsAfterWritingLeavesNoChange", testCommitPartialChange},
		{"ConcurrentCommitsAndStateWrites", testCommitConcurrent},
		{"AnImportIsLiveWithItsRecord", testImportTogether},
		{"AnImportWhoseRecordIsRefusedStaysUnseen", testImportRefusedRecord},
		{"AnImportWhoseAppendFailsLeavesNothingLive", testImportFailedAppend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func committer(t *testing.T, b Backend) audit.Committer {
	t.Helper()
	c, ok := b.Log.(audit.Committer)
	if !ok {
		t.Fatalf("the audit log %T is not an audit.Committer", b.Log)
	}
	return c
}

var ruleOf = iprules.Rule{
	Tenant: "acme", List: "deny", Prefix: netip.MustParsePrefix("198.51.100.0/24"), Reason: "scanner",
	Source: iprules.SourceAdmin, CreatedAt: T0, CreatedBy: "admin-key",
}

// writeAll is a change touching every store: the SSO status, a user's
// suspension, a tenant policy and an IP rule; it records what it wrote
// as the entry's After.
func writeAll(b Backend) func(context.Context, *audit.Entry) error {
	return func(ctx context.Context, e *audit.Entry) error {
		if err := b.State.SetSSOStatus(ctx, "acme", store.SSOStatus{Available: false, Reason: "okta down", UpdatedAt: T0}); err != nil {
			return err
		}
		if err := b.State.SetSuspension(ctx, "acme", "u1", store.Suspension{Suspended: true, Reason: "test", At: T0, By: "admin-key"}); err != nil {
			return err
		}
		p, err := b.Policies.Put(ctx, tenantstoretest.Policy("acme", 2), "")
		if err != nil {
			return err
		}
		r, err := b.Rules.Add(ctx, ruleOf)
		if err != nil {
			return err
		}
		e.After = map[string]any{"etag": p.GetEtag(), "rule": r.ID}
		return nil
	}
}

// written reports which of writeAll's writes are visible.
func written(t *testing.T, b Backend) (sso, suspended, policy, rule bool) {
	t.Helper()
	ctx := context.Background()
	var v store.View
	if err := b.State.Read(ctx, store.Query{Tenant: "acme", UserID: "u1", At: T0}, &v); err != nil {
		t.Fatal(err)
	}
	_, perr := b.Policies.Get(ctx, "acme")
	if perr != nil && !errors.Is(perr, fault.ErrNotFound) {
		t.Fatal(perr)
	}
	_, rerr := b.Rules.Get(ctx, ruleOf.WithID().ID)
	if rerr != nil && !errors.Is(rerr, fault.ErrNotFound) {
		t.Fatal(rerr)
	}
	return v.HasSSO, v.HasProfile && v.Profile.Suspension.Suspended, perr == nil, rerr == nil
}

func wantNothingWritten(t *testing.T, b Backend) {
	t.Helper()
	if sso, sus, pol, rule := written(t, b); sso || sus || pol || rule {
		t.Errorf("writes stayed: SSO %v, suspension %v, policy %v, rule %v; want none", sso, sus, pol, rule)
	}
	MustVerify(t, b.Log, 0)
}

func testCommitTogether(t *testing.T, b Backend) {
	ev, err := committer(t, b).Commit(context.Background(), Entry("acme", 1), writeAll(b))
	if err != nil {
		t.Fatal(err)
	}
	if sso, sus, pol, rule := written(t, b); !sso || !sus || !pol || !rule {
		t.Errorf("after Commit: SSO %v, suspension %v, policy %v, rule %v; want all", sso, sus, pol, rule)
	}
	MustVerify(t, b.Log, 1)
	events, _, err := b.Log.List(context.Background(), audit.Query{})
	if err != nil || len(events) != 1 {
		t.Fatalf("List = %v, %v", events, err)
	}
	if events[0].Hash != ev.Hash || events[0].After["rule"] != ruleOf.WithID().ID {
		t.Errorf("the record is %+v, want the committed event with the After the change filled in", events[0])
	}
}

func testCommitFailingChange(t *testing.T, b Backend) {
	ctx := context.Background()
	_, err := committer(t, b).Commit(ctx, Entry("acme", 1), func(ctx context.Context, _ *audit.Entry) error {
		// A compare-and-set that loses: nothing is stored.
		_, err := b.Policies.Put(ctx, tenantstoretest.Policy("acme", 2), "stale")
		return err
	})
	if !errors.Is(err, fault.ErrAborted) {
		t.Fatalf("Commit of a change that fails = %v, want the change's ABORTED as it is", err)
	}
	wantNothingWritten(t, b)
}

func testCommitRefusedRecord(t *testing.T, b Backend) {
	e := Entry("acme", 1)
	e.Reason = strings.Repeat("r", audit.MaxReasonLen+1)
	ran := false
	_, err := committer(t, b).Commit(context.Background(), e, func(ctx context.Context, e *audit.Entry) error {
		ran = true
		return writeAll(b)(ctx, e)
	})
	if fault.As(err).Code != fault.InvalidArgument {
		t.Fatalf("Commit of a record the log refuses = %v, want INVALID_ARGUMENT", err)
	}
	if ran {
		t.Error("the change ran though its record was refused")
	}
	wantNothingWritten(t, b)
}

func testCommitFailedAppend(t *testing.T, b Backend) {
	if !b.RollsBack {
		t.Skip("the backend checks the record before the change instead")
	}
	// The record fails to link after the change wrote everything.
	_, err := committer(t, b).Commit(context.Background(), Entry("acme", 1), func(ctx context.Context, e *audit.Entry) error {
		if err := writeAll(b)(ctx, e); err != nil {
			return err
		}
		e.Target = strings.Repeat("x", audit.MaxFieldLen+1)
		return nil
	})
	if err == nil {
		t.Fatal("Commit of a record that cannot be appended succeeded")
	}
	wantNothingWritten(t, b)
}

func testCommitPartialChange(t *testing.T, b Backend) {
	if !b.RollsBack {
		t.Skip("the backend does not undo writes of a change that fails")
	}
	boom := errors.New("boom")
	_, err := committer(t, b).Commit(context.Background(), Entry("acme", 1), func(ctx context.Context, e *audit.Entry) error {
		if err := writeAll(b)(ctx, e); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Commit = %v, want the change's error", err)
	}
	wantNothingWritten(t, b)
}

// testCommitConcurrent runs commits that write a user's suspension while
// other writers apply events to the same user, and checks every commit
// lands with its record and nothing deadlocks.
func testCommitConcurrent(t *testing.T, b Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 20
	errs := make(chan error, 2*n)
	for i := range n {
		go func() {
			_, err := committer(t, b).Commit(ctx, Entry("acme", i), func(ctx context.Context, _ *audit.Entry) error {
				return b.State.SetSuspension(ctx, "acme", "u1", store.Suspension{Suspended: i%2 == 0, At: T0.Add(time.Duration(i) * time.Second)})
			})
			errs <- err
		}()
		go func() {
			errs <- b.State.ResetMFA(ctx, "acme", "u1", T0.Add(time.Duration(i)*time.Second))
		}()
	}
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	MustVerify(t, b.Log, n)
}

// stageImport stages an import of n rules under id: for acme, whose scope
// then holds an admin rule, when merge is set, else for globex, whose
// scope is empty. It returns the stager, or skips the test.
func stageImport(t *testing.T, b Backend, id string, n int, merge bool) iprules.Stager {
	t.Helper()
	st, ok := b.Rules.(iprules.Stager)
	if !ok {
		t.Skip("the backend's IP rules do not stage imports")
	}
	ctx := context.Background()
	tenant := "globex"
	if merge {
		tenant = "acme"
		if _, err := b.Rules.Add(ctx, ruleOf); err != nil {
			t.Fatal(err)
		}
	}
	feed := make([]iprules.Rule, n)
	for i := range feed {
		feed[i].Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 32)
	}
	if _, err := st.Stage(ctx, id, tenant, "deny", iprules.ImportPrefix+"feed", feed); err != nil {
		t.Fatal(err)
	}
	return st
}

// imported counts the live rules an import listed.
func imported(t *testing.T, b Backend) int {
	t.Helper()
	all, err := b.Rules.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range all {
		if r.Source == iprules.ImportPrefix+"feed" {
			n++
		}
	}
	return n
}

// publish is the change of an import: the staged rules become live and
// the record says how many.
func publish(st iprules.Stager, id string) func(context.Context, *audit.Entry) error {
	return func(ctx context.Context, e *audit.Entry) error {
		added, dups, err := st.Publish(ctx, id)
		if err != nil {
			return err
		}
		e.After = map[string]any{"added": added, "duplicates": dups}
		return nil
	}
}

func testImportTogether(t *testing.T, b Backend) {
	for _, merge := range []bool{false, true} {
		id := fmt.Sprintf("imp-%t", merge)
		st := stageImport(t, b, id, 1000, merge)
		if _, err := committer(t, b).Commit(context.Background(), Entry("acme", 1), publish(st, id)); err != nil {
			t.Fatal(err)
		}
	}
	if n := imported(t, b); n != 2000 {
		t.Errorf("%d imported rules are live, want 2000", n)
	}
	MustVerify(t, b.Log, 2)
}

func testImportRefusedRecord(t *testing.T, b Backend) {
	st := stageImport(t, b, "imp-1", 1000, false)
	e := Entry("acme", 1)
	e.Reason = strings.Repeat("r", audit.MaxReasonLen+1)
	if _, err := committer(t, b).Commit(context.Background(), e, publish(st, "imp-1")); fault.As(err).Code != fault.InvalidArgument {
		t.Fatalf("Commit of an import whose record the log refuses = %v, want INVALID_ARGUMENT", err)
	}
	if n := imported(t, b); n != 0 {
		t.Errorf("%d rules of an import whose record was refused are live, want none", n)
	}
	MustVerify(t, b.Log, 0)
}

func testImportFailedAppend(t *testing.T, b Backend) {
	if !b.RollsBack {
		t.Skip("the backend checks the record before the change instead")
	}
	for i, merge := range []bool{false, true} {
		t.Run(fmt.Sprintf("merge=%t", merge), func(t *testing.T) {
			id := fmt.Sprintf("imp-%t", merge)
			st := stageImport(t, b, id, 1000, merge)
			_, err := committer(t, b).Commit(context.Background(), Entry("acme", 1), func(ctx context.Context, e *audit.Entry) error {
				if err := publish(st, id)(ctx, e); err != nil {
					return err
				}
				e.Target = strings.Repeat("x", audit.MaxFieldLen+1)
				return nil
			})
			if err == nil {
				t.Fatal("Commit of an import whose record cannot be appended succeeded")
			}
			if n := imported(t, b); n != 1000*i {
				t.Errorf("%d rules of imports are live, want the %d of the first", n, 1000*i)
			}
			MustVerify(t, b.Log, uint64(i))
			// The staging is still there to publish (or discard).
			if _, err := committer(t, b).Commit(context.Background(), Entry("acme", 1), publish(st, id)); err != nil {
				t.Fatal(err)
			}
			if n := imported(t, b); n != 1000*(i+1) {
				t.Errorf("after a second Commit, %d imported rules are live, want %d", n, 1000*(i+1))
			}
			if err := st.Discard(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		})
	}
}
