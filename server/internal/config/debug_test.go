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
