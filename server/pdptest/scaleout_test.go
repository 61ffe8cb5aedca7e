package pdptest_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// soTenant keeps the default failed-login threshold (5) and blocks an IP
// after 4 failures from it.
const soTenant = `
tenant: so-e2e
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
    incident:
      suspicious_ip_threshold: 4
      auto_block_ttl: 1h
`

// replicas starts one redis-server and two servers sharing it.
func replicas(t *testing.T) (a, b *pdptest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	url := srv.URL(0)
	a = pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("so-e2e.yaml", soTenant))
	b = pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("so-e2e.yaml", soTenant))
	return a, b
}

func soCheck(t *testing.T, srv *pdptest.Server, user, ip string) *pdpv1.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := srv.Decisions.Check(ctx, &pdpv1.CheckRequest{
		Tenant:  "so-e2e",
		Subject: &pdpv1.Subject{Id: user, Roles: []string{"viewer"}},
		Network: &pdpv1.Network{Ip: ip},
		Device:  &pdpv1.Device{Id: "d1", Managed: true, Compliant: true},
		Action:  &pdpv1.Action{Name: "api.read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func soReportFailure(t *testing.T, srv *pdptest.Server, user, ip string) {
	t.Helper()
	_, err := srv.Decisions.Report(context.Background(), &pdpv1.ReportRequest{
		Tenant:  "so-e2e",
		Event:   pdpv1.Event_EVENT_LOGIN_FAILED,
		Subject: &pdpv1.Subject{Id: user},
		Network: &pdpv1.Network{Ip: ip},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// until polls cond for up to 10s and returns how long it took.
func until(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestScaleOutFailuresOnAAreBruteForceOnB(t *testing.T) {
	a, b := replicas(t)
	const user = "so-victim"
	if r := soCheck(t, b, user, "198.51.100.20"); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("before any failure B answers %v %v", r.GetDecision(), irCodes(r))
	}
	for i := range 5 {
		// Each from its own address, so no address reaches its block threshold.
		soReportFailure(t, a, user, "198.51.100."+strconv.Itoa(100+i))
	}
	r := soCheck(t, b, user, "198.51.100.20")
	if !slices.Contains(irCodes(r), "incident.brute_force") {
		t.Fatalf("after 5 failures reported to A, B answers %v %v", r.GetDecision(), irCodes(r))
	}
}

// enforced polls srv until the address is denied (or, with want false,
// no longer denied) and returns how long it took.
func enforced(t *testing.T, srv *pdptest.Server, ip string, want bool) time.Duration {
	t.Helper()
	return until(t, "deny of "+ip+" on a replica", func() bool {
		return slices.Contains(irCodes(soCheck(t, srv, "so-alice", ip)), "network.ip_denied") == want
	})
}

func TestScaleOutIPRuleReachesEveryReplica(t *testing.T) {
	a, b := replicas(t)
	const ip = "203.0.113.44"
	for _, srv := range []*pdptest.Server{a, b} {
		if r := soCheck(t, srv, "so-alice", ip); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
			t.Fatalf("before the rule: %v %v", r.GetDecision(), irCodes(r))
		}
	}
	adminA := pdpv1.NewPolicyAdminServiceClient(a.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A rule added on A: A enforces it when the call returns, B soon after.
	added := time.Now()
	resp, err := adminA.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "so-e2e", List: pdpv1.IPList_IP_LIST_DENY, Cidr: ip, Reason: "scale-out proof"})
	if err != nil {
		t.Fatal(err)
	}
	if r := soCheck(t, a, "so-alice", ip); !slices.Contains(irCodes(r), "network.ip_denied") {
		t.Fatalf("A does not enforce its own new rule: %v", irCodes(r))
	}
	enforced(t, b, ip, true)
	t.Logf("replica B enforced the rule added on A %s after the call", time.Since(added).Round(time.Millisecond))

	// Removed on A, B lets the address in again.
	removed := time.Now()
	if _, err := adminA.RemoveIPRule(ctx, &pdpv1.RemoveIPRuleRequest{Id: resp.GetRule().GetId(), Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	enforced(t, b, ip, false)
	t.Logf("replica B dropped the rule removed on A %s after the call", time.Since(removed).Round(time.Millisecond))

	// A list imported on A is enforced on B.
	stream, err := adminA.ImportIPList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []*pdpv1.ImportIPListRequest{
		{Tenant: "so-e2e", List: pdpv1.IPList_IP_LIST_DENY, Source: "so-feed", Lines: []string{"# so-feed", "198.51.100.0/28", "bad line"}},
		{Lines: []string{"2001:db8:5::/48 ; inline comment", ""}},
	} {
		if err := stream.Send(chunk); err != nil {
			t.Fatal(err)
		}
	}
	imp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if imp.GetAdded() != 2 || imp.GetInvalid() != 1 || imp.GetInvalidLines()[0].GetNumber() != 3 {
		t.Fatalf("import answered %v", imp)
	}
	imported := time.Now()
	enforced(t, b, "2001:db8:5::9", true)
	t.Logf("replica B enforced the list imported on A %s after the call", time.Since(imported).Round(time.Millisecond))

	// The changes are audit events in the shared store, readable on B.
	events, err := pdpv1.NewPolicyAdminServiceClient(b.Conn).ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "so-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events.GetEvents() {
		actions = append(actions, e.GetAction())
	}
	for _, want := range []string{"ip_rule.add", "ip_rule.remove", "ip_list.import"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit events on B %v lack %s", actions, want)
		}
	}

	// An auto-block A decides is a stored rule B enforces too.
	const attacker = "192.0.2.66"
	for i := range 4 {
		soReportFailure(t, a, "so-sprayed-"+strconv.Itoa(i), attacker)
	}
	d := until(t, "replica B enforces A's auto-block", func() bool {
		return slices.Contains(irCodes(soCheck(t, b, "so-bob", attacker)), "network.ip_denied")
	})
	t.Logf("replica B enforced A's auto-block after %s", d.Round(time.Millisecond))
}
