package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"
)

// environment is where and with what the results were taken.
type environment struct {
	date, cpu, kernel, load, steal, goVersion, grpc, opa, ghz, vegeta, commit string
	cpus                                                                      int
	elapsed                                                                   time.Duration
}

func readEnvironment(b *bench) environment {
	e := environment{
		date:      time.Now().UTC().Format(time.RFC3339),
		cpus:      runtime.NumCPU(),
		goVersion: runtime.Version(),
		load:      firstLine("/proc/loadavg"),
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				e.cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	if n, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.kernel = strings.TrimSpace(string(n))
	}
	// The host's cpu count, not this pinned process's.
	if out, err := exec.Command("nproc", "--all").Output(); err == nil {
		fmt.Sscan(string(out), &e.cpus)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil && d.Replace.Version != "" {
				v = d.Replace.Version
			}
			switch d.Path {
			case "google.golang.org/grpc":
				e.grpc = v
			case "github.com/open-policy-agent/opa":
				e.opa = v
			case "github.com/bojand/ghz":
				e.ghz = v
			case "github.com/tsenart/vegeta/v12":
				e.vegeta = v
			}
		}
	}
	if out, err := exec.Command("git", "-C", b.c.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		e.commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", b.c.root, "status", "--porcelain", "--", "server", "rego").Output(); err == nil && len(st) > 0 {
			e.commit += " (+ uncommitted changes in server/ or rego/)"
		}
	}
	e.steal = stealNote()
	return e
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)[0]
}

// stealNote samples /proc/stat for one second and reports the share of
// CPU time the hypervisor took (steal) and that was busy.
func stealNote() string {
	read := func() []uint64 {
		f := strings.Fields(firstLine("/proc/stat"))
		var v []uint64
		for _, s := range f[1:] {
			var n uint64
			fmt.Sscan(s, &n)
			v = append(v, n)
		}
		return v
	}
	a := read()
	time.Sleep(time.Second)
	z := read()
	if len(a) < 8 || len(z) < 8 {
		return "unknown"
	}
	var total uint64
	for i := range 8 {
		total += z[i] - a[i]
	}
	if total == 0 {
		return "unknown"
	}
	idle := z[3] - a[3] + z[4] - a[4]
	return fmt.Sprintf("busy %.0f%%, steal %.1f%% (1 s before the runs)",
		100*float64(total-idle)/float64(total), 100*float64(z[7]-a[7])/float64(total))
}

// kernelShare is the part of the server's CPU time spent in the kernel.
func kernelShare(r *result) string {
	if r.cpu <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", 100*r.sysCPU.Seconds()/r.cpu.Seconds())
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func mb(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }

// summary is one line of progress output.
func (r *result) summary() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %s µs  p99 %s µs  errors %d  server cpu %s µs/decision  generator cpu %.0f%%",
		r.rps(), us(r.pct(0.50)), us(r.pct(0.99)), r.errors, us(r.cpuPerDecision()), r.genLoad())
	if r.firstError != "" {
		s += "  first error: " + r.firstError
	}
	return s
}

var header = []string{"system", "run", "offered/s", "achieved/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "errors", "server CPU µs/decision", "of which kernel %", "peak RSS MB", "generator CPU %"}

func row(r *result) []string {
	offered := "max"
	if r.target > 0 {
		offered = fmt.Sprint(r.target)
	}
	return []string{r.system, r.run, offered, fmt.Sprintf("%.0f", r.rps()),
		us(r.pct(0.50)), us(r.pct(0.90)), us(r.pct(0.99)), us(r.pct(0.999)),
		fmt.Sprint(r.errors), us(r.cpuPerDecision()), kernelShare(r), mb(r.rss), fmt.Sprintf("%.0f", r.genLoad())}
}

func (b *bench) rows() [][]string {
	var out [][]string
	for _, s := range b.systems {
		out = append(out, row(s.max))
		for _, r := range s.runs {
			out = append(out, row(r))
		}
	}
	if b.floor != nil {
		out = append(out, row(b.floor))
	}
	return out
}

// table is the plain-text results table printed at the end.
func (b *bench) table() string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	write := func(cells []string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	write(header)
	for _, r := range b.rows() {
		write(r)
	}
	if len(b.scaling) > 0 {
		write(nil)
		write(header)
		for _, r := range b.scaling {
			write(row(r))
		}
	}
	tw.Flush()
	return sb.String()
}

func mdTable(sb *strings.Builder, rows [][]string) {
	sb.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		sb.WriteString("---|")
	}
	sb.WriteString("\n")
	for _, r := range rows {
		sb.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

func (b *bench) find(sys string) *systemResult {
	for _, s := range b.systems {
		if s.name == sys {
			return s
		}
	}
	return nil
}

// ratios are pdp's maximum throughput over the no-op server's and OPA's,
// and pdp's p99 at 50% of its maximum.
func (b *bench) ratios() (noop, opa float64, p99 time.Duration) {
	pdp, n, o := b.find("pdp"), b.find("noop"), b.find("opa")
	if pdp == nil || n == nil || o == nil {
		return 0, 0, 0
	}
	return pdp.max.rps() / n.max.rps(), pdp.max.rps() / o.max.rps(), pdp.runs[1].pct(0.99)
}

// lineFigures are the figures of the line the command ends with; a phase
// that did not run leaves its figures 0.
type lineFigures struct {
	pdpNoop, pdpOPA      float64       // maximum throughput ratios
	p99                  time.Duration // pdp's p99 at 50% of its maximum
	pdpCPU, noopCPU      time.Duration // server CPU per decision, closed-loop runs
	inprocP50, inprocP99 time.Duration // in-process, per decision over the workload
	load, reload         time.Duration // ScaleTenants × 3 environments; one tenant changed
}

func (b *bench) lineFigures() lineFigures {
	var f lineFigures
	f.pdpNoop, f.pdpOPA, f.p99 = b.ratios()
	if s := b.find("pdp"); s != nil {
		f.pdpCPU = s.max.cpuPerDecision()
	}
	if s := b.find("noop"); s != nil {
		f.noopCPU = s.max.cpuPerDecision()
	}
	if r := b.inproc; r != nil {
		f.inprocP50, f.inprocP99 = r.p50, r.p99
	}
	if r := b.tenants; r != nil {
		f.load, f.reload = r.load, r.reload
	}
	return f
}

// String is the line: bench/README.md says what each field means.
func (f lineFigures) String() string {
	return fmt.Sprintf("bench: pdp/noop=%.2f pdp/opa=%.2f p99_us=%s pdp_cpu_us=%s noop_cpu_us=%s inproc_p50_us=%s inproc_p99_us=%s load_1000_ms=%s reload_one_ms=%s",
		f.pdpNoop, f.pdpOPA, us(f.p99), us(f.pdpCPU), us(f.noopCPU), us(f.inprocP50), us(f.inprocP99), ms(f.load), ms(f.reload))
}

// benchLine is the one-line summary the command ends with.
func (b *bench) benchLine() string { return b.lineFigures().String() }

// markdown is bench/results/latest.md.
func (b *bench) markdown() string {
	var sb strings.Builder
	e := b.env
	fmt.Fprintf(&sb, "# pdpbench results\n\n`%s`\n\n", b.benchLine())
	fmt.Fprintf(&sb, "## Environment\n\n")
	fmt.Fprintf(&sb, "- date: %s; total run time %s\n", e.date, e.elapsed.Round(time.Second))
	fmt.Fprintf(&sb, "- CPU: %s, %d cpus; kernel %s\n", e.cpu, e.cpus, e.kernel)
	fmt.Fprintf(&sb, "- load average before the runs: %s; %s\n", e.load, e.steal)
	fmt.Fprintf(&sb, "- %s; grpc-go %s; OPA %s; ghz %s; vegeta %s\n", e.goVersion, e.grpc, e.opa, e.ghz, e.vegeta)
	fmt.Fprintf(&sb, "- pdp commit %s\n", e.commit)
	fmt.Fprintf(&sb, "- pinning: %s\n", b.pinNote)
	fmt.Fprintf(&sb, "- %d distinct requests rotated; concurrency %d for every system; closed-loop max %s, fixed-rate runs %s each\n\n",
		len(b.w.reqs), b.c.conc, b.c.maxDur, b.c.rateDur)
	fmt.Fprintf(&sb, "Outcomes over the request set:\n\n")
	for _, s := range []string{"noop", "pdp", "opa"} {
		fmt.Fprintf(&sb, "- %s: %s\n", s, b.mixes[s])
	}
	fmt.Fprintf(&sb, "\n## Side by side\n\n")
	mdTable(&sb, b.rows())
	if len(b.cpuShares) > 0 {
		fmt.Fprintf(&sb, "\n## Where pdp's CPU goes\n\n"+
			"pdp's CPU profile over its closed-loop run (`--pprof-addr`), each sample counted where the first frame from the leaf up falls "+
			"(allocation and GC assists count for the code that allocated, OPA's AST package for its caller); µs per decision at the run's %s µs of server CPU per decision.\n\n",
			us(b.find("pdp").max.cpuPerDecision()))
		sb.WriteString(cpuShareTable(b.cpuShares, b.find("pdp").max.cpuPerDecision()))
	}
	if r := b.inproc; r != nil {
		fmt.Fprintf(&sb, "\n## In-process evaluation\n\n"+
			"pdp's engine called directly (`engine.Decide`: input building, evaluation of the tenant environment's specialised residual, the decision's assembly), "+
			"in this process on the generator's core, over the same requests with the IP signals pdp computes and a known user's profile signals; "+
			"%d passes after one unmeasured pass and the background specialisation it starts, GC tuned as `pdp serve` tunes it.\n\n", inProcPasses)
		fmt.Fprintf(&sb, "| decisions | p50 µs | p90 µs | p99 µs | CPU µs/decision | allocs/decision |\n|---|---|---|---|---|---|\n")
		fmt.Fprintf(&sb, "| %d | %s | %s | %s | %s | %d |\n", r.n, us(r.p50), us(r.p90), us(r.p99), us(r.cpu), r.allocs)
	}
	if r := b.tenants; r != nil {
		fmt.Fprintf(&sb, "\n## Tenant scale\n\n"+
			"%d copies of the demo tenant acme cut to three environments (production, staging, development), with the demo policies, "+
			"loaded into a new engine through pdp's loader as `pdp serve` loads them at start; then one tenant's file replaced, "+
			"timed until the watcher has loaded the new set (no debounce). In this process, on the generator's core, GC tuned as `pdp serve` tunes it.\n\n", r.tenants)
		fmt.Fprintf(&sb, "| tenants × environments | load ms | one tenant's reload ms |\n|---|---|---|\n")
		fmt.Fprintf(&sb, "| %d × 3 | %s | %s |\n", r.tenants, ms(r.load), ms(r.reload))
	}
	n, o, p := b.ratios()
	f := b.lineFigures()
	fmt.Fprintf(&sb, "\n## Targets\n\n| target | result | met |\n|---|---|---|\n")
	fmt.Fprintf(&sb, "| pdp throughput ≥ 0.3 × no-op | %.2f × | %s |\n", n, yes(n >= 0.3))
	fmt.Fprintf(&sb, "| pdp throughput ≥ 5 × OPA REST | %.2f × | %s |\n", o, yes(o >= 5))
	floor := ""
	if b.floor != nil {
		floor = fmt.Sprintf(" (the no-op server at the same rate: %s µs)", us(b.floor.pct(0.99)))
	}
	fmt.Fprintf(&sb, "| pdp p99 at 50%% of max ≤ 2 ms | %s µs%s | %s |\n", us(p), floor, yes(p <= 2*time.Millisecond))
	if r := b.inproc; r != nil {
		fmt.Fprintf(&sb, "| in-process evaluation ≤ 40 µs median | %s µs | %s |\n", us(r.p50), yes(r.p50 <= 40*time.Microsecond))
		fmt.Fprintf(&sb, "| in-process evaluation ≤ 300 µs p99 | %s µs | %s |\n", us(r.p99), yes(r.p99 <= 300*time.Microsecond))
		fmt.Fprintf(&sb, "| in-process ≤ 300 allocations per decision | %d | %s |\n", r.allocs, yes(r.allocs <= 300))
	}
	if f.pdpCPU > 0 && f.noopCPU > 0 {
		fmt.Fprintf(&sb, "| pdp server CPU per decision ≤ 4 × no-op's | %s µs, %.1f × the no-op's %s µs | %s |\n",
			us(f.pdpCPU), float64(f.pdpCPU)/float64(f.noopCPU), us(f.noopCPU), yes(f.pdpCPU <= 4*f.noopCPU))
	}
	if r := b.tenants; r != nil {
		fmt.Fprintf(&sb, "| %d tenants × 3 environments load ≤ 10 s | %s ms | %s |\n", r.tenants, ms(r.load), yes(r.load <= 10*time.Second))
		fmt.Fprintf(&sb, "| one tenant's reload ≤ 100 ms | %s ms | %s |\n", ms(r.reload), yes(r.reload <= 100*time.Millisecond))
	}
	if len(b.scaling) > 0 {
		b.scalingTargets(&sb)
		fmt.Fprintf(&sb, "\n## Scaling (pdp)\n\n%s\n\n", b.scalingNote())
		var rows [][]string
		for _, r := range b.scaling {
			rows = append(rows, row(r))
		}
		mdTable(&sb, rows)
	}
	return sb.String()
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
