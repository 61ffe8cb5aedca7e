package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0, withDevice("d1"), withCountry("PT")), defaults)
	apply(t, s, ev(decision.EventLoginFailed, "u1", t0, withIP(ipA)), defaults)
	if err := s.SetSSOStatus(ctx, "acme", store.SSOStatus{Available: false, Reason: "okta down", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSuspension(ctx, "acme", "u2", store.Suspension{Suspended: true, Reason: "test", At: t0}); err != nil {
		t.Fatal(err)
	}

	for _, user := range []string{"u1", "u2"} {
		if _, ok := profile(t, s, "globex", user); ok {
			t.Errorf("tenant globex sees acme's %q", user)
		}
	}
	v := read(t, s, store.Query{Tenant: "globex", UserID: "u1", IP: ipA, At: t0})
	diff(t, "globex view", &store.View{}, v)

	// The same user id in another tenant starts from nothing.
	out := apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0.Add(time.Minute), withDevice("d1"), withCountry("PT"), withTenant("globex")), defaults)
	diff(t, "globex outcome", store.Outcome{FirstEvent: true, NewDevice: true, NewCountry: true, LoginCount: 1}, out)
	out = apply(t, s, ev(decision.EventLoginFailed, "u9", t0, withIP(ipA), withTenant("globex")), defaults)
	if out.IPFailedLogins != 1 || out.IPFailedUsers != 1 {
		t.Errorf("globex IP counters include acme's failures: %+v", out)
	}

	if found, err := s.DeleteUser(ctx, "globex", "u1"); err != nil || !found {
		t.Fatalf("DeleteUser(globex, u1) = %v, %v", found, err)
	}
	if p := mustProfile(t, s, "acme", "u1"); p.LoginCount != 1 {
		t.Errorf("erasing globex's u1 changed acme's: %+v", p)
	}
	v = read(t, s, store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: t0})
	if !v.HasSSO || v.SSO.Available || v.UserFailedLogins != 1 || v.IPFailedLogins != 1 {
		t.Errorf("acme view changed: %+v", v)
	}
}

func testErasure(t *testing.T, s store.Store) {
	ctx := context.Background()
	apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0, withDevice("d1"), withCountry("PT"), withIP(ipA), withAction("login")), defaults)
	apply(t, s, ev(decision.EventLoginFailed, "u1", t0, withIP(ipA)), defaults)
	apply(t, s, ev(decision.EventLoginFailed, "u1", t0, withIP(ipB)), defaults)
	apply(t, s, ev(decision.EventLoginFailed, "u2", t0, withIP(ipA)), defaults)
	if err := s.SetSuspension(ctx, "acme", "u1", store.Suspension{Suspended: true, At: t0}); err != nil {
		t.Fatal(err)
	}

	found, err := s.DeleteUser(ctx, "acme", "u1")
	if err != nil || !found {
		t.Fatalf("DeleteUser = %v, %v; want true", found, err)
	}
	if _, ok := profile(t, s, "acme", "u1"); ok {
		t.Error("the profile survived erasure")
	}
	v := read(t, s, store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: t0})
	if v.HasProfile || v.UserFailedLogins != 0 {
		t.Errorf("Read after erasure: %+v", v)
	}
	if v.IPFailedLogins != 1 || v.IPFailedUsers != 1 {
		t.Errorf("IP counters after erasure: %d logins from %d users, want u2's 1 from 1", v.IPFailedLogins, v.IPFailedUsers)
	}
	v = read(t, s, store.Query{Tenant: "acme", IP: ipB, At: t0})
	if v.IPFailedLogins != 0 || v.IPFailedUsers != 0 {
		t.Errorf("the erased user's failures from %v survived: %+v", ipB, v)
	}
	if found, err := s.DeleteUser(ctx, "acme", "u1"); err != nil || found {
		t.Errorf("second DeleteUser = %v, %v; want false, nil", found, err)
	}
	if _, ok := profile(t, s, "acme", "u2"); !ok {
		t.Error("erasing u1 removed u2")
	}
	// A user known only from IP records is still erased there.
	apply(t, s, ev(decision.EventLoginFailed, "u3", t0, withIP(ipB)), defaults)
	if found, err := s.DeleteUser(ctx, "acme", "u3"); err != nil || !found {
		t.Errorf("DeleteUser(u3) = %v, %v; want true", found, err)
	}
}

func testAdminState(t *testing.T, s store.Store) {
	ctx := context.Background()
	sus := store.Suspension{Suspended: true, Reason: "privilege escalation", At: t0, By: "incident response"}
	if err := s.SetSuspension(ctx, "acme", "u1", sus); err != nil {
		t.Fatal(err)
	}
	reset := t0.Add(time.Minute)
	if err := s.ResetMFA(ctx, "acme", "u1", reset); err != nil {
		t.Fatal(err)
	}
	out := apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0.Add(time.Hour)), defaults)
	diff(t, "outcome of a suspended user", store.Outcome{FirstEvent: true, LoginCount: 1, Suspended: true}, out)
	sso := store.SSOStatus{Available: false, Reason: "IdP outage", UpdatedAt: t0}
	if err := s.SetSSOStatus(ctx, "acme", sso); err != nil {
		t.Fatal(err)
	}
	v := read(t, s, store.Query{Tenant: "acme", UserID: "u1", At: t0.Add(time.Hour)})
	diff(t, "suspension", sus, v.Profile.Suspension)
	diff(t, "sso", sso, v.SSO)
	if !v.HasSSO || !v.Profile.MFAResetAt.Equal(reset) {
		t.Errorf("HasSSO %v, MFAResetAt %v; want true, %v", v.HasSSO, v.Profile.MFAResetAt, reset)
	}

	lifted := store.Suspension{Suspended: false, Reason: "false positive", At: t0.Add(2 * time.Hour), By: "admin"}
	if err := s.SetSuspension(ctx, "acme", "u1", lifted); err != nil {
		t.Fatal(err)
	}
	sso.Available, sso.UpdatedAt = true, t0.Add(2*time.Hour)
	if err := s.SetSSOStatus(ctx, "acme", sso); err != nil {
		t.Fatal(err)
	}
	v = read(t, s, store.Query{Tenant: "acme", UserID: "u1", At: t0.Add(3 * time.Hour)})
	diff(t, "lifted suspension", lifted, v.Profile.Suspension)
	diff(t, "sso back", sso, v.SSO)
	if p := mustProfile(t, s, "acme", "u1"); p.LoginCount != 1 {
		t.Errorf("admin changes lost the history: %+v", p)
	}
}

func testReadWithoutState(t *testing.T, s store.Store) {
	v := &store.View{HasProfile: true, UserFailedLogins: 7, HasSSO: true}
	v.Profile.Devices = append(v.Profile.Devices, store.Seen{Key: "stale"})
	if err := s.Read(context.Background(), store.Query{Tenant: "acme", UserID: "nobody", IP: ipA, At: t0}, v); err != nil {
		t.Fatal(err)
	}
	diff(t, "view of nothing", &store.View{}, v)
	p := &store.Profile{UserID: "stale"}
	ok, err := s.GetProfile(context.Background(), "acme", "nobody", p)
	if err != nil || ok {
		t.Fatalf("GetProfile(nobody) = %v, %v", ok, err)
	}
	if _, err := store.LoadProfile(context.Background(), s, "acme", "nobody"); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("LoadProfile(nobody) = %v, want NotFound", err)
	}
}

func testInvalidArguments(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.ApplyEvent(ctx, ev(decision.EventLoginSucceeded, "u1", t0, withTenant("")), defaults)
	wantCode(t, "ApplyEvent without tenant", err, fault.InvalidArgument)
	_, err = s.ApplyEvent(ctx, ev(decision.EventLoginSucceeded, "u1", time.Time{}), defaults)
	wantCode(t, "ApplyEvent without time", err, fault.InvalidArgument)
	_, err = s.ApplyEvent(ctx, ev(decision.EventUnspecified, "u1", t0), defaults)
	wantCode(t, "ApplyEvent without kind", err, fault.InvalidArgument)
	_, err = s.ApplyEvent(ctx, nil, defaults)
	wantCode(t, "ApplyEvent(nil)", err, fault.InvalidArgument)
	wantCode(t, "Read without tenant", s.Read(ctx, store.Query{At: t0}, new(store.View)), fault.InvalidArgument)
	wantCode(t, "Read without time", s.Read(ctx, store.Query{Tenant: "acme"}, new(store.View)), fault.InvalidArgument)
	_, err = s.GetProfile(ctx, "acme", "", new(store.Profile))
	wantCode(t, "GetProfile without user", err, fault.InvalidArgument)
	wantCode(t, "SetSuspension without tenant", s.SetSuspension(ctx, "", "u1", store.Suspension{}), fault.InvalidArgument)
	wantCode(t, "ResetMFA without user", s.ResetMFA(ctx, "acme", "", t0), fault.InvalidArgument)
	wantCode(t, "SetSSOStatus without tenant", s.SetSSOStatus(ctx, "", store.SSOStatus{}), fault.InvalidArgument)
	_, err = s.DeleteUser(ctx, "", "u1")
	wantCode(t, "DeleteUser without tenant", err, fault.InvalidArgument)
}

func testContextAndClose(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.ApplyEvent(ctx, ev(decision.EventLoginSucceeded, "u1", t0), defaults)
	wantCode(t, "ApplyEvent with a cancelled context", err, fault.Unavailable)
	dctx, dcancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer dcancel()
	wantCode(t, "Read past the deadline", s.Read(dctx, store.Query{Tenant: "acme", At: t0}, new(store.View)), fault.DeadlineExceeded)

	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = s.ApplyEvent(context.Background(), ev(decision.EventLoginSucceeded, "u1", t0), defaults)
	if !errors.Is(err, store.ErrClosed) || !errors.Is(err, fault.ErrUnavailable) {
		t.Errorf("ApplyEvent after Close = %v, want ErrClosed", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
	if _, err := s.DeleteUser(context.Background(), "acme", "u1"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("DeleteUser after Close = %v, want ErrClosed", err)
	}
}

// testUsers: Users lists the ids of one tenant's profiles, sorted and
// bounded, whatever made the profile (an event or an admin action), and
// forgets an erased user.
func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	apply(t, s, ev(decision.EventLoginSucceeded, "u3", t0), defaults)
	apply(t, s, ev(decision.EventLoginSucceeded, "u1", t0), defaults)
	apply(t, s, ev(decision.EventLoginSucceeded, "u9", t0, withTenant("globex")), defaults)
	if err := s.SetSuspension(ctx, "acme", "u2", store.Suspension{Suspended: true, Reason: "test", At: t0}); err != nil {
		t.Fatal(err)
	}
	users := func(tenant string, limit int) ([]string, bool) {
		t.Helper()
		ids, more, err := s.Users(ctx, tenant, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids, more
	}
	ids, more := users("acme", 10)
	diff(t, "acme's users", []string{"u1", "u2", "u3"}, ids)
	if more {
		t.Error("more reported with every user listed")
	}
	ids, more = users("acme", 2)
	diff(t, "acme's first two users", []string{"u1", "u2"}, ids)
	if !more {
		t.Error("more not reported")
	}
	ids, _ = users("initech", 10)
	if len(ids) != 0 {
		t.Errorf("a tenant without users lists %v", ids)
	}
	if _, err := s.DeleteUser(ctx, "acme", "u2"); err != nil {
		t.Fatal(err)
	}
	ids, _ = users("acme", 10)
	diff(t, "acme's users after erasing u2", []string{"u1", "u3"}, ids)
	if _, _, err := s.Users(ctx, "", 10); !errors.Is(err, fault.ErrInvalidArgument) {
		t.Errorf("Users without a tenant: %v, want InvalidArgument", err)
	}
}
