package iplists

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	rules "github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

// stagingStore is a store that stages imports and remembers which imports
// it staged and which it was told to discard, and with what context.
type stagingStore struct {
	rules.Store
	mu        sync.Mutex
	staged    map[string]bool
	discarded map[string]error // import id → the discarding context's error
}

func (s *stagingStore) Stage(ctx context.Context, id, tenant, list, source string, in []rules.Rule) (int, error) {
	s.mu.Lock()
	s.staged[id] = true
	s.mu.Unlock()
	return s.Store.(rules.Stager).Stage(ctx, id, tenant, list, source, in)
}

func (s *stagingStore) Publish(ctx context.Context, id string) (int, int, error) {
	return s.Store.(rules.Stager).Publish(ctx, id)
}

func (s *stagingStore) Discard(ctx context.Context, id string) error {
	s.mu.Lock()
	s.discarded[id] = ctx.Err()
	s.mu.Unlock()
	return s.Store.(rules.Stager).Discard(ctx, id)
}

// backend is one store backend an import is checked on.
type backend struct {
	name string
	open func(t *testing.T) (rules.Store, audit.Log)
}

var backends = []backend{
	{"memory", func(t *testing.T) (rules.Store, audit.Log) {
		st := memory.New(memory.Options{SweepInterval: -1})
		t.Cleanup(func() { _ = st.Close() })
		return memory.NewIPRules(), st.AuditLog()
	}},
	{"bolt", func(t *testing.T) (rules.Store, audit.Log) {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "pdp.db"), bolt.Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st.IPRules(), st.AuditLog()
	}},
	{"redis", func(t *testing.T) (rules.Store, audit.Log) {
		st, err := redis.Open(context.Background(), redistest.Start(t).URL(0), redis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st.IPRules(nil), st.AuditLog()
	}},
}

type atomicFixture struct {
	svc   *Service
	store *stagingStore
	log   audit.Log
	set   *ipset.Set
}

// newAtomicFixture is a service over b's rules and audit log that stages
// imports in batches of 10 entries.
func newAtomicFixture(t *testing.T, b backend) *atomicFixture {
	t.Helper()
	st, log := b.open(t)
	ss := &stagingStore{Store: st, staged: map[string]bool{}, discarded: map[string]error{}}
	set := ipset.NewSet(nil)
	svc, err := New(Options{Store: ss, Audit: log, Applier: rules.NewApplier(set, ss), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	svc.batch = 10
	return &atomicFixture{svc: svc, store: ss, log: log, set: set}
}

// chunksOf returns n addresses 10.0.x.y in chunks of 25 lines.
func chunksOf(n int) []*pdpv1.ImportIPListRequest {
	var chunks []*pdpv1.ImportIPListRequest
	for c := 0; c < n; c += 25 {
		var lines []string
		for i := c; i < min(c+25, n); i++ {
			lines = append(lines, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String())
		}
		chunks = append(chunks, &pdpv1.ImportIPListRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Source: "feed", Lines: lines})
	}
	return chunks
}

// hookedStream is an importStream that calls before ahead of each chunk
// after the first, and fails with err (when not nil) instead of sending
// chunk failAt.
type hookedStream struct {
	importStream
	n      int
	before func(n int)
	failAt int
	err    error
}

func (s *hookedStream) Recv() (*pdpv1.ImportIPListRequest, error) {
	s.n++
	if s.n > 1 && s.before != nil {
		s.before(s.n)
	}
	if s.err != nil && s.n == s.failAt {
		return nil, s.err
	}
	return s.importStream.Recv()
}

// wantNothingImported checks that no entry of the import is live (store,
// listing, local lists), that the log recorded nothing and that every
// staged import was discarded, with a context that was not cancelled.
func (f *atomicFixture) wantNothingImported(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if all, err := f.store.All(ctx); err != nil || len(all) != 0 {
		t.Errorf("the store holds %d rules (%v), want none", len(all), err)
	}
	resp, err := f.svc.ListIPRules(adminCtx(), &pdpv1.ListIPRulesRequest{Tenant: "acme"})
	if err != nil || len(resp.GetRules()) != 0 {
		t.Errorf("ListIPRules = %d rules, %v; want none", len(resp.GetRules()), err)
	}
	if m := f.set.Lookup("acme", "", netip.MustParseAddr("10.0.0.1"), now).Deny; m.Found() {
		t.Error("an entry of the import is on the local deny list")
	}
	if events, _, err := f.log.List(ctx, audit.Query{}); err != nil || len(events) != 0 {
		t.Errorf("the audit log holds %d records (%v), want none", len(events), err)
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	if len(f.store.staged) == 0 {
		t.Fatal("nothing was staged; the test stages before it fails")
	}
	for id := range f.store.staged {
		err, ok := f.store.discarded[id]
		switch {
		case !ok:
			t.Errorf("import %s was staged and never discarded", id)
		case err != nil:
			t.Errorf("import %s was discarded with a context that was done: %v", id, err)
		}
	}
}

func TestAnImportWhoseStreamBreaksMidwayLeavesNothingLiveAndNothingRecorded(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newAtomicFixture(t, b)
			stream := &hookedStream{importStream: importStream{ctx: adminCtx(), chunks: chunksOf(200)}, failAt: 5, err: errors.New("connection reset")}
			if err := f.svc.ImportIPList(stream); err == nil {
				t.Fatal("an import whose stream broke succeeded")
			}
			f.wantNothingImported(t)
		})
	}
}

func TestAnImportCancelledMidwayLeavesNothingLiveAndNothingRecorded(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newAtomicFixture(t, b)
			ctx, cancel := context.WithCancel(adminCtx())
			defer cancel()
			stream := &hookedStream{importStream: importStream{ctx: ctx, chunks: chunksOf(200)}, before: func(n int) {
				if n == 4 {
					cancel()
				}
			}}
			if err := f.svc.ImportIPList(stream); err == nil {
				t.Fatal("a cancelled import succeeded")
			}
			f.wantNothingImported(t)
		})
	}
}

func TestReadersNeverSeePartOfAnImport(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newAtomicFixture(t, b)
			const n = 1000
			stream := &hookedStream{importStream: importStream{ctx: adminCtx(), chunks: chunksOf(n)}}
			stream.before = func(int) {
				all, err := f.store.All(context.Background())
				if err != nil || len(all) != 0 {
					t.Fatalf("mid-import, the store holds %d rules (%v), want none", len(all), err)
				}
				resp, err := f.svc.ListIPRules(adminCtx(), &pdpv1.ListIPRulesRequest{Tenant: "acme"})
				if err != nil || len(resp.GetRules()) != 0 {
					t.Fatalf("mid-import, ListIPRules = %d rules, %v; want none", len(resp.GetRules()), err)
				}
				if m := f.set.Lookup("acme", "", netip.MustParseAddr("10.0.0.1"), now).Deny; m.Found() {
					t.Fatal("mid-import, an entry is on the local deny list")
				}
			}
			if err := f.svc.ImportIPList(stream); err != nil {
				t.Fatal(err)
			}
			if got := stream.resp.GetAdded(); got != n {
				t.Fatalf("added %d, want %d", got, n)
			}
			all, err := f.store.All(context.Background())
			if err != nil || len(all) != n {
				t.Fatalf("after the import, the store holds %d rules (%v), want %d", len(all), err, n)
			}
			for _, a := range []string{"10.0.0.1", "10.0.3.231"} {
				if m := f.set.Lookup("acme", "", netip.MustParseAddr(a), now).Deny; !m.Found() {
					t.Errorf("after the import, %s is not on the local deny list", a)
				}
			}
			events, _, err := f.log.List(context.Background(), audit.Query{})
			if err != nil || len(events) != 1 || fmt.Sprint(events[0].After["added"]) != fmt.Sprint(n) {
				t.Fatalf("the audit log holds %+v, %v; want the import's record with %d added", events, err, n)
			}
		})
	}
}

func TestAnImportWhoseStagingVanishedGoesLiveWithNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "memory" {
				t.Skip("memory staging never expires, and memory cannot undo a change that failed after writing")
			}
			f := newAtomicFixture(t, b)
			stream := &hookedStream{importStream: importStream{ctx: adminCtx(), chunks: chunksOf(200)}}
			stream.before = func(n int) {
				if n != 4 {
					return
				}
				// What Redis does to staging left an hour between batches.
				f.store.mu.Lock()
				defer f.store.mu.Unlock()
				for id := range f.store.staged {
					if err := f.store.Store.(rules.Stager).Discard(context.Background(), id); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := f.svc.ImportIPList(stream)
			if !errors.Is(err, fault.ErrAborted) {
				t.Fatalf("an import whose staging vanished = %v, want ABORTED", err)
			}
			f.wantNothingImported(t)
		})
	}
}
