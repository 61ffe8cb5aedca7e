package cli

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"time"

	pdp "github.com/pdp-dev/pdp"
	"github.com/pdp-dev/pdp/server/internal/regotester"
)

// runTest is `pdp test DIR...`: the authors' Rego unit tests, run like `opa
// test` with the built-in library loaded beside them, so that a test can
// query data.pdp.decision (mocking data.tenants with `with`). Exit codes:
// ExitOK when every test passed and coverage reached the threshold,
// ExitError on a failed or erroring test, coverage below the threshold, no
// test run at all or a module that does not compile, ExitUsage for bad
// flags.
func runTest(ctx context.Context, args []string, env Env) int {
	var (
		verbose, coverage bool
		threshold         float64
		run               string
		timeout           time.Duration
	)
	fs := flag.NewFlagSet("pdp test", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.BoolVar(&verbose, "v", false, "list every test, with the trace of each failure and per-file coverage")
	fs.BoolVar(&coverage, "coverage", false, "report the coverage of the tested modules (tests and the built-in library excluded)")
	fs.Float64Var(&threshold, "threshold", 0, "fail when coverage is below this percentage (implies --coverage)")
	fs.StringVar(&run, "run", "", "run only the tests whose name matches this regular expression")
	fs.DurationVar(&timeout, "timeout", regotester.DefaultTimeout, "time limit of each test")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, `usage: pdp test [flags] DIR...

Runs the Rego unit tests (rules named test_*) of the .rego files under each
DIR, as 'opa test' does, with the built-in policy library loaded so that
tests can query data.pdp.decision. JSON and YAML files under DIR are data.

flags:
`)
		fs.PrintDefaults()
	}
	dirs, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	var problems []string
	if len(dirs) == 0 {
		problems = append(problems, "name at least one directory or file to test")
	}
	if threshold < 0 || threshold > 100 {
		problems = append(problems, fmt.Sprintf("--threshold must be between 0 and 100, not %g", threshold))
	}
	if timeout <= 0 {
		problems = append(problems, fmt.Sprintf("--timeout must be positive, not %s", timeout))
	}
	if _, err := regexp.Compile(run); err != nil {
		problems = append(problems, fmt.Sprintf("--run: %v", err))
	}
	if len(problems) > 0 {
		return refuse(env.Stderr, fs, problems, "usage: pdp test [-v] [--coverage] [--threshold N] [--run REGEX] [--timeout D] DIR...")
	}

	res, err := regotester.Run(ctx, regotester.Options{
		Library:   pdp.Policies,
		Output:    env.Stdout,
		Verbose:   verbose,
		Coverage:  coverage,
		Threshold: threshold,
		Run:       run,
		Timeout:   timeout,
	}, dirs...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp test: %v\n", err)
		return ExitError
	}
	if res.Total() == 0 {
		fmt.Fprintln(env.Stderr, "pdp test: no tests were run")
		return ExitError
	}
	if err := res.Err(); err != nil {
		fmt.Fprintf(env.Stderr, "pdp test: %v\n", err)
		return ExitError
	}
	return ExitOK
}
