package pdptest_test

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	adminiprules "github.com/pdp-dev/pdp/server/internal/admin/iprules"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
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
func replicas(t *testing.T) (a, b *pdptest.Server, url string) {
	t.Helper()
	srv := redistest.Start(t)
	url = srv.URL(0)
	a = pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("so-e2e.yaml", soTenant))
	b = pdptest.Start(t, pdptest.WithStore(url), pdptest.WithTenant("so-e2e.yaml", soTenant))
	return a, b, url
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
	a, b, _ := replicas(t)
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

// silentLog is the audit log of the test's admin path.
type silentLog struct{}

func (silentLog) Append(_ context.Context, e audit.Entry) (audit.Event, error) {
	return audit.Event{Entry: e}, nil
}

func (silentLog) List(context.Context, audit.Query) ([]audit.Event, uint64, error) {
	return nil, 0, nil
}

func TestScaleOutIPRuleReachesEveryReplica(t *testing.T) {
	a, b, url := replicas(t)
	const ip = "203.0.113.44"
	for _, srv := range []*pdptest.Server{a, b} {
		if r := soCheck(t, srv, "so-alice", ip); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
			t.Fatalf("before the rule: %v %v", r.GetDecision(), irCodes(r))
		}
	}
	// PolicyAdminService is not served yet, so the rule is added through
	// the same admin service and Redis store a replica's handler uses.
	st, err := redis.Open(context.Background(), url, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc, err := adminiprules.New(adminiprules.Options{Store: st.IPRules(st.Notifier()), Audit: silentLog{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := authn.WithCaller(context.Background(), authn.Caller{Name: "so-admin", Role: authn.RoleAdmin})
	added := time.Now()
	if _, err := svc.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "so-e2e", List: "deny", Cidr: netip.MustParsePrefix(ip + "/32").String(), Reason: "scale-out proof"}); err != nil {
		t.Fatal(err)
	}
	for name, srv := range map[string]*pdptest.Server{"A": a, "B": b} {
		d := until(t, "replica "+name+" enforces the rule", func() bool {
			return slices.Contains(irCodes(soCheck(t, srv, "so-alice", ip)), "network.ip_denied")
		})
		t.Logf("replica %s enforced the new rule %s after it was added (%s polling)", name, time.Since(added).Round(time.Millisecond), d.Round(time.Millisecond))
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
