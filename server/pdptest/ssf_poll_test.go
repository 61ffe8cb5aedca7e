package pdptest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver/settest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// pollTransmitter is a small RFC 8936 transmitter: every SET not yet
// acknowledged is delivered again on every poll. While crashing, it goes
// down right after delivering a batch, so that the acknowledgements of
// that batch never arrive.
type pollTransmitter struct {
	mu       sync.Mutex
	pending  map[string]string
	acked    map[string]int
	crashing bool
	down     bool
}

func (p *pollTransmitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var req struct {
		MaxEvents int      `json:"maxEvents"`
		Ack       []string `json:"ack"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, jti := range req.Ack {
		delete(p.pending, jti)
		p.acked[jti]++
	}
	sets := map[string]string{}
	for jti, set := range p.pending {
		if len(sets) < req.MaxEvents {
			sets[jti] = set
		}
	}
	if p.crashing && len(sets) > 0 {
		p.down = true
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"sets": sets, "moreAvailable": len(sets) < len(p.pending)})
}

func (p *pollTransmitter) state() (pending, acked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending), len(p.acked)
}

// TestPolledEventsApplyOnceAcrossARestart polls a transmitter that goes
// down before the server's acknowledgements reach it; the server restarts
// on the same bolt file, the transmitter delivers the events again, and
// the server acknowledges them without applying them twice.
func TestPolledEventsApplyOnceAcrossARestart(t *testing.T) {
	t.Parallel()
	const tenant = "polled"
	tr := settest.NewTransmitter(t, "ES256", "k1")
	pt := &pollTransmitter{pending: map[string]string{}, acked: map[string]int{}, crashing: true}
	ts := httptest.NewServer(pt)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	cfg := fmt.Sprintf("- name: risk\n  tenant: %s\n  issuer: https://risk.example.com/\n  audience: https://pdp.example.com/\n"+
		"  jwks_file: %s\n  delivery: poll\n  poll_url: %s\n  poll_interval: 1s\n", tenant, tr.WriteJWKS(t, dir, "jwks.json"), ts.URL)
	path := filepath.Join(dir, "ssf.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for i, user := range []string{"u-1", "u-2"} {
		jti := fmt.Sprintf("j-%d", i)
		pt.pending[jti] = tr.Sign(t, map[string]any{
			"iss": "https://risk.example.com/", "aud": "https://pdp.example.com/", "jti": jti, "iat": now.Unix(),
			"sub_id": map[string]any{"format": "opaque", "id": user},
			"events": map[string]any{"https://schemas.openid.net/secevent/risc/event-type/account-disabled": map[string]any{}},
		})
	}
	opts := []pdptest.Option{
		pdptest.WithStore("bolt:" + filepath.Join(dir, "pdp.db")),
		pdptest.WithTenant(tenant+".yaml", ssfTenant(tenant)),
		pdptest.WithConfig(func(c *config.Config) { c.SSFConfig = path }),
	}
	check := func(srv *pdptest.Server, user string) pdpv1.Decision {
		resp, err := srv.Decisions.Check(context.Background(), &pdpv1.CheckRequest{
			Tenant: tenant, Subject: &pdpv1.Subject{Id: user, Roles: []string{"viewer"}},
			Device: &pdpv1.Device{Id: "d-1", Managed: true, Compliant: true}, Action: &pdpv1.Action{Name: "api.read"},
			Session: &pdpv1.Session{Id: "s-1", StartedAt: timestamppb.New(now.Add(-time.Hour))},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetDecision()
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}

	first := pdptest.StartWithClock(t, pdptest.NewClock(now.Add(time.Second)), opts...)
	waitUntil("both accounts are disabled", func() bool {
		return check(first, "u-1") == pdpv1.Decision_DECISION_DENY && check(first, "u-2") == pdpv1.Decision_DECISION_DENY
	})
	first.Stop()
	if pending, _ := pt.state(); pending != 2 {
		t.Fatalf("%d SETs pending at the transmitter, want both: their acknowledgements never arrived", pending)
	}

	pt.mu.Lock()
	pt.crashing, pt.down = false, false
	pt.mu.Unlock()
	second := pdptest.StartWithClock(t, pdptest.NewClock(now.Add(2*time.Second)), opts...)
	waitUntil("the transmitter has both acknowledged", func() bool {
		pending, acked := pt.state()
		return pending == 0 && acked == 2
	})
	if check(second, "u-1") != pdpv1.Decision_DECISION_DENY || check(second, "u-3") != pdpv1.Decision_DECISION_ALLOW {
		t.Fatal("after the restart the effects are not those of the two events")
	}
	admin := pdpv1.NewPolicyAdminServiceClient(second.Conn)
	list, err := admin.ListAuditEvents(context.Background(), &pdpv1.ListAuditEventsRequest{Tenant: tenant, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, e := range list.GetEvents() {
		if e.GetAction() == "ssf.event_applied" {
			applied++
		}
	}
	if applied != 2 {
		t.Fatalf("%d ssf.event_applied records, want 2: each event applied once", applied)
	}
}
