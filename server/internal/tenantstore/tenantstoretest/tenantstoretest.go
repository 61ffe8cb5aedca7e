// Package tenantstoretest is the conformance suite every tenantstore.Store
// runs:
//
//	func TestPolicyConformance(t *testing.T) {
//		tenantstoretest.Run(t, func(t *testing.T) tenantstore.Store { return memory.NewPolicies() })
//	}
//
// It checks compare-and-set on etags, copies in and out, listing order,
// pending changes and concurrent writers (exactly one wins a race).
package tenantstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
	"github.com/pdp-dev/pdp/server/internal/tenantstore"
)

// Open returns a fresh, empty store for one test; the caller cleans it up.
type Open func(t *testing.T) tenantstore.Store

// Run runs every conformance test against the stores open returns, in
// parallel.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s tenantstore.Store)
	}{
		{"CreateGetList", testCreateGetList},
		{"CompareAndSet", testCompareAndSet},
		{"Copies", testCopies},
		{"Pending", testPending},
		{"InvalidArguments", testInvalid},
		{"ConcurrentPutsOneWins", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Policy returns a small valid policy of tenant whose content depends on
// hours (its production inactivity timeout).
func Policy(tenant string, hours int) *pdpv1.TenantPolicy {
	return &pdpv1.TenantPolicy{Tenant: tenant, Plan: "enterprise", Environments: map[string]*pdpv1.SecurityPolicy{
		"production": {InactivityTimeout: durationpb.New(time.Duration(hours) * time.Hour)},
	}}
}

func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
}

func testCreateGetList(t *testing.T, s tenantstore.Store) {
	ctx := context.Background()
	_, err := s.Get(ctx, "acme")
	wantCode(t, err, fault.NotFound)
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List of an empty store = %v, %v", list, err)
	}
	for _, tenant := range []string{"zeta", "acme", "mid"} {
		got, err := s.Put(ctx, Policy(tenant, 2), "")
		if err != nil {
			t.Fatalf("Put %s: %v", tenant, err)
		}
		if got.GetEtag() != tenantdata.ETag(Policy(tenant, 2)) {
			t.Fatalf("Put returned etag %q, want the content's %q", got.GetEtag(), tenantdata.ETag(Policy(tenant, 2)))
		}
	}
	got, err := s.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := tenantstore.Stamp(Policy("acme", 2))
	if !proto.Equal(got, want) {
		t.Fatalf("Get = %v, want %v", got, want)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list {
		names = append(names, p.GetTenant())
	}
	if fmt.Sprint(names) != "[acme mid zeta]" {
		t.Fatalf("List order %v, want [acme mid zeta]", names)
	}
}

func testCompareAndSet(t *testing.T, s tenantstore.Store) {
	ctx := context.Background()
	// Replacing what is not stored fails.
	_, err := s.Put(ctx, Policy("acme", 2), "0123")
	wantCode(t, err, fault.Aborted)
	first, err := s.Put(ctx, Policy("acme", 2), "")
	if err != nil {
		t.Fatal(err)
	}
	// Creating what exists fails.
	_, err = s.Put(ctx, Policy("acme", 3), "")
	wantCode(t, err, fault.Aborted)
	second, err := s.Put(ctx, Policy("acme", 3), first.GetEtag())
	if err != nil {
		t.Fatal(err)
	}
	if second.GetEtag() == first.GetEtag() {
		t.Fatal("a changed policy kept its etag")
	}
	// The first etag is stale now.
	_, err = s.Put(ctx, Policy("acme", 4), first.GetEtag())
	wantCode(t, err, fault.Aborted)
	got, err := s.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetEtag() != second.GetEtag() {
		t.Fatalf("stored etag %s, want %s", got.GetEtag(), second.GetEtag())
	}
	// The etag a caller sends in the policy is ignored: only expected counts.
	p := Policy("acme", 5)
	p.Etag = "bogus"
	third, err := s.Put(ctx, p, second.GetEtag())
	if err != nil {
		t.Fatal(err)
	}
	if third.GetEtag() != tenantdata.ETag(Policy("acme", 5)) {
		t.Fatalf("etag %q is not the content's", third.GetEtag())
	}
}

func testCopies(t *testing.T, s tenantstore.Store) {
	ctx := context.Background()
	in := Policy("acme", 2)
	out, err := s.Put(ctx, in, "")
	if err != nil {
		t.Fatal(err)
	}
	in.Plan, out.Plan = "free", "free"
	got, err := s.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetPlan() != "enterprise" {
		t.Fatal("the store kept the caller's message")
	}
	got.Plan = "paid"
	again, _ := s.Get(ctx, "acme")
	if again.GetPlan() != "enterprise" {
		t.Fatal("Get returned the stored message itself")
	}
}

func change(id, tenant string, at time.Time) *pdpv1.PendingChange {
	return &pdpv1.PendingChange{Id: id, Tenant: tenant, Policy: Policy(tenant, 3), Author: "alice",
		Reason: "tighten", CreatedAt: timestamppb.New(at)}
}

func testPending(t *testing.T, s tenantstore.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	_, err := s.GetPending(ctx, "c1")
	wantCode(t, err, fault.NotFound)
	wantCode(t, s.DeletePending(ctx, "c1"), fault.NotFound)
	for _, c := range []*pdpv1.PendingChange{change("c2", "acme", t0.Add(time.Minute)), change("c1", "beta", t0), change("c0", "acme", t0.Add(time.Minute))} {
		if err := s.PutPending(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, s.PutPending(ctx, change("c1", "acme", t0)), fault.AlreadyExists)
	got, err := s.GetPending(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, change("c1", "beta", t0)) {
		t.Fatalf("GetPending = %v", got)
	}
	list, err := s.ListPending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.GetId())
	}
	if fmt.Sprint(ids) != "[c1 c0 c2]" {
		t.Fatalf("ListPending order %v, want [c1 c0 c2]", ids)
	}
	if err := s.DeletePending(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetPending(ctx, "c1")
	wantCode(t, err, fault.NotFound)
	if list, _ := s.ListPending(ctx); len(list) != 2 {
		t.Fatalf("%d changes after a delete, want 2", len(list))
	}
}

func testInvalid(t *testing.T, s tenantstore.Store) {
	ctx := context.Background()
	_, err := s.Put(ctx, nil, "")
	wantCode(t, err, fault.InvalidArgument)
	_, err = s.Put(ctx, &pdpv1.TenantPolicy{}, "")
	wantCode(t, err, fault.InvalidArgument)
	wantCode(t, s.PutPending(ctx, &pdpv1.PendingChange{Tenant: "acme"}), fault.InvalidArgument)
	wantCode(t, s.PutPending(ctx, &pdpv1.PendingChange{Id: "x", Tenant: "acme", Policy: Policy("beta", 2)}), fault.InvalidArgument)
}

func testConcurrent(t *testing.T, s tenantstore.Store) {
	ctx := context.Background()
	base, err := s.Put(ctx, Policy("acme", 2), "")
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Put(ctx, Policy("acme", 3+i), base.GetEtag())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, fault.ErrAborted):
				t.Errorf("Put: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d writers won a race on one etag, want 1", wins)
	}
}
