// Command pdpsoak is `make soak`: it builds pdp, starts `pdp serve` with
// the Redis store (a redis-server of its own on a free loopback port, with
// an append-only file fsynced before every reply) and a temporary copy of
// the demo tenants and modules, and for -duration drives mixed traffic at
// it: Check over gRPC and HTTP, Report (successful and failed logins),
// admin calls (AddIPRule, RemoveIPRule, PutTenantPolicy, SetSSOStatus),
// edits of a tenant file and an author's module that hot reload picks up,
// and Redis restarts (SIGTERM and SIGKILL in turn).
//
// At the end it looks for every write the server acknowledged: each
// reported login in its user's profile, each IP rule added (and not
// removed) in the list, each removed one gone, the last policy put, and an
// audit record for every admin write, then verifies the audit chain with
// `pdp audit verify`. It prints one last line
//
//	soak: decisions=N errors=E lost=L
//
// where errors counts failed calls, and lost the acknowledged writes that
// are missing. A failure is expected only when it overlapped a Redis
// outage and failed closed (UNAVAILABLE, or DEADLINE_EXCEEDED while
// waiting for the store); the exit status is 1 when any other failure
// happened or anything was lost.
//
// Traffic goes to 127.0.0.1 only, and every loop stops at -duration.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func main() {
	os.Exit(run())
}

func run() int {
	duration := flag.Duration("duration", 10*time.Minute, "how long the traffic runs")
	redisEvery := flag.Duration("redis-every", time.Minute, "how often redis-server is restarted")
	redisDown := flag.Duration("redis-down", 3*time.Second, "how long redis-server stays down")
	reloadEvery := flag.Duration("reload-every", 20*time.Second, "how often a policy file is edited")
	checkPace := flag.Duration("check-pace", 10*time.Millisecond, "pause between two checks of one worker (3 workers)")
	reportPace := flag.Duration("report-pace", 20*time.Millisecond, "pause between two reports")
	adminPace := flag.Duration("admin-pace", 100*time.Millisecond, "pause between two admin calls")
	root := flag.String("root", ".", "the repository root (where server/demo is)")
	keep := flag.Bool("keep", false, "keep the temporary directory (logs, Redis data)")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "pdpsoak-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	if *keep {
		fmt.Println("soak: working in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	led := newLedger()
	s, cleanup, err := setUp(*root, tmp, led)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		cleanup()
		return 2
	}
	defer cleanup()

	fmt.Printf("soak: %s of traffic; Redis down for %s every %s; a policy edit every %s\n", *duration, *redisDown, *redisEvery, *reloadEvery)
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	var wg sync.WaitGroup
	goes := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	goes(func() { s.checkGRPC(ctx, 0, *checkPace) })
	goes(func() { s.checkGRPC(ctx, 1, *checkPace) })
	goes(func() { s.checkHTTP(ctx, 2, *checkPace) })
	goes(func() { s.report(ctx, *reportPace) })
	goes(func() { s.admin(ctx, *adminPace) })
	goes(func() { s.reloads(ctx, s.tenantsDir, s.policyDir, tmp, *reloadEvery) })
	goes(func() { s.chaos(ctx, s.redis, *redisEvery, *redisDown) })
	goes(func() { s.watchServer(ctx) })
	wg.Wait()
	cancel()

	time.Sleep(outageGrace) // let the last restart's clients reconnect
	lost := s.verify(tmp)
	if err := s.pdp.stop(); err != nil {
		led.unexpectedf("%v: %s", err, tailFile(s.pdp.logPath))
	}
	fmt.Println(led.summary())
	errs := led.errors()
	fmt.Printf("soak: decisions=%d errors=%d lost=%d\n", led.decisions, errs, lost)
	if lost > 0 || led.nUnexp > 0 {
		return 1
	}
	return 0
}

// soakEnv is what setUp started, beside the soak's own state.
type soakEnv struct {
	redis      *redisServer
	pdp        *pdpServer
	pdpBin     string
	tenantsDir string
	policyDir  string
}

// setUp builds pdp, copies the demo, and starts redis-server and pdp serve.
func setUp(root, tmp string, led *ledger) (*soak, func(), error) {
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	env := &soakEnv{
		pdpBin:     filepath.Join(tmp, "pdp"),
		tenantsDir: filepath.Join(tmp, "tenants"),
		policyDir:  filepath.Join(tmp, "policies"),
	}
	build := exec.Command("go", "build", "-o", env.pdpBin, "./server/cmd/pdp")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, cleanup, fmt.Errorf("building pdp: %w", err)
	}
	for _, d := range [][2]string{{"server/demo/tenants", env.tenantsDir}, {"server/demo/policies", env.policyDir}} {
		if err := os.CopyFS(d[1], os.DirFS(filepath.Join(root, d[0]))); err != nil {
			return nil, cleanup, fmt.Errorf("copying %s: %w", d[0], err)
		}
	}
	redisDir := filepath.Join(tmp, "redis")
	if err := os.Mkdir(redisDir, 0o755); err != nil {
		return nil, cleanup, err
	}
	r, err := startRedis(redisDir)
	if err != nil {
		return nil, cleanup, err
	}
	env.redis = r
	closers = append(closers, func() { r.stop(9) })

	grpcPort, err1 := freePort()
	httpPort, err2 := freePort()
	if err1 != nil || err2 != nil {
		return nil, cleanup, fmt.Errorf("free ports: %v %v", err1, err2)
	}
	grpcAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	p, err := startPDP(env.pdpBin, []string{"serve", "--grpc-addr", grpcAddr, "--http-addr", httpAddr,
		"--tenants", env.tenantsDir, "--policy-dir", env.policyDir, "--store", r.url(),
		"--log-format", "text", "--log-level", "warn", "--reload-debounce", "100ms"},
		grpcAddr, httpAddr, filepath.Join(tmp, "pdp.log"))
	if err != nil {
		return nil, cleanup, err
	}
	env.pdp = p
	closers = append(closers, func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.exit
		}
	})
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, cleanup, err
	}
	closers = append(closers, func() { _ = conn.Close() })
	s := &soak{
		soakEnv: env,
		led:     led,
		w:       newWrites(),
		dec:     pdpv1.NewDecisionServiceClient(conn),
		adm:     pdpv1.NewPolicyAdminServiceClient(conn),
		httpURL: p.httpURL,
		http:    &http.Client{Timeout: callTimeout},
	}
	return s, cleanup, nil
}

// watchServer fails the soak when pdp serve exits under it.
func (s *soak) watchServer(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.pdp.exit:
		s.led.unexpectedf("pdp serve exited during the soak (%v): %s", s.pdp.cmd.ProcessState, tailFile(s.pdp.logPath))
	}
}
