package iplists

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/ipset"
)

func wantFault(t *testing.T, err error, code fault.Code, fields ...string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
	for _, f := range fields {
		found := false
		for _, v := range fe.Fields {
			found = found || v.Field == f
		}
		if !found {
			t.Errorf("violations %v lack field %q", fe.Fields, f)
		}
	}
}

func TestAddIPRuleValidates(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.AddIPRule(adminCtx(), &pdpv1.AddIPRuleRequest{
		Tenant: "acme", List: pdpv1.IPList(7), Cidr: "300.1.2.3/8", ExpiresAt: timestamppb.New(now.Add(-time.Minute)),
	})
	wantFault(t, err, fault.InvalidArgument, "list", "cidr", "reason", "expires_at")
	if len(f.audit.all()) != 0 {
		t.Error("a refused change was audited")
	}
}

func TestAddIPRuleStoresAppliesAndAudits(t *testing.T) {
	f := newFixture(t)
	expires := now.Add(time.Hour)
	resp, err := f.svc.AddIPRule(adminCtx(), &pdpv1.AddIPRuleRequest{
		Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Cidr: "203.0.113.9", Reason: "scanner", ExpiresAt: timestamppb.New(expires),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetRule()
	if r.GetId() == "" || r.GetCidr() != "203.0.113.9/32" || r.GetSource() != "admin" || r.GetCreatedBy() != "root-key" ||
		!r.GetExpiresAt().AsTime().Equal(expires) || !r.GetCreatedAt().AsTime().Equal(now) {
		t.Fatalf("rule %v", r)
	}
	m := f.set.Lookup("acme", "production", netip.MustParseAddr("203.0.113.9"), now).Deny
	if !m.Found() || m.Source != ipset.AdminRuleSource(r.GetId()) {
		t.Fatalf("not enforced locally: %+v", m)
	}
	if m := f.set.Lookup("other", "", netip.MustParseAddr("203.0.113.9"), now).Deny; m.Found() {
		t.Fatal("a tenant rule applies to another tenant")
	}
	entries := f.audit.all()
	if len(entries) != 1 || entries[0].Action != ActionAdd || entries[0].Actor != "root-key" || entries[0].Reason != "scanner" ||
		entries[0].Target != r.GetId() || entries[0].Tenant != "acme" || entries[0].Before != nil || entries[0].After["cidr"] != "203.0.113.9/32" {
		t.Fatalf("audit %+v", entries)
	}

	// The same rule again replaces the reason; the audit shows before and after.
	if _, err := f.svc.AddIPRule(adminCtx(), &pdpv1.AddIPRuleRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Cidr: "203.0.113.9/32", Reason: "still scanning"}); err != nil {
		t.Fatal(err)
	}
	entries = f.audit.all()
	if len(entries) != 2 || entries[1].Before["reason"] != "scanner" || entries[1].After["reason"] != "still scanning" {
		t.Fatalf("second audit %+v", entries[1])
	}

	// Removal needs a reason, unlists at once and is audited.
	_, err = f.svc.RemoveIPRule(adminCtx(), &pdpv1.RemoveIPRuleRequest{Id: r.GetId()})
	wantFault(t, err, fault.InvalidArgument, "reason")
	rm, err := f.svc.RemoveIPRule(adminCtx(), &pdpv1.RemoveIPRuleRequest{Id: r.GetId(), Reason: "false positive"})
	if err != nil || rm.GetRule().GetReason() != "still scanning" {
		t.Fatalf("remove = %v, %v", rm, err)
	}
	if m := f.set.Lookup("acme", "", netip.MustParseAddr("203.0.113.9"), now).Deny; m.Found() {
		t.Fatal("still enforced after removal")
	}
	entries = f.audit.all()
	if last := entries[len(entries)-1]; last.Action != ActionRemove || last.Reason != "false positive" || last.After != nil || last.Before["id"] != r.GetId() {
		t.Fatalf("removal audit %+v", last)
	}
	_, err = f.svc.RemoveIPRule(adminCtx(), &pdpv1.RemoveIPRuleRequest{Id: r.GetId(), Reason: "again"})
	wantFault(t, err, fault.NotFound)
}

func TestAuthorization(t *testing.T) {
	f := newFixture(t)
	acme := tenantAdminCtx("acme")
	add := func(ctx context.Context, tenant string) error {
		_, err := f.svc.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: tenant, List: pdpv1.IPList_IP_LIST_DENY, Cidr: "192.0.2.0/24", Reason: "r"})
		return err
	}
	if err := add(acme, "acme"); err != nil {
		t.Fatalf("tenant-admin on its tenant: %v", err)
	}
	wantFault(t, add(acme, "beta"), fault.PermissionDenied)
	wantFault(t, add(acme, ""), fault.PermissionDenied)
	wantFault(t, add(pepCtx(), "acme"), fault.PermissionDenied)
	wantFault(t, add(context.Background(), "acme"), fault.PermissionDenied)
	if err := add(adminCtx(), ""); err != nil {
		t.Fatalf("admin on a global rule: %v", err)
	}
	beta, err := f.svc.AddIPRule(adminCtx(), &pdpv1.AddIPRuleRequest{Tenant: "beta", List: pdpv1.IPList_IP_LIST_ALLOW, Cidr: "10.0.0.0/8", Reason: "office"})
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.svc.ListIPRules(acme, &pdpv1.ListIPRulesRequest{Tenant: "beta"})
	wantFault(t, err, fault.PermissionDenied)
	_, err = f.svc.ListIPRules(acme, &pdpv1.ListIPRulesRequest{})
	wantFault(t, err, fault.PermissionDenied)
	// Another tenant's id is as unknown to a tenant-admin as a missing one.
	_, err = f.svc.RemoveIPRule(acme, &pdpv1.RemoveIPRuleRequest{Id: beta.GetRule().GetId(), Reason: "r"})
	wantFault(t, err, fault.NotFound)
	_, err = f.svc.RemoveIPRule(pepCtx(), &pdpv1.RemoveIPRuleRequest{Id: beta.GetRule().GetId(), Reason: "r"})
	wantFault(t, err, fault.PermissionDenied)
	if _, err := f.store.Get(context.Background(), beta.GetRule().GetId()); err != nil {
		t.Fatalf("a refused removal removed: %v", err)
	}
	err = f.svc.ImportIPList(&importStream{ctx: acme, chunks: []*pdpv1.ImportIPListRequest{{Tenant: "beta", List: pdpv1.IPList_IP_LIST_DENY, Source: "x", Lines: []string{"192.0.2.1"}}}})
	wantFault(t, err, fault.PermissionDenied)
}

func TestListIPRulesPages(t *testing.T) {
	f := newFixture(t)
	ctx := tenantAdminCtx("acme")
	for i := range 250 {
		addr := netip.AddrFrom4([4]byte{198, 51, byte(i / 200), byte(i % 200)})
		list := pdpv1.IPList_IP_LIST_DENY
		if i%5 == 0 {
			list = pdpv1.IPList_IP_LIST_SUSPICIOUS
		}
		if _, err := f.svc.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "acme", List: list, Cidr: addr.String(), Reason: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	token := ""
	pages := 0
	for {
		resp, err := f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.GetRules()) > 100 {
			t.Fatalf("default page of %d rules", len(resp.GetRules()))
		}
		for _, r := range resp.GetRules() {
			if seen[r.GetId()] {
				t.Fatalf("rule %s listed twice", r.GetId())
			}
			seen[r.GetId()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 250 || pages != 3 {
		t.Fatalf("%d rules in %d pages, want 250 in 3", len(seen), pages)
	}
	resp, err := f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_SUSPICIOUS, PageSize: 5000})
	if err != nil || len(resp.GetRules()) != 50 || resp.GetNextPageToken() != "" {
		t.Fatalf("suspicious = %d rules, %q, %v", len(resp.GetRules()), resp.GetNextPageToken(), err)
	}
	first, err := f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", PageSize: 10})
	if err != nil || len(first.GetRules()) != 10 {
		t.Fatal(first, err)
	}
	_, err = f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, PageToken: first.GetNextPageToken()})
	wantFault(t, err, fault.InvalidArgument, "page_token")
	_, err = f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", PageToken: "garbage!"})
	wantFault(t, err, fault.InvalidArgument, "page_token")
	_, err = f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", List: pdpv1.IPList(9), PageSize: -1})
	wantFault(t, err, fault.InvalidArgument, "list", "page_size")
}

func TestNewRequiresStoreAndAudit(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a store and an audit log succeeded")
	}
}

func TestListIPRulesAnswersEachRuleWithTheListItWasAddedTo(t *testing.T) {
	f := newFixture(t)
	ctx := adminCtx()
	for i, l := range []pdpv1.IPList{pdpv1.IPList_IP_LIST_ALLOW, pdpv1.IPList_IP_LIST_DENY, pdpv1.IPList_IP_LIST_SUSPICIOUS} {
		added, err := f.svc.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "acme", List: l, Cidr: fmt.Sprintf("192.0.2.%d", i), Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if got := added.GetRule().GetList(); got != l {
			t.Errorf("AddIPRule(%v) answered a rule on %v", l, got)
		}
		listed, err := f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", List: l})
		if err != nil {
			t.Fatal(err)
		}
		if rs := listed.GetRules(); len(rs) != 1 || rs[0].GetList() != l || rs[0].GetId() != added.GetRule().GetId() {
			t.Errorf("ListIPRules(%v) = %v", l, rs)
		}
	}
	all, err := f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme"})
	if err != nil || len(all.GetRules()) != 3 {
		t.Fatalf("ListIPRules without a list = %v, %v; want the 3 rules", all.GetRules(), err)
	}
	_, err = f.svc.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "acme", Cidr: "192.0.2.9", Reason: "r"})
	wantFault(t, err, fault.InvalidArgument, "list")
}

func TestAnIPListTheEnumDoesNotDefineIsRefusedByTheProtosRules(t *testing.T) {
	f := newFixture(t)
	ctx := adminCtx()
	_, err := f.svc.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "acme", List: 9, Cidr: "192.0.2.1", Reason: "r"})
	var fe *fault.Error
	if !errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0] != (fault.FieldViolation{Field: "list", Description: "unknown list 9"}) {
		t.Errorf("AddIPRule with list 9: %v", err)
	}
	_, err = f.svc.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "acme", List: 9})
	if !errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0] != (fault.FieldViolation{Field: "list", Description: "unknown list 9"}) {
		t.Errorf("ListIPRules with list 9: %v", err)
	}
}
