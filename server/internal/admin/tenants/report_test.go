package tenants_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/signals"
)

// TestSSOOutageOpensEmergencyAccess drives the whole path: SetSSOStatus
// stores the outage, the enrichment reads it into the request's signals,
// and the policy lets a break-glass user in with a provider it otherwise
// refuses, with audit and notify obligations.
func TestSSOOutageOpensEmergencyAccess(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	enricher := signals.NewEnricher(signals.Options{State: r.state, Now: func() time.Time { return t0 }})
	decide := func() *decision.Decision {
		t.Helper()
		req := &decision.Request{
			Tenant:         "sso-corp",
			Environment:    "production",
			Subject:        decision.Subject{ID: "bg-admin", Email: "breakglass@sso-corp.example", Roles: []string{"admin"}},
			Authentication: decision.Authentication{Provider: "password"},
			Action:         decision.Action{Name: "login"},
			Time:           t0,
		}
		if err := enricher.Enrich(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		d, err := r.engine.Decide(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := decide(); d.Kind != decision.KindChallenge {
		t.Fatalf("before the outage: %v, want a challenge to use an allowed provider", d.Kind)
	}
	ctx := tenantAdmin("ops", "sso-corp")
	if _, err := r.svc.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: false}); code(t, err) != fault.InvalidArgument {
		t.Fatalf("without a reason: %v", err)
	}
	res, err := r.svc.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: false, Reason: "okta outage INC-7"})
	if err != nil || res.GetAvailable() || res.GetChangedAt() == nil {
		t.Fatalf("SetSSOStatus = %v, %v", res, err)
	}
	d := decide()
	if d.Kind != decision.KindAllow {
		t.Fatalf("during the outage: %v (%v), want allow", d.Kind, d.Reasons)
	}
	if !slices.ContainsFunc(d.Reasons, func(r decision.Reason) bool { return r.Code == "authn.emergency_access" }) {
		t.Errorf("reasons %v lack authn.emergency_access", d.Reasons)
	}
	kinds := map[decision.ObligationKind]bool{}
	for _, o := range d.Obligations {
		kinds[o.Kind] = true
	}
	if !kinds[decision.ObligationAudit] || !kinds[decision.ObligationNotifySecurity] {
		t.Errorf("obligations %v lack audit and notify_security", d.Obligations)
	}
	// A user who is not break-glass still gets the challenge.
	if _, err := r.svc.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "sso-corp", Available: true, Reason: "okta back"}); err != nil {
		t.Fatal(err)
	}
	if d := decide(); d.Kind != decision.KindChallenge {
		t.Errorf("after the outage: %v, want a challenge", d.Kind)
	}
	events, err := r.svc.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "sso-corp"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.GetEvents()) != 2 || events.GetEvents()[0].GetAction() != "sso_status.set" ||
		events.GetEvents()[0].GetActor() != "ops" || events.GetEvents()[0].GetReason() != "okta outage INC-7" ||
		events.GetEvents()[0].GetAfter().GetFields()["available"].GetBoolValue() ||
		events.GetEvents()[1].GetBefore() == nil {
		t.Errorf("audit events %v", events.GetEvents())
	}
}

func TestListAuditEventsPagesAndFiltersByTenant(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	root := admin("root")
	for _, tenant := range []string{"acme", "sso-corp", "acme", "globex", "acme"} {
		if _, err := r.svc.SetSSOStatus(root, &pdpv1.SetSSOStatusRequest{Tenant: tenant, Available: true, Reason: "drill"}); err != nil {
			t.Fatal(err)
		}
	}
	acmeAdmin := tenantAdmin("acme-admin", "acme")
	var seen []string
	token := ""
	for range 5 {
		page, err := r.svc.ListAuditEvents(acmeAdmin, &pdpv1.ListAuditEventsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEvents() {
			seen = append(seen, e.GetTenant())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "acme,acme,acme" {
		t.Errorf("acme's admin saw events of %v", seen)
	}
	all, err := r.svc.ListAuditEvents(root, &pdpv1.ListAuditEventsRequest{Since: timestamppb.New(t0.AddDate(-1, 0, 0))})
	if err != nil || len(all.GetEvents()) != 5 {
		t.Errorf("admin sees %d events, %v; want 5", len(all.GetEvents()), err)
	}
	if _, err := r.svc.ListAuditEvents(root, &pdpv1.ListAuditEventsRequest{PageToken: "%%"}); code(t, err) != fault.InvalidArgument {
		t.Errorf("bad token: %v", err)
	}
	if _, err := r.svc.ListAuditEvents(root, &pdpv1.ListAuditEventsRequest{PageSize: 5000}); code(t, err) != fault.InvalidArgument {
		t.Errorf("page size 5000: %v", err)
	}
}

func TestComplianceReport(t *testing.T) {
	t.Parallel()
	r := start(t, nil)
	ctx := admin("root")
	rep, err := r.svc.ComplianceReport(ctx, &pdpv1.ComplianceReportRequest{Tenant: "globex", Framework: "sox"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.GetFramework() != "SOX" || rep.GetEnvironment() != "production" || len(rep.GetFindings()) == 0 {
		t.Fatalf("report %v", rep)
	}
	compliant := true
	for _, f := range rep.GetFindings() {
		if !strings.HasPrefix(f.GetControl(), "sox.") {
			t.Errorf("finding %s is not a SOX control", f.GetControl())
		}
		compliant = compliant && f.GetStatus() == "pass"
	}
	if rep.GetCompliant() != compliant {
		t.Errorf("compliant %v, findings say %v", rep.GetCompliant(), compliant)
	}
	acme, err := r.svc.ComplianceReport(ctx, &pdpv1.ComplianceReportRequest{Tenant: "acme", Framework: "HIPAA"})
	if err != nil {
		t.Fatal(err)
	}
	if acme.GetCompliant() {
		t.Error("acme, which keeps no HIPAA control, is reported compliant")
	}
	if _, err := r.svc.ComplianceReport(ctx, &pdpv1.ComplianceReportRequest{Tenant: "acme", Framework: "ISO"}); code(t, err) != fault.InvalidArgument {
		t.Errorf("unknown framework: %v", err)
	}
	if _, err := r.svc.ComplianceReport(ctx, &pdpv1.ComplianceReportRequest{Tenant: "nobody"}); code(t, err) != fault.NotFound {
		t.Errorf("unknown tenant: %v", err)
	}
}
