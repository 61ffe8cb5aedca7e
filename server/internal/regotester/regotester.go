// Package regotester runs Rego unit tests (test_* rules, usually in
// *_test.rego files) the way `opa test` does, for `pdp test DIR` and for Go
// tests of the built-in library. It prints OPA's report, optionally
// measures coverage, and returns counts a command can turn into an exit
// code.
//
// Built-in function errors (a malformed CIDR, a bad sprintf argument) make
// a test error, as they make a decision fail in the engine, unless
// Options.LenientBuiltinErrors is set.
//
// It is production code, the runner behind a command, not a helper for Go
// tests (the *test packages of this repository); its name follows OPA's own
// tester package.
package regotester

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/pdp-dev/pdp/server/internal/engine"
)

// DefaultTimeout bounds each test when Options.Timeout is zero, as in
// `opa test`.
const DefaultTimeout = 5 * time.Second

// Options configure Run. The zero value runs the tests quietly.
type Options struct {
	// FS, when set, is the file system Run reads the paths from; nil reads
	// the disk.
	FS fs.FS
	// Library holds policy modules compiled with the tested ones, such as
	// the built-in library (pdp.Policies) so that authors' tests can query
	// data.pdp.decision. Its *_test.rego files are not run, its modules
	// count not toward coverage, and a module whose source equals a tested
	// one is skipped. Nil adds nothing.
	Library fs.FS
	// Output receives the report as `opa test` prints it; nil discards it.
	Output io.Writer
	// Verbose lists every test, not only failures, with the evaluation
	// trace of each failure (unless coverage is on) and per-file coverage.
	Verbose bool
	// Coverage measures which lines of the tested modules (tests excluded)
	// ran.
	Coverage bool
	// Threshold is the minimum coverage in percent; above zero it implies
	// Coverage.
	Threshold float64
	// Run keeps only the tests whose name matches this regular expression.
	Run string
	// Timeout bounds each test; zero means DefaultTimeout.
	Timeout time.Duration
	// LenientBuiltinErrors makes built-in function errors leave their
	// expression undefined instead of making the test error.
	LenientBuiltinErrors bool
}

// Result counts the outcomes of a run.
type Result struct {
	// Passed, Failed, Errored and Skipped count tests (or, for
	// parameterised tests, their leaf cases).
	Passed, Failed, Errored, Skipped int
	// Coverage is the percentage of covered lines of the tested modules;
	// meaningful only when Covered is true.
	Coverage float64
	// Covered tells whether coverage was measured.
	Covered bool
	// Threshold is the coverage the run had to reach, in percent.
	Threshold float64
}

// Total is the number of tests run or skipped.
func (r *Result) Total() int { return r.Passed + r.Failed + r.Errored + r.Skipped }

// Err returns nil when every test passed (skipped ones aside) and coverage
// reached the threshold, else an error saying what went wrong.
func (r *Result) Err() error {
	var errs []error
	if r.Failed > 0 || r.Errored > 0 {
		errs = append(errs, fmt.Errorf("%d of %d tests failed, %d errored", r.Failed, r.Total(), r.Errored))
	}
	if r.Covered && r.Coverage < r.Threshold {
		errs = append(errs, fmt.Errorf("coverage %.2f%% is below the threshold %.2f%%", r.Coverage, r.Threshold))
	}
	return errors.Join(errs...)
}

// Run loads the Rego and data files under paths (files or directories; "."
// of FS when FS is set and no path is given), runs their tests and writes
// the report to opts.Output. The error is for what prevented running at
// all, such as a module that does not compile (its text names file and
// line); failed tests are counted in the Result.
func Run(ctx context.Context, opts Options, paths ...string) (*Result, error) {
	if len(paths) == 0 {
		if opts.FS == nil {
			return nil, errors.New("regotester: no path to test")
		}
		paths = []string{"."}
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	coverage := opts.Coverage || opts.Threshold > 0

	loaded, err := loader.NewFileLoader().
		WithFS(opts.FS).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		Filtered(paths, nil)
	if err != nil {
		return nil, err
	}
	tested := loaded.ParsedModules()
	modules, err := withLibrary(tested, loaded, opts.Library)
	if err != nil {
		return nil, err
	}

	if err := checkShapes(modules); err != nil {
		return nil, err
	}

	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		SetStore(inmem.NewFromObjectWithOpts(loaded.Documents, inmem.OptRoundTripOnWrite(false))).
		SetModules(modules).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(!opts.LenientBuiltinErrors).
		StackTraces(true).
		EnableTracing(opts.Verbose && !coverage).
		SetTimeout(cmp.Or(opts.Timeout, DefaultTimeout)).
		Filter(opts.Run)
	var cov *cover.Cover
	if coverage {
		cov = cover.New()
		runner.SetCoverageQueryTracer(cov)
	}
	results, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, err
	}

	res := &Result{Threshold: opts.Threshold}
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for tr := range results {
			res.count(tr)
			counted <- tr
		}
	}()
	reporter := tester.PrettyReporter{Output: out, Verbose: opts.Verbose}
	if err := reporter.Report(counted); err != nil {
		return nil, err
	}

	if cov != nil {
		res.Covered = true
		report := coverageOf(cov, tested)
		res.Coverage = report.Coverage
		printCoverage(out, report, opts.Verbose, opts.Threshold)
	}
	return res, nil
}

// count adds one test result, counting the leaves of parameterised tests
// the way OPA's report does.
func (r *Result) count(tr *tester.Result) {
	switch {
	case tr.Skip:
		r.Skipped++
	case tr.Error != nil:
		r.Errored++
	case len(tr.SubResults) > 0:
		for _, sr := range tr.SubResults.Iter {
			if len(sr.SubResults) > 0 {
				continue
			}
			if sr.Fail {
				r.Failed++
			} else {
				r.Passed++
			}
		}
	case tr.Fail:
		r.Failed++
	default:
		r.Passed++
	}
}

// checkShapes refuses modules that add to the sets the decision combines
// values the server cannot read, as the server refuses them at load
// (engine.CheckShapes), before any test runs. A set that does not compile
// is left to the test runner, which reports it with the failing lines.
func checkShapes(modules map[string]*ast.Module) error {
	c := ast.NewCompiler()
	if c.Compile(modules); c.Failed() {
		return nil
	}
	return engine.CheckShapes(c, func(file string) bool {
		_, tested := modules[file]
		return tested && !strings.HasPrefix(file, "library:") && !strings.HasSuffix(file, "_test.rego")
	})
}

// withLibrary adds the library's policy modules to the tested ones.
func withLibrary(tested map[string]*ast.Module, loaded *loader.Result, lib fs.FS) (map[string]*ast.Module, error) {
	if lib == nil {
		return tested, nil
	}
	sources, err := engine.LibraryModules(lib)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(loaded.Modules))
	for _, f := range loaded.Modules {
		seen[string(f.Raw)] = true
	}
	modules := maps.Clone(tested)
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		if seen[sources[name]] {
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, sources[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		modules["library:"+name] = m
	}
	return modules, errors.Join(errs...)
}

// coverageOf reports on the tested modules but their tests: the library and
// the test files, though traced, are left out of the files and the total.
func coverageOf(cov *cover.Cover, tested map[string]*ast.Module) cover.Report {
	modules := make(map[string]*ast.Module, len(tested))
	for name, m := range tested {
		if !strings.HasSuffix(name, "_test.rego") {
			modules[name] = m
		}
	}
	report := cov.Report(modules)
	report.CoveredLines, report.NotCoveredLines, report.Coverage = 0, 0, 0
	for name, fr := range report.Files {
		if _, ok := modules[name]; !ok {
			delete(report.Files, name)
			continue
		}
		report.CoveredLines += fr.CoveredLines
		report.NotCoveredLines += fr.NotCoveredLines
	}
	if total := report.CoveredLines + report.NotCoveredLines; total > 0 {
		report.Coverage = 100 * float64(report.CoveredLines) / float64(total)
	}
	return report
}

// printCoverage writes the overall percentage and, when verbose, each file
// with its uncovered lines.
func printCoverage(w io.Writer, report cover.Report, verbose bool, threshold float64) {
	if verbose {
		for _, name := range slices.Sorted(maps.Keys(report.Files)) {
			fr := report.Files[name]
			if fr.CoveredLines+fr.NotCoveredLines == 0 {
				continue
			}
			fmt.Fprintf(w, "%s: %.2f%%", name, fr.Coverage)
			if len(fr.NotCovered) > 0 {
				fmt.Fprintf(w, " (not covered: %s)", lineRanges(fr.NotCovered))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "Coverage: %.2f%%", report.Coverage)
	if threshold > 0 {
		fmt.Fprintf(w, " (threshold %.2f%%)", threshold)
	}
	fmt.Fprintln(w)
}

// lineRanges renders ranges as "12, 15-18", merging overlapping and
// adjacent lines.
func lineRanges(ranges []cover.Range) string {
	type span struct{ from, to int }
	spans := make([]span, len(ranges))
	for i, r := range ranges {
		spans[i] = span{r.Start.Row, r.End.Row}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var parts []string
	for i := 0; i < len(spans); {
		cur := spans[i]
		for i++; i < len(spans) && spans[i].from <= cur.to+1; i++ {
			cur.to = max(cur.to, spans[i].to)
		}
		if cur.from == cur.to {
			parts = append(parts, fmt.Sprint(cur.from))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cur.from, cur.to))
		}
	}
	return strings.Join(parts, ", ")
}
