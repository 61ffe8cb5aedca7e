package regotester

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	pdp "github.com/pdp-dev/pdp"
)

// BuiltinCoverageThreshold is the least share of rego/ lines its tests must
// cover; `make test` fails below it.
const BuiltinCoverageThreshold = 90

// The built-in library's Rego tests must all pass, built-in errors raised,
// and cover at least BuiltinCoverageThreshold percent of its lines.
func TestBuiltinLibrary(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{FS: pdp.Policies, Output: &out, Verbose: true, Timeout: time.Minute,
		Coverage: true, Threshold: BuiltinCoverageThreshold}, "rego")
	if err != nil {
		t.Fatalf("rego/ does not load: %v", err)
	}
	if err := res.Err(); err != nil || res.Passed == 0 {
		t.Fatalf("rego/ tests: %v (passed %d)\n%s", err, res.Passed, out.String())
	}
	if !res.Covered || res.Coverage < BuiltinCoverageThreshold {
		t.Fatalf("rego/ coverage %.2f%% is below %d%%\n%s", res.Coverage, BuiltinCoverageThreshold, out.String())
	}
	t.Logf("rego/: %d tests passed, coverage %.2f%%", res.Passed, res.Coverage)
}

const module = `package example

allow if input.user == "alice"

deny contains "bob" if input.user == "bob"

level := "high" if input.score > 0.7

else := "low"
`

func suite(tests string) fstest.MapFS {
	return fstest.MapFS{
		"policies/example.rego":      {Data: []byte(module)},
		"policies/example_test.rego": {Data: []byte("package example_test\n\nimport data.example\n\n" + tests)},
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fsys       fstest.MapFS
		opts       Options
		want       Result
		wantErr    bool     // Result.Err() is not nil
		wantOutput []string // substrings of the report
	}{
		{
			name: "passing, verbose",
			fsys: suite("test_alice if example.allow with input as {\"user\": \"alice\"}\n\ntest_bob if \"bob\" in example.deny with input as {\"user\": \"bob\"}\n"),
			opts: Options{Verbose: true},
			want: Result{Passed: 2},
			wantOutput: []string{
				"data.example_test.test_alice: PASS",
				"data.example_test.test_bob: PASS",
				"PASS: 2/2",
			},
		},
		{
			name:       "failing, quiet",
			fsys:       suite("test_alice if example.allow with input as {\"user\": \"alice\"}\n\ntest_wrong if example.allow with input as {\"user\": \"bob\"}\n"),
			want:       Result{Passed: 1, Failed: 1},
			wantErr:    true,
			wantOutput: []string{"policies/example_test.rego:7", "data.example_test.test_wrong: FAIL", "PASS: 1/2", "FAIL: 1/2"},
		},
		{
			name:       "failing, verbose, with trace",
			fsys:       suite("test_wrong if example.allow with input as {\"user\": \"bob\"}\n"),
			opts:       Options{Verbose: true},
			want:       Result{Failed: 1},
			wantErr:    true,
			wantOutput: []string{"FAILURES", "Enter data.example_test.test_wrong"},
		},
		{
			name:       "built-in error",
			fsys:       suite("test_cidr if net.cidr_contains(\"bogus\", \"10.0.0.1\")\n"),
			want:       Result{Errored: 1},
			wantErr:    true,
			wantOutput: []string{"ERROR", "invalid CIDR"},
		},
		{
			name: "built-in error, lenient",
			fsys: suite("test_cidr if not net.cidr_contains(\"bogus\", \"10.0.0.1\")\n"),
			opts: Options{LenientBuiltinErrors: true},
			want: Result{Passed: 1},
		},
		{
			name:       "skipped",
			fsys:       suite("test_alice if example.allow with input as {\"user\": \"alice\"}\n\ntodo_test_later if false\n"),
			want:       Result{Passed: 1, Skipped: 1},
			wantOutput: []string{"SKIPPED: 1/2"},
		},
		{
			name: "filtered",
			fsys: suite("test_alice if example.allow with input as {\"user\": \"alice\"}\n\ntest_wrong if example.allow with input as {\"user\": \"bob\"}\n"),
			opts: Options{Run: "alice"},
			want: Result{Passed: 1},
		},
		{
			name: "coverage of the tested module only",
			fsys: suite("test_alice if example.allow with input as {\"user\": \"alice\"}\n"),
			opts: Options{Coverage: true, Verbose: true},
			// Of the four lines with rules only allow's runs.
			want:       Result{Passed: 1, Covered: true, Coverage: 25},
			wantOutput: []string{"policies/example.rego: 25.00% (not covered: 5, 7, 9)", "Coverage: 25.00%"},
		},
		{
			name:       "coverage below the threshold",
			fsys:       suite("test_alice if example.allow with input as {\"user\": \"alice\"}\n"),
			opts:       Options{Threshold: 50},
			want:       Result{Passed: 1, Covered: true, Coverage: 25, Threshold: 50},
			wantErr:    true,
			wantOutput: []string{"Coverage: 25.00% (threshold 50.00%)"},
		},
		{
			name: "data files are loaded, under their directory",
			fsys: fstest.MapFS{
				"p/data.json":   {Data: []byte(`{"limits": {"max": 3}}`)},
				"p/p_test.rego": {Data: []byte("package p_test\n\ntest_data if data.p.limits.max == 3\n")},
			},
			want: Result{Passed: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			opts := tt.opts
			opts.FS = tt.fsys
			opts.Output = &out
			got, err := Run(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s\n%s", diff, out.String())
			}
			if gotErr := got.Err() != nil; gotErr != tt.wantErr {
				t.Errorf("Err() = %v, want error %v", got.Err(), tt.wantErr)
			}
			for _, want := range tt.wantOutput {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// Authors' tests see the built-in library, but its tests do not run.
func TestRunWithLibrary(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"custom/custom.rego": {Data: []byte(`package pdp.custom

deny contains {"code": "custom.no_exports", "message": "no", "rule": "custom.no_exports"} if {
	data.pdp.action_matches("export.*", input.action.name)
}
`)},
		"custom/custom_test.rego": {Data: []byte(`package pdp.custom_test

import data.pdp

test_exports_denied if {
	d := pdp.decision with input as {
		"tenant": "acme", "environment": "production",
		"subject": {"id": "u", "roles": ["admin"], "tenant": "acme"},
		"action": {"name": "export.csv", "resource": ""},
	}
		with data.tenants as {"acme": {"environments": {"production": {"roles": {"admin": {"actions": ["*"]}}}}}}
	d.decision == "deny"
	"custom.no_exports" in {r.code | some r in d.reasons}
}
`)},
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{FS: fsys, Library: pdp.Policies, Output: &out, Coverage: true}, "custom")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Result{Passed: 1, Covered: true, Coverage: 100}, res); diff != "" {
		t.Errorf("result mismatch (-want +got):\n%s\n%s", diff, out.String())
	}

	// Testing the library itself with the library beside it compiles too:
	// identical modules are not added twice.
	res, err = Run(context.Background(), Options{FS: pdp.Policies, Library: pdp.Policies, Run: "action_matches"}, "rego")
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed == 0 || res.Err() != nil {
		t.Errorf("library tested beside itself: %+v", res)
	}
}

func TestRunCompileError(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"bad/bad.rego": {Data: []byte("package bad\n\nallow if {\n\tx == 1\n}\n")}}
	_, err := Run(context.Background(), Options{FS: fsys})
	if err == nil || !strings.Contains(err.Error(), "bad/bad.rego:4") {
		t.Fatalf("err = %v, want one naming bad/bad.rego:4", err)
	}
	if _, err := Run(context.Background(), Options{}); err == nil {
		t.Error("Run without paths succeeded")
	}
}
