package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parse(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Parse(args, func(k string) string { return env[k] }, fs)
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
}

func TestParseFlagsWinOverEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := parse(t,
		[]string{"--grpc-addr", "127.0.0.1:7000", "--policy-dir", dir, "--policy-dir", dir},
		map[string]string{
			"PDP_GRPC_ADDR":     "127.0.0.1:7001",
			"PDP_HTTP_ADDR":     "127.0.0.1:7002",
			"PDP_CHECK_TIMEOUT": "750ms",
			"PDP_POLICY_DIR":    "/ignored",
		})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != "127.0.0.1:7000" || c.HTTPAddr != "127.0.0.1:7002" || c.CheckTimeout != 750*time.Millisecond {
		t.Fatalf("got %+v", c)
	}
	if len(c.PolicyDirs) != 2 {
		t.Fatalf("policy dirs %v, want the two flags only", c.PolicyDirs)
	}
}

func TestParseEnvironmentPolicyDirsAreCommaSeparated(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	c, err := parse(t, nil, map[string]string{"PDP_POLICY_DIR": a + ", " + b})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{a, b}, c.PolicyDirs); diff != "" {
		t.Fatal(diff)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Default()
	c.GRPCAddr = "nohost"
	c.HTTPAddr = "example.com:80"
	c.Store = "bogus:"
	c.PolicyDirs = []string{"/does/not/exist"}
	c.CheckTimeout = 0
	c.LogLevel = "loud"
	c.LogFormat = "xml"
	c.MaxRequestBytes = 10
	err := c.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"--grpc-addr", "--http-addr", "--store", "--policy-dir", "--check-timeout", "--log-level", "--log-format", "--max-request-bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestParseRejectsBadEnvironmentValue(t *testing.T) {
	t.Parallel()
	_, err := parse(t, nil, map[string]string{"PDP_CHECK_TIMEOUT": "soon"})
	if err == nil || !strings.Contains(err.Error(), "PDP_CHECK_TIMEOUT") {
		t.Fatalf("got %v, want an error naming PDP_CHECK_TIMEOUT", err)
	}
}
