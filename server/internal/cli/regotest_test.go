package cli

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// geoModule is an author's module: deny exports to one country.
const geoModule = `package pdp.custom

deny contains {"code": "custom.export_blocked_country", "message": "no exports from here", "rule": "custom.export_blocked_country"} if {
	startswith(input.action.name, "export.")
	input.network.country == "XX"
}

allowed_country(c) if c != "XX"
`

// geoPassing tests geoModule, and queries data.pdp.decision to show that
// the built-in library is loaded beside it.
const geoPassing = `package pdp.custom_test

test_export_from_blocked_country_denied if {
	some d in data.pdp.custom.deny with input as {"action": {"name": "export.csv"}, "network": {"country": "XX"}}
	d.code == "custom.export_blocked_country"
}

test_unknown_tenant_denied_by_the_library if {
	d := data.pdp.decision with input as {"tenant": "nobody", "environment": "production"}
		with data.tenants as {}
	d.decision == "deny"
	d.reasons[0].code == "tenant.unknown"
}
`

// geoFailing expects the wrong code.
const geoFailing = `package pdp.custom_test

test_export_from_blocked_country_denied if {
	some d in data.pdp.custom.deny with input as {"action": {"name": "export.csv"}, "network": {"country": "XX"}}
	d.code == "custom.wrong_code"
}

test_other_country_allowed if {
	count(data.pdp.custom.deny) == 0 with input as {"action": {"name": "export.csv"}, "network": {"country": "FR"}}
}
`

func TestTestCommand(t *testing.T) {
	t.Parallel()
	passing := writeFiles(t, map[string]string{"geo.rego": geoModule, "geo_test.rego": geoPassing})
	failing := writeFiles(t, map[string]string{"geo.rego": geoModule, "geo_test.rego": geoFailing})
	broken := writeFiles(t, map[string]string{"geo.rego": "package pdp.custom\n\ndeny contains x if {\n", "geo_test.rego": geoPassing})
	empty := writeFiles(t, map[string]string{"geo.rego": geoModule})

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings of stdout
		stderr   []string // substrings of stderr
		noStdout []string
	}{
		{"passing", []string{"test", passing}, ExitOK, []string{"PASS: 2/2"}, nil, []string{"Coverage"}},
		{"verbose lists every test", []string{"test", "-v", passing}, ExitOK,
			[]string{"data.pdp.custom_test.test_export_from_blocked_country_denied: PASS", "data.pdp.custom_test.test_unknown_tenant_denied_by_the_library: PASS"}, nil, nil},
		{"flags after the directory", []string{"test", passing, "--run", "unknown_tenant", "-v"}, ExitOK,
			[]string{"test_unknown_tenant_denied_by_the_library: PASS", "PASS: 1/1"}, nil, []string{"test_export_from_blocked_country_denied"}},
		// The tests never call allowed_country (line 8 of geo.rego).
		{"coverage", []string{"test", "--coverage", "-v", passing}, ExitOK, []string{"PASS: 2/2", "geo.rego: ", "(not covered: 8)", "Coverage: "}, nil, nil},
		{"coverage below the threshold", []string{"test", "--threshold", "100", passing}, ExitError,
			[]string{"(threshold 100.00%)"}, []string{"pdp test: coverage", "is below the threshold 100.00%"}, nil},
		{"failing", []string{"test", failing}, ExitError,
			[]string{"data.pdp.custom_test.test_export_from_blocked_country_denied: FAIL", "PASS: 1/2", "FAIL: 1/2"},
			[]string{"pdp test: 1 of 2 tests failed, 0 errored"}, nil},
		{"both directories", []string{"test", passing, failing}, ExitError, []string{"FAIL"}, nil, nil},
		{"demo policies", []string{"test", "../../demo/policies", "--threshold", "90"}, ExitOK, []string{"PASS: 10/10", "Coverage: 100.00%"}, nil, nil},
		{"does not compile", []string{"test", broken}, ExitError, nil, []string{"pdp test: ", "geo.rego:"}, nil},
		{"no tests", []string{"test", empty}, ExitError, nil, []string{"no tests were run"}, nil},
		{"run matches nothing", []string{"test", "--run", "nothing_matches", passing}, ExitError, nil, []string{"no tests were run"}, nil},
		{"missing directory", []string{"test", passing + "/missing"}, ExitError, nil, []string{"no such file or directory"}, nil},
		{"no directory", []string{"test", "-v"}, ExitUsage, nil, []string{"name at least one directory"}, nil},
		{"bad threshold", []string{"test", "--threshold", "101", passing}, ExitUsage, nil, []string{"--threshold must be between 0 and 100"}, nil},
		{"bad timeout", []string{"test", "--timeout", "0s", passing}, ExitUsage, nil, []string{"--timeout must be positive"}, nil},
		{"bad regex", []string{"test", "--run", "(", passing}, ExitUsage, nil, []string{"--run: error parsing regexp"}, nil},
		{"unknown flag", []string{"test", "--format", "json", passing}, ExitUsage, nil, []string{"flag provided but not defined: -format"}, nil},
		{"help", []string{"test", "-h"}, ExitOK, nil, []string{"usage: pdp test [flags] DIR...", "-threshold"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runPDP(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.noStdout {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		want    []string
		verbose bool
		run     string
	}{
		{[]string{"a", "-v", "b"}, []string{"a", "b"}, true, ""},
		{[]string{"-v", "a", "--run", "x", "b"}, []string{"a", "b"}, true, "x"},
		{[]string{"a", "--", "-v", "--run"}, []string{"a", "-v", "--run"}, false, ""},
		{[]string{"--run=y"}, nil, false, "y"},
		{nil, nil, false, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		verbose := fs.Bool("v", false, "")
		run := fs.String("run", "", "")
		got, err := parseInterleaved(fs, tt.args)
		if err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" || *verbose != tt.verbose || *run != tt.run {
			t.Errorf("%q: positional (-want +got):\n%s verbose %v run %q", tt.args, diff, *verbose, *run)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterleaved(fs, []string{"a", "-x"}); err == nil {
		t.Error("an unknown flag after a positional argument was accepted")
	}
}

func TestTestCommandRefusesAModuleAddingTheWrongShape(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"bad.rego":      "package pdp.custom\n\ndeny contains \"notanobject\" if input.action.name == \"x\"\n",
		"bad_test.rego": "package pdp.custom_test\n\ntest_nothing if true\n",
	})
	r := runPDP(t, nil, "test", dir)
	if r.code != ExitError || !strings.Contains(r.stderr, "bad.rego:3: data.pdp.custom.deny contains a value of the wrong shape") {
		t.Fatalf("pdp test of a module adding a string to deny: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
