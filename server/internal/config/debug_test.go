package config

import (
	"strings"
	"testing"
)

func TestPprofAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"off by default", nil, ""},
		{"loopback", []string{"--pprof-addr", "127.0.0.1:6060"}, ""},
		{"localhost", []string{"--pprof-addr", "localhost:6060"}, ""},
		{"all interfaces", []string{"--pprof-addr", ":6060"}, "--pprof-addr :6060: must be a loopback address"},
		{"public", []string{"--pprof-addr", "192.0.2.1:6060", "--insecure-no-auth"}, "--pprof-addr 192.0.2.1:6060: must be a loopback address"},
		{"no port", []string{"--pprof-addr", "127.0.0.1"}, "--pprof-addr:"},
	}
	for _, tt := range tests {
		c, err := parse(t, tt.args, nil)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && len(tt.args) > 0 && c.PprofAddr != tt.args[1]:
			t.Errorf("%s: PprofAddr %q", tt.name, c.PprofAddr)
		}
	}
}

func TestPprofAddrFromEnv(t *testing.T) {
	t.Parallel()
	c, err := parse(t, nil, map[string]string{"PDP_PPROF_ADDR": "127.0.0.1:6061"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PprofAddr != "127.0.0.1:6061" {
		t.Fatalf("PprofAddr %q", c.PprofAddr)
	}
}

func TestRuntimeSettings(t *testing.T) {
	t.Parallel()
	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.GCHeadroomMB != DefaultGCHeadroomMB || c.EvalWorkers != 0 {
		t.Fatalf("defaults: headroom %d, workers %d", c.GCHeadroomMB, c.EvalWorkers)
	}
	c, err = parse(t, []string{"--gc-headroom-mb", "0"}, map[string]string{"PDP_EVAL_WORKERS": "3"})
	if err != nil || c.GCHeadroomMB != 0 || c.EvalWorkers != 3 {
		t.Fatalf("set: %+v, %v", c.Runtime, err)
	}
	_, err = parse(t, []string{"--gc-headroom-mb", "-1", "--eval-workers", "-2"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--gc-headroom-mb -1: must be between") ||
		!strings.Contains(err.Error(), "--eval-workers -2: must be between") {
		t.Fatalf("negative values: %v", err)
	}
}

func TestPolicyHistory(t *testing.T) {
	t.Parallel()
	c, err := parse(t, nil, nil)
	if err != nil || c.PolicyHistory != DefaultPolicyHistory {
		t.Fatalf("default %d, %v; want %d", c.PolicyHistory, err, DefaultPolicyHistory)
	}
	if c, err = parse(t, nil, map[string]string{"PDP_POLICY_HISTORY": "2"}); err != nil || c.PolicyHistory != 2 {
		t.Fatalf("PDP_POLICY_HISTORY=2: %d, %v", c.PolicyHistory, err)
	}
	for _, bad := range []string{"0", "1025"} {
		if _, err := parse(t, []string{"--policy-history", bad}, nil); err == nil || !strings.Contains(err.Error(), "--policy-history "+bad+": must be between 1 and 1024") {
			t.Errorf("--policy-history %s: %v", bad, err)
		}
	}
}
