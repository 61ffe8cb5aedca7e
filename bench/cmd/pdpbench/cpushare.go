package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// cpuCategories name where a CPU sample is spent, by the first frame from
// the leaf up that matches one of the prefixes, in this order of the
// frames (allocation and GC assists count for the code that allocated).
var cpuCategories = []struct {
	name     string
	prefixes []string
}{
	{"Rego evaluation (OPA topdown)", []string{"github.com/open-policy-agent/opa/"}},
	{"stack growth (runtime.newstack)", []string{"runtime.newstack", "runtime.copystack"}},
	{"telemetry (OpenTelemetry, Prometheus)", []string{"go.opentelemetry.io/", "github.com/prometheus/"}},
	{"call logging (go-grpc-middleware, slog)", []string{"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging", "log/slog"}},
	{pdpCategory, []string{"github.com/pdp-dev/pdp/", "go.etcd.io/bbolt"}},
	{"gRPC, HTTP/2, protobuf, network", []string{"google.golang.org/grpc", "golang.org/x/net/http2", "google.golang.org/protobuf", "net.", "internal/poll", "syscall."}},
	{"garbage collection (background)", []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"}},
}

// neutralPrefixes never decide a sample's category: OPA's AST is what
// topdown evaluates and also what pdp builds the input from and reads the
// decision with, so such a frame counts for its caller.
var neutralPrefixes = []string{"github.com/open-policy-agent/opa/v1/ast."}

// compiledRoot is the compiled residual's evaluation (engine's
// compiled.go): a sample under it that counts for pdp or for OPA (its
// built-ins) counts for compiledCategory.
const (
	compiledRoot     = "github.com/pdp-dev/pdp/server/internal/engine.(*program).eval"
	compiledCategory = "Rego evaluation (compiled residual)"
)

// otherCategory holds samples no category matches: the scheduler, timers,
// the rest of the runtime.
const otherCategory = "scheduler and other runtime"

// cpuShare is the share of a CPU profile's samples per category, largest
// first.
type cpuShare struct {
	name  string
	share float64
}

// readCPUShares reads a CPU profile and splits its samples by category.
func readCPUShares(path string) ([]cpuShare, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, err
	}
	idx := len(p.SampleType) - 1 // cpu nanoseconds
	totals := map[string]int64{}
	var all int64
	for _, s := range p.Sample {
		v := s.Value[idx]
		totals[categoryOf(s)] += v
		all += v
	}
	if all == 0 {
		return nil, fmt.Errorf("%s: no samples", path)
	}
	out := make([]cpuShare, 0, len(totals))
	for name, v := range totals {
		out = append(out, cpuShare{name, float64(v) / float64(all)})
	}
	slices.SortFunc(out, func(a, b cpuShare) int {
		switch {
		case a.share > b.share:
			return -1
		case a.share < b.share:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

func categoryOf(s *profile.Sample) string {
	c := leafCategory(s)
	if (c == cpuCategories[0].name || c == pdpCategory) && under(s, compiledRoot) {
		return compiledCategory
	}
	return c
}

// pdpCategory is pdp's own code.
const pdpCategory = "pdp: mapping, signals, store, input, guards"

// under reports whether a frame of s is fn.
func under(s *profile.Sample, fn string) bool {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil && line.Function.Name == fn {
				return true
			}
		}
	}
	return false
}

// leafCategory is the category of the first frame from the leaf up that
// names one.
func leafCategory(s *profile.Sample) string {
	for _, loc := range s.Location { // leaf first
		for _, line := range loc.Line { // inlined frames: innermost first, the caller last
			fn := line.Function
			if fn == nil || hasAnyPrefix(fn.Name, neutralPrefixes) {
				continue
			}
			for _, c := range cpuCategories {
				if hasAnyPrefix(fn.Name, c.prefixes) {
					return c.name
				}
			}
		}
	}
	return otherCategory
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// cpuShareTable renders the shares with the CPU time per decision each
// stands for.
func cpuShareTable(shares []cpuShare, perDecision time.Duration) string {
	var sb strings.Builder
	sb.WriteString("| where | share of pdp's CPU | µs per decision |\n|---|---|---|\n")
	for _, s := range shares {
		fmt.Fprintf(&sb, "| %s | %.1f%% | %.0f |\n", s.name, 100*s.share, s.share*float64(perDecision)/float64(time.Microsecond))
	}
	return sb.String()
}
