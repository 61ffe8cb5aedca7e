package pdptest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// devTenant is a tenant whose development environment lets members read.
const devTenant = `
tenant: dev
plan: free
environments:
  development:
    roles:
      member:
        actions: [login, api.read]
`

func devCheck(action string) *pdpv1.CheckRequest {
	return &pdpv1.CheckRequest{
		Tenant:      "dev",
		Environment: "development",
		Subject:     &pdpv1.Subject{Id: "u1", Email: "u1@dev.example", Roles: []string{"member"}},
		Network:     &pdpv1.Network{Ip: "198.51.100.7"},
		Action:      &pdpv1.Action{Name: action},
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func reasonCodes(r *pdpv1.CheckResponse) []string {
	var out []string
	for _, x := range r.GetReasons() {
		out = append(out, x.GetCode())
	}
	return out
}

func TestServingHealthAndReflection(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	for _, svc := range []string{"", "pdp.v1.DecisionService"} {
		resp, err := s.Health.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}
	stream, err := rpb.NewServerReflectionClient(s.Conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "pdp.v1.DecisionService") {
		t.Fatalf("reflection lists %v, want pdp.v1.DecisionService", names)
	}
}

func TestUnknownTenantIsDeniedOverGRPCAndHTTP(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	resp, err := s.Decisions.Check(ctx(t), &pdpv1.CheckRequest{Tenant: "nobody", Action: &pdpv1.Action{Name: "login"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision() != pdpv1.Decision_DECISION_DENY || resp.GetAllowed() {
		t.Fatalf("decision %v allowed=%v, want DENY", resp.GetDecision(), resp.GetAllowed())
	}
	if diff := cmp.Diff([]string{"tenant.unknown"}, reasonCodes(resp)); diff != "" {
		t.Fatalf("reasons (-want +got):\n%s", diff)
	}
	if resp.GetDecisionId() == "" || resp.GetPolicyRevision() == "" {
		t.Fatalf("decision id %q and revision %q must be set", resp.GetDecisionId(), resp.GetPolicyRevision())
	}

	code, body := postJSON(t, s.HTTPURL+"/v1/check", `{"tenant":"nobody","action":{"name":"login"}}`)
	if code != http.StatusOK {
		t.Fatalf("HTTP status %d: %s", code, body)
	}
	var got struct {
		Decision string `json:"decision"`
		Reasons  []struct {
			Code string `json:"code"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Decision != "DECISION_DENY" || len(got.Reasons) != 1 || got.Reasons[0].Code != "tenant.unknown" {
		t.Fatalf("HTTP answer %s", body)
	}
}

func TestAllowAndRoleForbidden(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	resp, err := s.Decisions.Check(ctx(t), devCheck("api.read"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision() != pdpv1.Decision_DECISION_ALLOW || !resp.GetAllowed() || !resp.GetEnforced() {
		t.Fatalf("got %v (reasons %v), want an enforced ALLOW", resp.GetDecision(), reasonCodes(resp))
	}
	resp, err = s.Decisions.Check(ctx(t), devCheck("api.write"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision() != pdpv1.Decision_DECISION_DENY || !strings.Contains(strings.Join(reasonCodes(resp), ","), "authz.role_forbidden") {
		t.Fatalf("got %v %v, want DENY with authz.role_forbidden", resp.GetDecision(), reasonCodes(resp))
	}
}

func TestMalformedIPIsInvalidArgumentNamingTheField(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	req := devCheck("api.read")
	req.Network.Ip = "300.1.2.3"
	_, err := s.Decisions.Check(ctx(t), req)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v, want InvalidArgument (%v)", st.Code(), err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if diff := cmp.Diff([]string{"network.ip"}, fields); diff != "" {
		t.Fatalf("field violations (-want +got):\n%s", diff)
	}

	code, body := postJSON(t, s.HTTPURL+"/v1/check",
		`{"tenant":"dev","environment":"development","action":{"name":"api.read"},"network":{"ip":"300.1.2.3"}}`)
	if code != http.StatusBadRequest || !strings.Contains(string(body), `"network.ip"`) {
		t.Fatalf("HTTP %d %s, want 400 naming network.ip", code, body)
	}
}

func TestBatchCheckAnswersPerItem(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	bad := devCheck("api.read")
	bad.Network.Ip = "not-an-ip"
	resp, err := s.Decisions.BatchCheck(ctx(t), &pdpv1.BatchCheckRequest{Checks: []*pdpv1.CheckRequest{
		devCheck("api.read"), bad, devCheck("api.write"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	res := resp.GetResults()
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	if res[0].GetResponse().GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("item 0: %v, want ALLOW", res[0])
	}
	if res[1].GetError().GetCode() != int32(codes.InvalidArgument) || res[1].GetResponse() != nil {
		t.Errorf("item 1: %v, want an INVALID_ARGUMENT error alone", res[1])
	}
	if res[2].GetResponse().GetDecision() != pdpv1.Decision_DECISION_DENY {
		t.Errorf("item 2: %v, want DENY", res[2])
	}
}

func TestMetricsAndProbes(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	if _, err := s.Decisions.Check(ctx(t), devCheck("api.read")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := s.HTTP.Get(s.HTTPURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := s.HTTP.Get(s.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{`pdp_decisions_total{decision="allow"} 1`, "pdp_check_duration_seconds_bucket", `pdp_policy_reloads_total{result="ok"}`} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

func TestReportIsRecorded(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	resp, err := s.Decisions.Report(ctx(t), &pdpv1.ReportRequest{
		Tenant:  "dev",
		Event:   pdpv1.Event_EVENT_LOGIN_FAILED,
		Subject: &pdpv1.Subject{Id: "u1"},
		Network: &pdpv1.Network{Ip: "2001:db8::7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetEventId() == "" {
		t.Fatal("event id must be set")
	}
	_, err = s.Decisions.Report(ctx(t), &pdpv1.ReportRequest{Tenant: "dev", Subject: &pdpv1.Subject{Id: "u1"}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("report without event: %v, want InvalidArgument", err)
	}
}

// TestReloadNeverDropsARequest edits a policy good → broken → fixed while
// checks run concurrently: every call must succeed, the broken edit must
// keep the last good set, and the fix must take effect without a restart.
func TestReloadNeverDropsARequest(t *testing.T) {
	t.Parallel()
	const custom = `package pdp.custom

import rego.v1

deny contains {"code": "custom.blocked", "message": "blocked by test", "rule": "custom.blocked"} if input.action.name == "%s"
`
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant),
		pdptest.WithPolicy("custom.rego", strings.ReplaceAll(custom, "%s", "api.never")))
	rev0 := s.Revision(t)

	var failures, calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := s.Decisions.Check(c, devCheck("api.read"))
				cancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("check failed during reload: %v", err)
				}
			}
		}()
	}

	decide := func() *pdpv1.CheckResponse {
		r, err := s.Decisions.Check(ctx(t), devCheck("api.read"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Good edit: api.read is now blocked.
	s.WritePolicy(t, "custom.rego", strings.ReplaceAll(custom, "%s", "api.read"))
	rev1 := s.WaitRevision(t, rev0)
	if r := decide(); r.GetDecision() != pdpv1.Decision_DECISION_DENY {
		t.Fatalf("after the good edit: %v, want DENY", r.GetDecision())
	}
	// Broken edit: the last good set keeps serving.
	s.WritePolicy(t, "custom.rego", "package pdp.custom\n\ndeny contains x if {\n")
	time.Sleep(500 * time.Millisecond)
	if r := decide(); r.GetPolicyRevision() != rev1 || r.GetDecision() != pdpv1.Decision_DECISION_DENY {
		t.Fatalf("after the broken edit: revision %s decision %v, want %s DENY", r.GetPolicyRevision(), r.GetDecision(), rev1)
	}
	// Fix: back to allow.
	s.WritePolicy(t, "custom.rego", strings.ReplaceAll(custom, "%s", "api.never"))
	s.WaitRevision(t, rev1)
	if r := decide(); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("after the fix: %v, want ALLOW", r.GetDecision())
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || calls.Load() == 0 {
		t.Fatalf("%d of %d concurrent checks failed", failures.Load(), calls.Load())
	}
}

func TestBrokenTenantFileKeepsLastGoodSet(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("dev.yaml", devTenant))
	rev := s.Revision(t)
	s.WriteTenant(t, "dev.yaml", strings.ReplaceAll(devTenant, "plan: free", "plan: platinum"))
	time.Sleep(500 * time.Millisecond)
	r, err := s.Decisions.Check(ctx(t), devCheck("api.read"))
	if err != nil {
		t.Fatal(err)
	}
	if r.GetPolicyRevision() != rev || r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("revision %s decision %v after a broken tenant file, want %s ALLOW", r.GetPolicyRevision(), r.GetDecision(), rev)
	}
	s.WriteTenant(t, "dev.yaml", strings.ReplaceAll(devTenant, "api.read]", "api.read, api.write]"))
	s.WaitRevision(t, rev)
	r, err = s.Decisions.Check(ctx(t), devCheck("api.write"))
	if err != nil || r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Fatalf("after fixing the tenant file: %v %v, want ALLOW", r.GetDecision(), err)
	}
}

func TestNotServingUntilAPolicySetLoads(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithoutReadyWait(),
		pdptest.WithTenant("dev.yaml", "tenant: dev\nplan: nonsense\n"))
	resp, err := s.Health.Check(ctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	_, err = s.Decisions.Check(ctx(t), devCheck("api.read"))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("check without a policy set: %v, want Unavailable", err)
	}
	r, err := s.HTTP.Get(s.HTTPURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d, want 503", r.StatusCode)
	}
	s.WriteTenant(t, "dev.yaml", devTenant)
	s.WaitServing(t)
}

func postJSON(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
