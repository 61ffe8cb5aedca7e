package ssf_test

import (
	"context"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func apply(t *testing.T, st ssf.Store, jti, event string, sub ssf.Subject, at time.Duration, status string) {
	t.Helper()
	e := ssf.Effect{Tenant: "acme", Stream: "idp", JTI: jti, Event: event, Subject: sub, At: t0.Add(at),
		Received: t0, Until: t0.Add(time.Hour), Status: status}
	if err := st.Apply(context.Background(), e, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func events(t *testing.T, r *ssf.Reader, req *decision.Request) []string {
	t.Helper()
	var sig decision.SSFSignals
	if err := r.Read(context.Background(), req, t0, &sig); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range sig.Events {
		out = append(out, e.JTI)
	}
	return out
}

func TestReaderMatchesEveryMemberTheSubjectSets(t *testing.T) {
	st := memory.NewSSF()
	apply(t, st, "user", "credential-change", ssf.Subject{User: "u1"}, -5*time.Minute, "")
	apply(t, st, "email", "credential-change", ssf.Subject{Email: "jane@acme.com"}, -4*time.Minute, "")
	apply(t, st, "session", "session-revoked", ssf.Subject{Session: "s1", User: "u1"}, -3*time.Minute, "")
	apply(t, st, "other-session", "session-revoked", ssf.Subject{Session: "s2"}, -3*time.Minute, "")
	apply(t, st, "tenant", "session-revoked", ssf.Subject{Tenant: "123"}, -2*time.Minute, "")
	r := ssf.NewReader(st, func(tenant string) bool { return tenant == "acme" })
	req := &decision.Request{Tenant: "acme", Subject: decision.Subject{ID: "u1", Email: "Jane@acme.com"}, Session: decision.Session{ID: "s1"}}
	got := events(t, r, req)
	want := []string{"user", "email", "session", "tenant"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	req.Tenant = "globex"
	if got := events(t, r, req); len(got) != 0 {
		t.Fatalf("a tenant without a stream reads %v", got)
	}
}

func TestReaderKeepsOnlyTheNewestStateAndDropsCleared(t *testing.T) {
	st := memory.NewSSF()
	apply(t, st, "bad", "device-compliance-change", ssf.Subject{Device: "d1", Tenant: "123"}, -2*time.Minute, "not-compliant")
	r := ssf.NewReader(st, func(string) bool { return true })
	req := &decision.Request{Tenant: "acme", Device: decision.Device{ID: "d1"}}
	if got := events(t, r, req); len(got) != 1 || got[0] != "bad" {
		t.Fatalf("events %v, want the not-compliant state", got)
	}
	// A newer compliant state of a differently shaped subject clears it.
	apply(t, st, "good", "device-compliance-change", ssf.Subject{Device: "d1"}, -time.Minute, "compliant")
	if got := events(t, r, req); len(got) != 0 {
		t.Fatalf("events %v, want none once the device is compliant again", got)
	}
}

func TestReaderForgetsADisabledAccountOnceItIsEnabledAgain(t *testing.T) {
	st := memory.NewSSF()
	apply(t, st, "off", "account-disabled", ssf.Subject{User: "u1"}, -2*time.Minute, "")
	r := ssf.NewReader(st, func(string) bool { return true })
	req := &decision.Request{Tenant: "acme", Subject: decision.Subject{ID: "u1"}}
	if got := events(t, r, req); len(got) != 1 || got[0] != "off" {
		t.Fatalf("events %v, want the disabled account", got)
	}
	apply(t, st, "on", "account-enabled", ssf.Subject{User: "u1"}, -time.Minute, "")
	if got := events(t, r, req); len(got) != 0 {
		t.Fatalf("events %v, want none once the account is enabled", got)
	}
}
