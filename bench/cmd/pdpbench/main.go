// Command pdpbench measures pdp side by side with a no-op gRPC Check
// server and OPA's own REST server, on the same machine, ports, load
// generator and rotating request set, then how pdp's latency and memory
// grow with IP deny lists and user profiles. See bench/README.md.
//
// Run it from the bench directory: go run ./cmd/pdpbench.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/benchkit"
)

// config is the command line.
type config struct {
	root        string // repository root
	out         string
	grpcAddr    string
	httpAddr    string
	requests    int
	conc        int
	maxDur      time.Duration
	rateDur     time.Duration
	scaleDur    time.Duration
	noScaling   bool
	noPin       bool
	noopServe   string
	maxProfiles int
	maxCIDRs    int
	cpuProfile  string  // where pdp's CPU profile of its max run goes; empty: a temporary file
	genGOGC     int     // the load generator's GOGC; 0 leaves Go's default
	shadow      float64 // pdp's --shadow-sample with its own set as the candidate; 0: no shadow
}

func main() {
	var c config
	flag.StringVar(&c.root, "root", "..", "repository root (holds rego/ and server/)")
	flag.StringVar(&c.out, "out", "results/latest.md", "results file")
	flag.StringVar(&c.grpcAddr, "grpc-addr", "127.0.0.1:19191", "gRPC address the servers under test listen on")
	flag.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:18181", "HTTP address (OPA; pdp's HTTP door)")
	flag.IntVar(&c.requests, "requests", 1200, "distinct requests in the rotating set")
	flag.StringVar(&c.cpuProfile, "pdp-cpuprofile", "", "keep the CPU profile of pdp's closed-loop run in this file (go tool pprof -top FILE)")
	flag.IntVar(&c.genGOGC, "generator-gogc", 800, "GOGC of the load generator (this process; 0: Go's default); the servers are not affected")
	flag.IntVar(&c.conc, "concurrency", 16, "requests in flight, for every system and run")
	flag.DurationVar(&c.maxDur, "max-duration", 8*time.Second, "closed-loop maximum-throughput run")
	flag.DurationVar(&c.rateDur, "rate-duration", 4*time.Second, "each fixed-rate run")
	flag.DurationVar(&c.scaleDur, "scale-duration", 3*time.Second, "each scaling run")
	flag.BoolVar(&c.noScaling, "no-scaling", false, "skip the deny-list and profile scaling runs")
	flag.BoolVar(&c.noPin, "no-pin", false, "do not pin server and generator to separate cores")
	flag.IntVar(&c.maxCIDRs, "max-cidrs", 1_000_000, "largest deny list of the scaling runs")
	flag.IntVar(&c.maxProfiles, "max-profiles", 100_000, "most user profiles of the scaling runs")
	flag.Float64Var(&c.shadow, "shadow-sample", 0, "run pdp with shadow evaluation of this share of decisions, its own set as the candidate (0: none)")
	flag.StringVar(&c.noopServe, "noop-serve", "", "internal: serve the no-op Check server on this address")
	flag.Parse()
	if c.noopServe != "" {
		if err := serveNoop(c.noopServe); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if c.genGOGC > 0 {
		// The generator allocates per request; its collections pause the
		// reading of responses and show up as the servers' latency.
		debug.SetGCPercent(c.genGOGC)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "pdpbench:", err)
		os.Exit(1)
	}
}

// bench holds what every phase shares.
type bench struct {
	c       config
	tmp     string
	pin     bool
	pinNote string
	w       *workload
	pset    []byte
	bins    map[string]string // built programs by name
	env     environment
	systems []*systemResult
	scaling []*result
	mixes   map[string]string
	inproc  *inProcResult
	tenants *tenantScaleResult
	floor   *result // the no-op server at pdp's 50% rate
	// cpuShares split pdp's CPU profile of its closed-loop run.
	cpuShares []cpuShare
}

// systemResult is one system's runs.
type systemResult struct {
	name string
	max  *result
	runs []*result // fixed-rate runs at 25/50/75% of max
	rss  int64
}

func run(c config) error {
	began := time.Now()
	root, err := filepath.Abs(c.root)
	if err != nil {
		return err
	}
	c.root = root
	tmp, err := os.MkdirTemp("", "pdpbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{c: c, tmp: tmp, bins: map[string]string{}, mixes: map[string]string{}}
	b.pinGenerator()
	if b.w, err = makeWorkload(c.requests, 7); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	if b.pset, err = protoset(); err != nil {
		return err
	}
	if err := b.build(); err != nil {
		return err
	}
	b.env = readEnvironment(b)
	fmt.Printf("pdpbench: %d distinct requests, concurrency %d, %s\n", len(b.w.reqs), c.conc, b.pinNote)

	for _, sys := range []string{"noop", "pdp", "opa"} {
		sr, err := b.measureSystem(sys)
		if err != nil {
			return fmt.Errorf("%s: %w", sys, err)
		}
		b.systems = append(b.systems, sr)
	}
	if b.floor, err = b.measureFloor(); err != nil {
		return fmt.Errorf("no-op floor: %w", err)
	}
	if b.inproc, err = b.inProcess(filepath.Join(root, "server/demo/tenants")); err != nil {
		return fmt.Errorf("in-process evaluation: %w", err)
	}
	fmt.Printf("in-process engine.Decide over the request set, %s\n", b.inproc.summary())
	if b.tenants, err = b.tenantScale(); err != nil {
		return fmt.Errorf("tenant scale: %w", err)
	}
	fmt.Printf("tenant scale, %s\n", b.tenants.summary())
	if !c.noScaling {
		if err := b.scale(); err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
	}
	b.env.elapsed = time.Since(began)
	report := b.markdown()
	fmt.Print("\n" + b.table())
	if pdp := b.find("pdp"); pdp != nil && len(b.cpuShares) > 0 {
		fmt.Printf("\nwhere pdp's CPU goes (closed-loop run):\n")
		for _, s := range b.cpuShares {
			fmt.Printf("  %5.1f%%  %4.0f µs/decision  %s\n", 100*s.share,
				s.share*float64(pdp.max.cpuPerDecision())/float64(time.Microsecond), s.name)
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%s in all)\n", c.out, b.env.elapsed.Round(time.Second))
	fmt.Println(b.benchLine())
	return nil
}

// pinGenerator moves this process (the load generator) to cpu 1 when the
// machine has at least two cpus and taskset exists for the servers.
func (b *bench) pinGenerator() {
	if b.c.noPin {
		b.pinNote = "unpinned (-no-pin)"
		return
	}
	if runtime.NumCPU() < 2 {
		b.pinNote = "unpinned (fewer than 2 cpus)"
		return
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.pinNote = "unpinned (no taskset)"
		return
	}
	var set unix.CPUSet
	set.Set(1)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		b.pinNote = "unpinned (sched_setaffinity: " + err.Error() + ")"
		return
	}
	runtime.GOMAXPROCS(1)
	b.pin = true
	b.pinNote = "server on cpu 0 (GOMAXPROCS=1), load generator on cpu 1 (GOMAXPROCS=1)"
}

// build compiles pdp from the repository and OPA from the module version
// pdp depends on (this module's go.mod resolves the same one).
func (b *bench) build() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.bins["noop"] = self
	steps := []struct{ name, dir, pkg string }{
		{"pdp", b.c.root, "./server/cmd/pdp"},
		{"opa", ".", "github.com/open-policy-agent/opa"},
	}
	for _, s := range steps {
		out := filepath.Join(b.tmp, "bin", s.name)
		cmd := exec.Command("go", "build", "-o", out, s.pkg)
		cmd.Dir = s.dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", s.name, err, msg)
		}
		b.bins[s.name] = out
	}
	return nil
}

// startSystem starts one system under test with its state in dir.
func (b *bench) startSystem(sys, dir, tenants string) (*server, error) {
	grpcOK := grpcReady(b.c.grpcAddr, b.w.reqs[0])
	switch sys {
	case "noop":
		return startServer(sys, b.pin, []string{b.bins["noop"], "-noop-serve", b.c.grpcAddr}, nil, grpcOK, 30*time.Second)
	case "pdp":
		args := []string{
			b.bins["pdp"], "serve",
			"--tenants", tenants,
			"--store", "bolt:" + filepath.Join(dir, "pdp.db"),
			"--log-level", "error",
			"--grpc-addr", b.c.grpcAddr,
			"--http-addr", b.c.httpAddr,
		}
		args = append(args, "--pprof-addr", pprofAddr)
		if b.c.shadow > 0 {
			args = append(args, "--shadow-tenants", tenants, "--shadow-sample", strconv.FormatFloat(b.c.shadow, 'g', -1, 64))
		}
		return startServer(sys, b.pin, args, nil, grpcOK, 3*time.Minute)
	case "opa":
		args, err := b.opaArgs(dir)
		if err != nil {
			return nil, err
		}
		return startServer(sys, b.pin, args, nil, httpReady("http://"+b.c.httpAddr+"/health"), time.Minute)
	}
	return nil, fmt.Errorf("unknown system %q", sys)
}

// opaArgs writes data.json ({"tenants": benchkit.TenantsData(demo tenants)})
// and returns the opa run command over the library's Rego (no tests).
func (b *bench) opaArgs(dir string) ([]string, error) {
	tenants, err := benchkit.TenantsData(filepath.Join(b.c.root, "server/demo/tenants"))
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(map[string]any{"tenants": tenants})
	if err != nil {
		return nil, err
	}
	dataFile := filepath.Join(dir, "data.json")
	if err := os.WriteFile(dataFile, data, 0o644); err != nil {
		return nil, err
	}
	args := []string{b.bins["opa"], "run", "--server", "--addr", b.c.httpAddr, "--log-level", "error"}
	mods, err := filepath.Glob(filepath.Join(b.c.root, "rego", "*.rego"))
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		if !strings.HasSuffix(m, "_test.rego") {
			args = append(args, m)
		}
	}
	return append(args, dataFile), nil
}

// measureSystem runs the closed-loop maximum and the fixed-rate runs on
// one system, in a fresh process and state directory.
func (b *bench) measureSystem(sys string) (*systemResult, error) {
	dir := filepath.Join(b.tmp, sys)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	srv, err := b.startSystem(sys, dir, filepath.Join(b.c.root, "server/demo/tenants"))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if sys == "pdp" {
		// OPA's input carries the signals of a known user (opaBody); pdp
		// gets the same footing from its own store: a history of logins
		// for every user of the workload.
		if err := b.warmProfiles(); err != nil {
			return nil, fmt.Errorf("warming profiles: %w", err)
		}
	}
	mix, err := b.outcomes(sys)
	if err != nil {
		return nil, fmt.Errorf("outcome pass: %w", err)
	}
	b.mixes[sys] = mix
	fmt.Printf("%-5s outcomes over the request set: %s\n", sys, mix)
	// Warm up: a short closed-loop run not reported.
	if _, err := b.load(sys, srv, "warm-up", loadSpec{duration: 2 * time.Second, conc: b.c.conc}); err != nil {
		return nil, err
	}
	sr := &systemResult{name: sys}
	profiled := func() error { return nil }
	profPath := b.c.cpuProfile
	if profPath == "" {
		profPath = filepath.Join(dir, "cpu.prof")
	}
	if sys == "pdp" {
		profiled = profileDuring(profPath, b.c.maxDur-time.Second)
	}
	if sr.max, err = b.load(sys, srv, "max", loadSpec{duration: b.c.maxDur, conc: b.c.conc}); err != nil {
		return nil, err
	}
	if err := profiled(); err != nil {
		return nil, fmt.Errorf("pdp CPU profile: %w", err)
	}
	if sys == "pdp" {
		if b.cpuShares, err = readCPUShares(profPath); err != nil {
			return nil, fmt.Errorf("pdp CPU profile: %w", err)
		}
	}
	for _, pct := range []int{25, 50, 75} {
		rate := int(sr.max.rps() * float64(pct) / 100)
		r, err := b.load(sys, srv, fmt.Sprintf("%d%%", pct), loadSpec{rate: max(rate, 1), duration: b.c.rateDur, conc: b.c.conc})
		if err != nil {
			return nil, err
		}
		sr.runs = append(sr.runs, r)
	}
	sr.rss, _ = peakRSS(srv.pid())
	return sr, nil
}

// load runs one load spec against a started system, measuring the
// server's CPU time around it.
func (b *bench) load(sys string, srv *server, name string, spec loadSpec) (*result, error) {
	user0, sys0, err := cpuTimes(srv.pid())
	if err != nil {
		return nil, err
	}
	gen0, err := cpuTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	var r *result
	if sys == "opa" {
		r, err = runHTTP("http://"+b.c.httpAddr+"/v1/data/pdp/decision", b.w, spec)
	} else {
		r, err = runGRPC(b.c.grpcAddr, b.w, b.pset, spec)
	}
	if err != nil {
		return nil, err
	}
	user1, sys1, err := cpuTimes(srv.pid())
	if err != nil {
		return nil, err
	}
	gen1, err := cpuTime(os.Getpid())
	if err != nil {
		return nil, err
	}
	r.system, r.run, r.genCPU = sys, name, gen1-gen0
	r.cpu, r.sysCPU = user1-user0+sys1-sys0, sys1-sys0
	r.rss, _ = peakRSS(srv.pid())
	if name != "warm-up" {
		fmt.Printf("  %-5s %-8s %s\n", sys, name, r.summary())
	}
	return r, nil
}

// outcomes sends every request once and counts the decisions, so the
// report shows the mix each system actually reached.
func (b *bench) outcomes(sys string) (string, error) {
	counts, factors := map[string]int{}, map[string]int{}
	if sys == "opa" {
		url := "http://" + b.c.httpAddr + "/v1/data/pdp/decision"
		for _, body := range b.w.bodies {
			rs, err := http.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				return "", err
			}
			var out struct {
				Result struct {
					Decision string `json:"decision"`
				} `json:"result"`
			}
			err = json.NewDecoder(rs.Body).Decode(&out)
			_, _ = io.Copy(io.Discard, rs.Body)
			rs.Body.Close()
			if err != nil {
				return "", err
			}
			counts[out.Result.Decision]++
		}
	} else {
		cc, err := grpc.NewClient(b.c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return "", err
		}
		defer cc.Close()
		cl := pdpv1.NewDecisionServiceClient(cc)
		for _, rq := range b.w.reqs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rs, err := cl.Check(ctx, rq)
			cancel()
			if err != nil {
				counts["error"]++
				continue
			}
			counts[strings.ToLower(strings.TrimPrefix(rs.GetDecision().String(), "DECISION_"))]++
			for _, f := range rs.GetRisk().GetFactors() {
				factors[f.GetName()]++
			}
			if len(rs.GetRisk().GetFactors()) == 0 {
				factors[""]++
			}
		}
	}
	mix := formatMix(counts, len(b.w.reqs))
	if sys == "pdp" && len(factors) > 0 {
		mix += "; risk factors: " + formatFactors(factors, len(b.w.reqs))
	}
	return mix, nil
}

// formatFactors renders how often each risk factor was present, "none"
// (no factor at all) first, then by frequency.
func formatFactors(counts map[string]int, n int) string {
	names := slices.Collect(maps.Keys(counts))
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == "":
			return -1
		case b == "":
			return 1
		}
		return cmp.Or(counts[b]-counts[a], strings.Compare(a, b))
	})
	parts := make([]string, 0, len(names))
	for _, k := range names {
		name := k
		if name == "" {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s %.1f%%", name, 100*float64(counts[k])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// formatMix renders outcome counts as percentages, allow first.
func formatMix(counts map[string]int, n int) string {
	var parts []string
	for _, k := range []string{"allow", "challenge", "deny", "error", ""} {
		if v, ok := counts[k]; ok {
			name := k
			if name == "" {
				name = "undefined"
			}
			parts = append(parts, fmt.Sprintf("%s %.1f%%", name, 100*float64(v)/float64(n)))
			delete(counts, k)
		}
	}
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", k, 100*float64(v)/float64(n)))
	}
	return strings.Join(parts, ", ")
}
