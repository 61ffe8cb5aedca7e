package users_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/users"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

type rig struct {
	svc   *users.Service
	state *memory.Store
	log   audit.Log
}

func start(t *testing.T) *rig {
	t.Helper()
	st := memory.New(memory.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = st.Close() })
	r := &rig{state: st, log: st.AuditLog()}
	svc, err := users.New(users.Options{Store: st, Audit: r.log, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	ev := &decision.Event{Tenant: "acme", Kind: decision.EventLoginSucceeded, Subject: decision.Subject{ID: "u1"}, Time: t0}
	ev.Network.IP = netip.MustParseAddr("203.0.113.9")
	ev.Network.Country = "PT"
	ev.Device.ID = "laptop"
	if _, err := st.ApplyEvent(context.Background(), ev, store.Settings{}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSuspension(context.Background(), "acme", "u1", store.Suspension{Suspended: true, Reason: "brute force", At: t0, By: "incident response"}); err != nil {
		t.Fatal(err)
	}
	return r
}

func ctxOf(c authn.Caller) context.Context { return authn.WithCaller(context.Background(), c) }

var (
	acmeAdmin = ctxOf(authn.Caller{Name: "acme-admin", Role: authn.RoleTenantAdmin, Tenants: []string{"acme"}})
	beta      = ctxOf(authn.Caller{Name: "beta-admin", Role: authn.RoleTenantAdmin, Tenants: []string{"beta"}})
)

func code(err error) fault.Code {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return -1
}

func TestProfileSuspensionAndMFAReset(t *testing.T) {
	t.Parallel()
	r := start(t)
	got, err := r.svc.GetUserProfile(acmeAdmin, &pdpv1.GetUserProfileRequest{Tenant: "acme", UserId: "u1", Reason: "ticket 9"})
	if err != nil {
		t.Fatal(err)
	}
	p := got.GetProfile()
	if p.GetUserId() != "u1" || p.GetLoginCount() != 1 || len(p.GetDevices()) != 1 || p.GetDevices()[0].GetId() != "laptop" ||
		p.GetLastLogin().GetIp() != "203.0.113.9" || p.GetLastLogin().GetCountry() != "PT" || !p.GetSuspended() ||
		p.GetSuspendedReason() != "brute force" || p.GetLoginHours()[10] != 1 || len(p.GetLoginHours()) != 24 {
		t.Fatalf("profile %v", p)
	}
	un, err := r.svc.UnsuspendUser(acmeAdmin, &pdpv1.UnsuspendUserRequest{Tenant: "acme", UserId: "u1", Reason: "verified by phone"})
	if err != nil || un.GetProfile().GetSuspended() {
		t.Fatalf("UnsuspendUser = %v, %v", un, err)
	}
	reset, err := r.svc.ResetUserMFA(acmeAdmin, &pdpv1.ResetUserMFARequest{Tenant: "acme", UserId: "u1", Reason: "lost phone"})
	if err != nil || !reset.GetProfile().GetMfaResetAt().AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("ResetUserMFA = %v, %v", reset, err)
	}
	// The reset reaches the signals the policy reads: the user must enrol again.
	var view store.View
	if err := r.state.Read(context.Background(), store.Query{Tenant: "acme", UserID: "u1", At: t0.Add(2 * time.Hour)}, &view); err != nil {
		t.Fatal(err)
	}
	if !view.Profile.MFAResetAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("stored mfa reset %v", view.Profile.MFAResetAt)
	}
	events, _, _ := r.log.List(context.Background(), audit.Query{Target: "u1", Limit: 100})
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
		if e.Actor != "acme-admin" || e.Tenant != "acme" || e.Reason == "" {
			t.Errorf("audit event %+v", e)
		}
	}
	if !slices.Equal(actions, []string{users.ActionRead, users.ActionUnsuspend, users.ActionMFAReset}) {
		t.Errorf("audit actions %v", actions)
	}
}

func TestEveryCallNeedsAReasonAndTheTenant(t *testing.T) {
	t.Parallel()
	r := start(t)
	calls := map[string]func(ctx context.Context, tenant, user, reason string) error{
		"get": func(ctx context.Context, tenant, user, reason string) error {
			_, err := r.svc.GetUserProfile(ctx, &pdpv1.GetUserProfileRequest{Tenant: tenant, UserId: user, Reason: reason})
			return err
		},
		"reset": func(ctx context.Context, tenant, user, reason string) error {
			_, err := r.svc.ResetUserMFA(ctx, &pdpv1.ResetUserMFARequest{Tenant: tenant, UserId: user, Reason: reason})
			return err
		},
		"unsuspend": func(ctx context.Context, tenant, user, reason string) error {
			_, err := r.svc.UnsuspendUser(ctx, &pdpv1.UnsuspendUserRequest{Tenant: tenant, UserId: user, Reason: reason})
			return err
		},
		"export": func(ctx context.Context, tenant, user, reason string) error {
			_, err := r.svc.ExportUserData(ctx, &pdpv1.ExportUserDataRequest{Tenant: tenant, UserId: user, Reason: reason})
			return err
		},
		"erase": func(ctx context.Context, tenant, user, reason string) error {
			_, err := r.svc.EraseUserData(ctx, &pdpv1.EraseUserDataRequest{Tenant: tenant, UserId: user, Reason: reason})
			return err
		},
	}
	for name, call := range calls {
		if err := call(acmeAdmin, "", "", ""); code(err) != fault.InvalidArgument {
			t.Errorf("%s without fields: %v", name, err)
		} else if fe := err.(*fault.Error); len(fe.Fields) != 3 {
			t.Errorf("%s names %v, want tenant, user_id and reason", name, fe.Fields)
		}
		if err := call(beta, "acme", "u1", "curious"); code(err) != fault.PermissionDenied {
			t.Errorf("%s on another tenant: %v", name, err)
		}
		if err := call(context.Background(), "acme", "u1", "no guard ran"); code(err) != fault.PermissionDenied {
			t.Errorf("%s without a caller: %v", name, err)
		}
	}
	// Beta's admin reading acme's user left nothing behind.
	if events, _, _ := r.log.List(context.Background(), audit.Query{Limit: 100}); len(events) != 0 {
		t.Errorf("refused calls were audited as done: %v", events)
	}
}

func TestExportAndErase(t *testing.T) {
	t.Parallel()
	r := start(t)
	if _, err := r.svc.UnsuspendUser(acmeAdmin, &pdpv1.UnsuspendUserRequest{Tenant: "acme", UserId: "u1", Reason: "ok"}); err != nil {
		t.Fatal(err)
	}
	exp, err := r.svc.ExportUserData(acmeAdmin, &pdpv1.ExportUserDataRequest{Tenant: "acme", UserId: "u1", Reason: "GDPR art. 15"})
	if err != nil {
		t.Fatal(err)
	}
	if exp.GetProfile().GetUserId() != "u1" || len(exp.GetAuditEvents()) != 1 || exp.GetAuditEvents()[0].GetAction() != users.ActionUnsuspend {
		t.Fatalf("export %v", exp)
	}
	erased, err := r.svc.EraseUserData(acmeAdmin, &pdpv1.EraseUserDataRequest{Tenant: "acme", UserId: "u1", Reason: "GDPR art. 17"})
	if err != nil || erased.GetRecordsRemoved() != 1 {
		t.Fatalf("EraseUserData = %v, %v", erased, err)
	}
	if _, err := r.svc.GetUserProfile(acmeAdmin, &pdpv1.GetUserProfileRequest{Tenant: "acme", UserId: "u1", Reason: "check"}); code(err) != fault.NotFound {
		t.Errorf("profile after erasure: %v", err)
	}
	events, _, _ := r.log.List(context.Background(), audit.Query{Limit: 100})
	last := events[len(events)-1]
	if last.Action != users.ActionErase || last.Target != "u1" || last.Before != nil {
		t.Errorf("erasure audited as %+v", last)
	}
	if _, err := r.svc.ExportUserData(acmeAdmin, &pdpv1.ExportUserDataRequest{Tenant: "acme", UserId: "nobody", Reason: "r"}); code(err) != fault.NotFound {
		t.Errorf("export of an unknown user: %v", err)
	}
}
