// Package audittest is the conformance suite every audit.Log runs:
//
//	func TestAuditConformance(t *testing.T) {
//		audittest.Run(t, func(t *testing.T) audit.Log { return memory.New(memory.Options{}).AuditLog() })
//	}
//
// It checks what audit.Log documents: a valid hash chain from seq 1, events
// listed in append order, paging with After and Limit, the Tenant, Tenants,
// Since and Target filters, values read back exactly as appended, invalid
// entries refused, and concurrent appends forming one chain.
package audittest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Open returns a fresh, empty log for one test; the opener cleans it up.
type Open func(t *testing.T) audit.Log

// Run runs every conformance test against the logs open returns, each on
// its own log and in parallel with the others.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, l audit.Log)
	}{
		{"EmptyLog", testEmpty},
		{"ChainFromSeqOne", testChain},
		{"ReadBackExactly", testReadBack},
		{"Paging", testPaging},
		{"Filters", testFilters},
		{"InvalidEntries", testInvalid},
		{"ConcurrentAppendsFormOneChain", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// T0 is the base time of the suite's entries.
var T0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// Entry returns a valid entry for tenant numbered i, at T0 plus i minutes.
func Entry(tenant string, i int) audit.Entry {
	return audit.Entry{
		Time: T0.Add(time.Duration(i) * time.Minute), Actor: "admin-key", Action: "ip_rule.add",
		Tenant: tenant, Target: fmt.Sprintf("rule-%d", i), Reason: fmt.Sprintf("change %d", i),
		After: map[string]any{"cidr": "192.0.2.0/24", "n": i},
	}
}

// MustAppend appends e and fails the test on error.
func MustAppend(t testing.TB, l audit.Log, e audit.Entry) audit.Event {
	t.Helper()
	ev, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("Append(%s %s): %v", e.Action, e.Target, err)
	}
	return ev
}

// MustVerify verifies l, fails the test unless the chain holds with n
// events, and returns the report.
func MustVerify(t testing.TB, l audit.Log, n uint64) audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), l)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.OK() {
		t.Fatalf("Verify: chain broken: %s", r.Broken)
	}
	if r.Events != n {
		t.Fatalf("Verify: %d events, want %d", r.Events, n)
	}
	return r
}

func list(t *testing.T, l audit.Log, q audit.Query) ([]audit.Event, uint64) {
	t.Helper()
	evs, next, err := l.List(context.Background(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return evs, next
}

func seqs(evs []audit.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func testEmpty(t *testing.T, l audit.Log) {
	evs, next := list(t, l, audit.Query{})
	if len(evs) != 0 || next != 0 {
		t.Errorf("empty log lists %v, next %d", seqs(evs), next)
	}
	r := MustVerify(t, l, 0)
	if r.Head != "" {
		t.Errorf("empty log's head = %q", r.Head)
	}
}

func testChain(t *testing.T, l audit.Log) {
	var prev audit.Event
	for i := range 5 {
		ev := MustAppend(t, l, Entry("acme", i))
		if ev.Seq != uint64(i+1) || ev.PrevHash != prev.Hash {
			t.Fatalf("event %d: seq %d prev %q, want seq %d prev %q", i, ev.Seq, ev.PrevHash, i+1, prev.Hash)
		}
		if want, _ := audit.ComputeHash(ev); ev.Hash != want || len(ev.Hash) != 64 {
			t.Fatalf("event %d: hash %q, want %q", i, ev.Hash, want)
		}
		if len(ev.ID) != 36 || ev.ID[14] != '7' || ev.ID <= prev.ID {
			t.Fatalf("event %d: id %q is not a UUIDv7 after %q", i, ev.ID, prev.ID)
		}
		prev = ev
	}
	r := MustVerify(t, l, 5)
	if r.Head != prev.Hash {
		t.Errorf("head %s, want the last hash %s", r.Head, prev.Hash)
	}
	// A zero time takes the log's clock.
	ev := MustAppend(t, l, audit.Entry{Actor: "system", Action: "incident.block_ip"})
	if ev.Time.IsZero() || ev.Seq != 6 {
		t.Errorf("zero-time entry: time %v seq %d", ev.Time, ev.Seq)
	}
}

func testReadBack(t *testing.T, l audit.Log) {
	e := audit.Entry{
		Time: T0.Add(123456789 * time.Nanosecond), Actor: "ops <key>", Action: "tenant_policy.put",
		Tenant: "acme", Target: "acme/production", Reason: "tighten \"mfa\" & ip\u2028rules \xff",
		Before: map[string]any{"mfa": map[string]any{"mode": "off"}, "threshold": 0.5, "big": int64(1) << 60},
		After:  map[string]any{"mfa": map[string]any{"mode": "all"}, "list": []any{"a", 1, true, nil}},
	}
	got := MustAppend(t, l, e)
	evs, _ := list(t, l, audit.Query{})
	if len(evs) != 1 {
		t.Fatalf("listed %d events, want 1", len(evs))
	}
	a, _ := audit.Encode(got)
	b, _ := audit.Encode(evs[0])
	if string(a) != string(b) {
		t.Errorf("listed event differs from the appended one:\n%s\n%s", b, a)
	}
	if !evs[0].Time.Equal(e.Time) || evs[0].Reason != "tighten \"mfa\" & ip\u2028rules \uFFFD" {
		t.Errorf("read back time %v reason %q", evs[0].Time, evs[0].Reason)
	}
	if fmt.Sprint(evs[0].Before["big"]) != "1152921504606846976" {
		t.Errorf("before.big read back as %v", evs[0].Before["big"])
	}
	MustVerify(t, l, 1)
}

func testPaging(t *testing.T, l audit.Log) {
	for i := range 7 {
		MustAppend(t, l, Entry("acme", i))
	}
	var all []uint64
	after := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 7 {
			t.Fatal("paging does not end")
		}
		evs, next := list(t, l, audit.Query{After: after, Limit: 3})
		if len(evs) > 3 {
			t.Fatalf("page of %d events, limit 3", len(evs))
		}
		all = append(all, seqs(evs)...)
		if next == 0 {
			break
		}
		if next != evs[len(evs)-1].Seq {
			t.Fatalf("next %d, want the page's last seq %d", next, evs[len(evs)-1].Seq)
		}
		after = next
	}
	if fmt.Sprint(all) != "[1 2 3 4 5 6 7]" {
		t.Errorf("pages gave %v", all)
	}
	if evs, next := list(t, l, audit.Query{After: 4}); fmt.Sprint(seqs(evs)) != "[5 6 7]" || next != 0 {
		t.Errorf("After 4 gave %v next %d", seqs(evs), next)
	}
	if evs, next := list(t, l, audit.Query{After: 7}); len(evs) != 0 || next != 0 {
		t.Errorf("After the head gave %v next %d", seqs(evs), next)
	}
	if evs, next := list(t, l, audit.Query{After: 1, Limit: 6}); len(evs) != 6 || next != 0 {
		t.Errorf("a page ending at the head gave %v next %d, want 6 events and next 0", seqs(evs), next)
	}
}

func testFilters(t *testing.T, l audit.Log) {
	tenants := []string{"acme", "globex", "", "acme", "initech", "globex", "acme"}
	for i, tn := range tenants {
		MustAppend(t, l, Entry(tn, i))
	}
	tests := []struct {
		q    audit.Query
		want string
	}{
		{audit.Query{Tenant: "acme"}, "[1 4 7]"},
		{audit.Query{Tenants: []string{"globex", "initech"}}, "[2 5 6]"},
		{audit.Query{Tenants: []string{}}, "[]"},
		{audit.Query{Tenant: "acme", Tenants: []string{"globex"}}, "[]"},
		{audit.Query{Since: T0.Add(4 * time.Minute)}, "[5 6 7]"},
		{audit.Query{Tenant: "acme", Since: T0.Add(3 * time.Minute)}, "[4 7]"},
		{audit.Query{Target: "rule-2"}, "[3]"},
		{audit.Query{Tenant: "acme", After: 1}, "[4 7]"},
	}
	for _, tc := range tests {
		if evs, _ := list(t, l, tc.q); fmt.Sprint(seqs(evs)) != tc.want {
			t.Errorf("List(%+v) = %v, want %s", tc.q, seqs(evs), tc.want)
		}
	}
	// A filtered page still pages by sequence number.
	evs, next := list(t, l, audit.Query{Tenant: "acme", Limit: 2})
	if fmt.Sprint(seqs(evs)) != "[1 4]" || next != 4 {
		t.Fatalf("first acme page %v next %d, want [1 4] next 4", seqs(evs), next)
	}
	evs, next = list(t, l, audit.Query{Tenant: "acme", Limit: 2, After: next})
	if fmt.Sprint(seqs(evs)) != "[7]" || next != 0 {
		t.Errorf("second acme page %v next %d, want [7] next 0", seqs(evs), next)
	}
}

func testInvalid(t *testing.T, l audit.Log) {
	for _, e := range []audit.Entry{
		{Action: "x"},
		{Actor: "x"},
		{Actor: "x", Action: "y", After: map[string]any{"f": func() {}}},
	} {
		_, err := l.Append(context.Background(), e)
		var f *fault.Error
		if !errors.As(err, &f) || f.Code != fault.InvalidArgument {
			t.Errorf("Append(%+v) = %v, want InvalidArgument", e, err)
		}
	}
	MustVerify(t, l, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, Entry("acme", 0)); err == nil {
		t.Error("Append with a cancelled context succeeded")
	}
}

func testConcurrent(t *testing.T, l audit.Log) {
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(context.Background(), Entry(fmt.Sprintf("t%d", w), i)); err != nil {
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
	MustVerify(t, l, workers*each)
	evs, _ := list(t, l, audit.Query{Limit: audit.MaxLimit})
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("ids out of order at seq %d: %s after %s", evs[i].Seq, evs[i].ID, evs[i-1].ID)
		}
	}
}
