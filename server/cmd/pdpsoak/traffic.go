package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// callTimeout bounds every call of the soak.
const callTimeout = 10 * time.Second

// Per-user bounds that keep every acknowledged write visible in the
// profile: fewer devices than a profile keeps (32), fewer failures than
// its failed-login list (64).
const (
	successesPerUser = 30
	failuresPerUser  = 5
)

// writes remembers every write the server acknowledged, to be found again
// at the end.
type writes struct {
	mu        sync.Mutex
	devices   map[string][]string    // success user -> device ids of acknowledged logins
	failures  map[string][]time.Time // failure user -> when acknowledged failures were sent
	rules     map[string]*ipRule     // rule id -> rule
	reasons   map[string]string      // reason of an acknowledged admin write -> its tenant
	puts      []policyPut            // PutTenantPolicy calls in order
	ssoStatus map[string]bool
}

type ipRule struct {
	cidr             string
	removed, unknown bool // removal acknowledged; removal failed with an unknown outcome
}

// policyPut is one PutTenantPolicy: the action it added, and whether the
// server acknowledged it (false: failed with an unknown outcome).
type policyPut struct {
	marker string
	acked  bool
}

func newWrites() *writes {
	return &writes{devices: map[string][]string{}, failures: map[string][]time.Time{},
		rules: map[string]*ipRule{}, reasons: map[string]string{}, ssoStatus: map[string]bool{}}
}

// soak drives the server.
type soak struct {
	*soakEnv
	led     *ledger
	w       *writes
	dec     pdpv1.DecisionServiceClient
	adm     pdpv1.PolicyAdminServiceClient
	httpURL string
	http    *http.Client
}

// timed runs one call and books it in the ledger.
func (s *soak) timed(kind string, call func(ctx context.Context) (string, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	rev, err := call(ctx)
	end := time.Now()
	if err != nil {
		s.led.failed(kind, status.Code(err), err.Error(), start, end)
		return err
	}
	if strings.HasPrefix(kind, "check") {
		s.led.decided(kind, rev)
	} else {
		s.led.succeeded(kind)
	}
	return nil
}

// checkRequest is the i-th check of worker w: acme's users, networks and
// actions in rotation.
func checkRequest(w, i int) *pdpv1.CheckRequest {
	actions := []string{"api.read", "api.write", "login", "export.reports.csv", "admin.users.read"}
	roles := []string{"engineer", "admin", "contractor"}
	return &pdpv1.CheckRequest{
		Tenant: "acme",
		Subject: &pdpv1.Subject{Id: fmt.Sprintf("soak-c-%d", (w*7919+i)%500), Email: "soak@eu.acme.com",
			Roles: []string{roles[i%len(roles)]}, MfaEnrolled: i%3 != 0},
		Network: &pdpv1.Network{Ip: fmt.Sprintf("203.0.113.%d", i%250+1), Country: []string{"DE", "FR", "US"}[i%3]},
		Device:  &pdpv1.Device{Id: fmt.Sprintf("dev-%d", i%40), Managed: i%2 == 0, Compliant: i%2 == 0},
		Action:  &pdpv1.Action{Name: actions[i%len(actions)]},
	}
}

// checkGRPC asks for decisions over gRPC.
func (s *soak) checkGRPC(ctx context.Context, w int, pace time.Duration) {
	for i := 0; paced(ctx, pace); i++ {
		_ = s.timed("check.grpc", func(ctx context.Context) (string, error) {
			resp, err := s.dec.Check(ctx, checkRequest(w, i))
			return resp.GetPolicyRevision(), err
		})
	}
}

// checkHTTP asks for decisions through POST /v1/check.
func (s *soak) checkHTTP(ctx context.Context, w int, pace time.Duration) {
	for i := 0; paced(ctx, pace); i++ {
		body, _ := protojson.Marshal(checkRequest(w, i))
		_ = s.timed("check.http", func(ctx context.Context) (string, error) {
			var resp pdpv1.CheckResponse
			err := s.post(ctx, "/v1/check", body, &resp)
			return resp.GetPolicyRevision(), err
		})
	}
}

// post sends one HTTP API call; a non-200 answer becomes a status error
// with the code of its JSON body.
func (s *soak) post(ctx context.Context, path string, body []byte, into *pdpv1.CheckResponse) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.httpURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return status.Error(codes.Unknown, err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(b, &e)
		c, ok := rpccode.Code_value[e.Code]
		if !ok {
			c = int32(codes.Unknown)
		}
		return status.Errorf(codes.Code(c), "HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if err := protojson.Unmarshal(b, into); err != nil {
		return status.Errorf(codes.Internal, "decoding the answer: %v", err)
	}
	return nil
}

// report sends successful logins (each from a new device) and failed ones,
// alternating, and remembers the acknowledged ones.
func (s *soak) report(ctx context.Context, pace time.Duration) {
	for i := 0; paced(ctx, pace); i++ {
		n := i / 2
		if i%2 == 0 {
			user, device := fmt.Sprintf("soak-s-%d", n/successesPerUser), fmt.Sprintf("soak-dev-%d", n)
			err := s.timed("report.success", func(ctx context.Context) (string, error) {
				_, err := s.dec.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGIN_SUCCEEDED,
					Subject: &pdpv1.Subject{Id: user}, Device: &pdpv1.Device{Id: device},
					Network: &pdpv1.Network{Ip: fmt.Sprintf("192.0.2.%d", n%250+1), Country: "DE"}})
				return "", err
			})
			if err == nil {
				s.w.mu.Lock()
				s.w.devices[user] = append(s.w.devices[user], device)
				s.w.mu.Unlock()
			}
			continue
		}
		user := fmt.Sprintf("soak-f-%d", n/failuresPerUser)
		sent := time.Now()
		err := s.timed("report.failure", func(ctx context.Context) (string, error) {
			_, err := s.dec.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_LOGIN_FAILED,
				Subject: &pdpv1.Subject{Id: user}, Network: &pdpv1.Network{Ip: fmt.Sprintf("198.51.100.%d", n%250+1)}})
			return "", err
		})
		if err == nil {
			s.w.mu.Lock()
			s.w.failures[user] = append(s.w.failures[user], sent)
			s.w.mu.Unlock()
		}
	}
}

// admin adds and removes IP rules, puts initech's policy and flips
// globex's SSO status, one call at a time, each with a reason of its own.
func (s *soak) admin(ctx context.Context, pace time.Duration) {
	var live []string // acknowledged rules not yet removed
	for i := 0; paced(ctx, pace); i++ {
		reason := fmt.Sprintf("soak %d", i)
		switch {
		case i%10 == 9:
			s.putPolicy(i, reason)
		case i%15 == 14:
			available := i%30 == 29
			err := s.timed("admin.sso", func(ctx context.Context) (string, error) {
				_, err := s.adm.SetSSOStatus(ctx, &pdpv1.SetSSOStatusRequest{Tenant: "globex", Available: available, Reason: reason})
				return "", err
			})
			if err == nil {
				s.acked(reason, "globex")
			}
		case i%3 == 2 && len(live) > 0:
			id := live[0]
			live = live[1:]
			err := s.timed("admin.remove_ip_rule", func(ctx context.Context) (string, error) {
				_, err := s.adm.RemoveIPRule(ctx, &pdpv1.RemoveIPRuleRequest{Id: id, Reason: reason})
				return "", err
			})
			s.w.mu.Lock()
			if err == nil {
				s.w.rules[id].removed = true
				s.w.reasons[reason] = "acme"
			} else {
				s.w.rules[id].unknown = true
			}
			s.w.mu.Unlock()
		default:
			cidr := fmt.Sprintf("198.18.%d.%d/32", i/250%250, i%250+1)
			var id string
			err := s.timed("admin.add_ip_rule", func(ctx context.Context) (string, error) {
				resp, err := s.adm.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Cidr: cidr, Reason: reason})
				id = resp.GetRule().GetId()
				return "", err
			})
			if err == nil {
				s.w.mu.Lock()
				s.w.rules[id] = &ipRule{cidr: cidr}
				s.w.mu.Unlock()
				s.acked(reason, "acme")
				live = append(live, id)
			}
		}
	}
}

func (s *soak) acked(reason, tenant string) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	s.w.reasons[reason] = tenant
}

// putPolicy reads initech's policy and puts it back with a member action
// naming the call, so the final policy tells which put landed last.
func (s *soak) putPolicy(i int, reason string) {
	marker := fmt.Sprintf("soak.v%d", i)
	var policy *pdpv1.TenantPolicy
	if s.timed("admin.get_policy", func(ctx context.Context) (string, error) {
		resp, err := s.adm.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "initech"})
		policy = resp.GetPolicy()
		return "", err
	}) != nil {
		return
	}
	env := policy.GetEnvironments()["production"]
	if env == nil || env.GetRoles()["member"] == nil {
		s.led.unexpectedf("initech's policy has no production member role: %v", policy)
		return
	}
	env.Roles["member"].Actions = []string{"login", "api.read", marker}
	err := s.timed("admin.put_policy", func(ctx context.Context) (string, error) {
		_, err := s.adm.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: policy, Reason: reason})
		return "", err
	})
	s.w.mu.Lock()
	s.w.puts = append(s.w.puts, policyPut{marker: marker, acked: err == nil})
	s.w.mu.Unlock()
	if err == nil {
		s.acked(reason, "initech")
	}
}

// reloads edits a tenant file and an author's module in turn, so that
// hot reload swaps the policy set under the traffic.
func (s *soak) reloads(ctx context.Context, tenantsDir, policyDir, scratch string, every time.Duration) {
	globex := filepath.Join(tenantsDir, "globex.yaml")
	custom := filepath.Join(policyDir, "custom.rego")
	origTenant, err1 := os.ReadFile(globex)
	origModule, err2 := os.ReadFile(custom)
	if err1 != nil || err2 != nil {
		s.led.unexpectedf("reading the files to edit: %v %v", err1, err2)
		return
	}
	for i := 0; paced(ctx, every); i++ {
		var path, content string
		if i%2 == 0 {
			path = globex
			content = strings.Replace(string(origTenant), `actions: [login, "api.*", "cache.*"]`,
				fmt.Sprintf(`actions: [login, "api.*", "cache.*", "soak.reload.%d"]`, i), 1)
		} else {
			path = custom
			content = strings.Replace(string(origModule), "anonymizer_weight := 0.4", fmt.Sprintf("anonymizer_weight := 0.4%d", i%10), 1)
		}
		if content == string(origTenant) || content == string(origModule) {
			s.led.unexpectedf("the edit of %s changed nothing: the demo file changed; update the soak", path)
			return
		}
		tmp := filepath.Join(scratch, "edit.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			s.led.unexpectedf("writing %s: %v", tmp, err)
			return
		}
		if err := os.Rename(tmp, path); err != nil {
			s.led.unexpectedf("replacing %s: %v", path, err)
			return
		}
		s.led.succeeded("reload.edit")
	}
}

// chaos stops redis-server every `every`, alternately with SIGTERM and
// SIGKILL, leaves it down for `down`, and starts it again.
func (s *soak) chaos(ctx context.Context, r *redisServer, every, down time.Duration) {
	for i := 0; paced(ctx, every); i++ {
		sig := syscall.SIGTERM
		if i%2 == 1 {
			sig = syscall.SIGKILL
		}
		s.led.outageBegins(time.Now())
		r.stop(sig)
		time.Sleep(down)
		if err := r.restart(); err != nil {
			s.led.unexpectedf("restarting redis-server: %v", err)
			return
		}
		s.led.outageEnds(time.Now())
		s.led.succeeded("redis.restart")
	}
}

// paced waits pace and reports whether the soak goes on.
func paced(ctx context.Context, pace time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(pace):
		return true
	}
}
