package pdptest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/admin/iplists"
	"github.com/pdp-dev/pdp/server/internal/admin/tenants"
	"github.com/pdp-dev/pdp/server/internal/cli"
)

// serveChildEnv carries the arguments (one a line) of the `pdp serve`
// process TestServeChild runs.
const serveChildEnv = "PDP_SERVE_CHILD_ARGS"

// TestServeChild is a real `pdp serve` process for the crash test: it
// does nothing unless started by it with serveChildEnv set, and then runs
// the command line as the pdp binary's main does.
func TestServeChild(t *testing.T) {
	args := os.Getenv(serveChildEnv)
	if args == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, strings.Split(args, "\n"), cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// serveChild is the command that runs the pdp command line args in a
// child process, through TestServeChild.
func serveChild(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+strings.Join(args, "\n"))
	return cmd
}

// crashTenant is the tenant the crash test writes to.
const crashTenant = `
tenant: crash
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [login, api.read]}
`

// serveProc is a running `pdp serve` child process.
type serveProc struct {
	cmd   *exec.Cmd
	conn  *grpc.ClientConn
	logs  *logSink
	done  chan error // the result of Wait
	ended bool       // done was received
}

// startServe runs `pdp serve` on the bolt file db with the tenants in
// dir, and waits until it serves.
func startServe(t *testing.T, db, dir string) *serveProc {
	t.Helper()
	args := []string{"serve", "--store", "bolt:" + db, "--tenants", filepath.Join(dir, "tenants"),
		"--policy-dir", filepath.Join(dir, "policies"), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-format", "json"}
	cmd := serveChild(context.Background(), args)
	p := &serveProc{cmd: cmd, logs: &logSink{}, done: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(t) })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = p.logs.Write(append(line, '\n'))
			var l struct{ Msg, GRPC string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "pdp listening" {
				addr <- l.GRPC
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		if p.conn, err = grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.conn.Close() })
	case err := <-p.done:
		p.ended = true
		t.Fatalf("pdp serve exited before listening: %v\n%s", err, p.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("pdp serve did not listen within 20s:\n%s", p.logs)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := healthpb.NewHealthClient(p.conn).Check(secCtx(t), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pdp serve is not SERVING after 20s (%v, %v):\n%s", resp.GetStatus(), err, p.logs)
		}
	}
}

// kill sends SIGKILL and waits for the process to end; it reports
// whether the signal is what ended it.
func (p *serveProc) kill(t *testing.T) bool {
	t.Helper()
	if p.ended {
		return false
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-p.done:
		p.ended = true
		var exit *exec.ExitError
		return errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	case <-time.After(10 * time.Second):
		t.Fatal("pdp serve did not die within 10s of SIGKILL")
		return false
	}
}

// acked is what the server acknowledged before the kill, by writer.
type acked struct {
	mu      sync.Mutex
	logins  map[string]int // successful logins reported, by user
	rules   []string       // ids of the IP rules added
	puts    []string       // reasons of the policy puts, in order
	timeout time.Duration  // inactivity timeout of the last acknowledged put
	etag    string         // its etag
}

// TestKillDuringWritesKeepsEverythingAcknowledged runs a real `pdp serve`
// on a bolt file, kills it with SIGKILL while Reports, AddIPRule and
// PutTenantPolicy calls run concurrently, restarts it on the same file and
// finds everything it acknowledged: each user's reported logins in the
// profile (plus at most the one in flight), every added rule and every
// policy put, each with its audit record. The store-level half is
// server/internal/store/bolt's TestKillKeepsAcknowledgedEvents.
func TestKillDuringWritesKeepsEverythingAcknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"tenants", "policies"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants", "crash.yaml"), []byte(crashTenant), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "pdp.db")
	first := startServe(t, db, dir)
	decisions := pdpv1.NewDecisionServiceClient(first.conn)
	admin := pdpv1.NewPolicyAdminServiceClient(first.conn)
	got, err := admin.GetTenantPolicy(secCtx(t), &pdpv1.GetTenantPolicyRequest{Tenant: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	policy := got.GetPolicy()

	a := &acked{logins: map[string]int{}}
	var reports, rules, puts atomic.Int64
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 10*time.Second)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		user := fmt.Sprintf("crash-user-%d", w)
		wg.Go(func() {
			for {
				ctx, cancel := call()
				_, err := decisions.Report(ctx, &pdpv1.ReportRequest{Tenant: "crash", Event: pdpv1.Event_EVENT_LOGIN_SUCCEEDED,
					Subject: &pdpv1.Subject{Id: user}, Device: &pdpv1.Device{Id: "laptop"}})
				cancel()
				if err != nil {
					return
				}
				a.mu.Lock()
				a.logins[user]++
				a.mu.Unlock()
				reports.Add(1)
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			ctx, cancel := call()
			resp, err := admin.AddIPRule(ctx, &pdpv1.AddIPRuleRequest{Tenant: "crash", List: pdpv1.IPList_IP_LIST_DENY,
				Cidr: fmt.Sprintf("10.99.%d.%d/32", i/256, i%256), Reason: fmt.Sprintf("crash rule %d", i)})
			cancel()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.rules = append(a.rules, resp.GetRule().GetId())
			a.mu.Unlock()
			rules.Add(1)
		}
	})
	wg.Go(func() {
		for i := 0; ; i++ {
			next := proto.Clone(policy).(*pdpv1.TenantPolicy)
			timeout := time.Hour + time.Duration(i+1)*time.Minute
			next.Environments["production"].InactivityTimeout = durationpb.New(timeout)
			reason := fmt.Sprintf("crash put %d", i)
			ctx, cancel := call()
			resp, err := admin.PutTenantPolicy(ctx, &pdpv1.PutTenantPolicyRequest{Policy: next, Reason: reason})
			cancel()
			if err != nil {
				return
			}
			policy = resp.GetPolicy()
			a.mu.Lock()
			a.puts, a.timeout, a.etag = append(a.puts, reason), timeout, policy.GetEtag()
			a.mu.Unlock()
			puts.Add(1)
		}
	})

	// Kill once every writer has had a good run, while all of them write.
	for deadline := time.Now().Add(15 * time.Second); reports.Load() < 200 || rules.Load() < 20 || puts.Load() < 10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 15s only %d reports, %d rules and %d puts were acknowledged", reports.Load(), rules.Load(), puts.Load())
		}
	}
	if !first.kill(t) {
		t.Fatal("pdp serve was not ended by the SIGKILL")
	}
	wg.Wait()
	t.Logf("acknowledged before the kill: %d reports, %d rules, %d puts", reports.Load(), rules.Load(), puts.Load())

	second := startServe(t, db, dir)
	admin = pdpv1.NewPolicyAdminServiceClient(second.conn)
	ctx := secCtx(t)
	for user, n := range a.logins {
		resp, err := admin.GetUserProfile(ctx, &pdpv1.GetUserProfileRequest{Tenant: "crash", UserId: user, Reason: "crash test"})
		if err != nil {
			t.Fatalf("profile of %s: %v", user, err)
		}
		// The report in flight at the kill may have landed too.
		if c := resp.GetProfile().GetLoginCount(); c < uint64(n) || c > uint64(n)+1 {
			t.Errorf("%s: %d logins on record after the restart, %d acknowledged", user, c, n)
		}
	}

	stored := map[string]bool{}
	for token := ""; ; {
		resp, err := admin.ListIPRules(ctx, &pdpv1.ListIPRulesRequest{Tenant: "crash", PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetRules() {
			stored[r.GetId()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	audited := map[string]bool{} // action + " " + target or reason
	for token := ""; ; {
		resp, err := admin.ListAuditEvents(ctx, &pdpv1.ListAuditEventsRequest{Tenant: "crash", PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEvents() {
			audited[e.GetAction()+" "+e.GetTarget()] = true
			audited[e.GetAction()+" "+e.GetReason()] = true
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for _, id := range a.rules {
		if !stored[id] {
			t.Errorf("acknowledged IP rule %s lost in the crash", id)
		}
		if !audited[iplists.ActionAdd+" "+id] {
			t.Errorf("acknowledged IP rule %s has no audit record", id)
		}
	}
	for _, reason := range a.puts {
		if !audited[tenants.ActionPut+" "+reason] {
			t.Errorf("acknowledged policy put %q has no audit record", reason)
		}
	}
	now, err := admin.GetTenantPolicy(ctx, &pdpv1.GetTenantPolicyRequest{Tenant: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	// The put in flight at the kill may have landed: one minute more.
	switch timeout := now.GetPolicy().GetEnvironments()["production"].GetInactivityTimeout().AsDuration(); {
	case timeout == a.timeout && now.GetPolicy().GetEtag() != a.etag:
		t.Errorf("the last acknowledged put is served with etag %s, acknowledged as %s", now.GetPolicy().GetEtag(), a.etag)
	case timeout != a.timeout && timeout != a.timeout+time.Minute:
		t.Errorf("after the restart the policy's inactivity timeout is %v; the last acknowledged put set %v", timeout, a.timeout)
	}
	if t.Failed() {
		t.Logf("logs of the restarted server:\n%s", bytes.TrimSpace([]byte(second.logs.String())))
	}
}
