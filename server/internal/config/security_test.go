package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSecurityDefaults(t *testing.T) {
	t.Parallel()
	c := Default()
	if !c.MetricsPublic || c.DecisionLogMode != "drop" || c.DecisionLogBuffer != DefaultDecisionLogBuffer ||
		c.APIKeysFile != "" || c.InsecureNoAuth || c.TLSEnabled() {
		t.Fatalf("security defaults: %+v", c.Security)
	}
}

func TestLoopbackRule(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"loopback v4", []string{"--grpc-addr", "127.0.0.1:9191", "--http-addr", "127.0.0.2:8181"}, nil},
		{"loopback v6 and localhost", []string{"--grpc-addr", "[::1]:9191", "--http-addr", "localhost:8181"}, nil},
		{"all interfaces", []string{"--grpc-addr", "0.0.0.0:9191"},
			[]string{"--grpc-addr 0.0.0.0:9191: without --api-keys the server listens on loopback only", "--insecure-no-auth"}},
		{"empty host", []string{"--http-addr", ":8181"}, []string{"--http-addr :8181: without --api-keys"}},
		{"public address", []string{"--grpc-addr", "192.0.2.10:9191", "--http-addr", "[2001:db8::1]:8181"},
			[]string{"--grpc-addr 192.0.2.10:9191", "--http-addr [2001:db8::1]:8181"}},
		{"insecure", []string{"--grpc-addr", "0.0.0.0:9191", "--http-addr", "0.0.0.0:8181", "--insecure-no-auth"}, nil},
		{"keys", []string{"--grpc-addr", "0.0.0.0:9191", "--http-addr", "0.0.0.0:8181", "--api-keys", keys}, nil},
		{"keys and insecure", []string{"--api-keys", keys, "--insecure-no-auth"}, []string{"exclude each other"}},
		{"missing key file", []string{"--api-keys", keys + ".missing"}, []string{"--api-keys " + keys + ".missing"}},
	}
	for _, tt := range tests {
		_, err := parse(t, tt.args, nil)
		if len(tt.wantErr) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, want := range tt.wantErr {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", tt.name, want, err)
			}
		}
	}
}

func TestTLSFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key, ca := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "ca.pem")
	for _, f := range []string{cert, key, ca} {
		if err := os.WriteFile(f, []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := parse(t, []string{"--tls-cert", cert, "--tls-key", key, "--client-ca", ca}, nil)
	if err != nil || !c.TLSEnabled() || c.ClientCA != ca {
		t.Fatalf("full TLS: %+v, %v", c.Security, err)
	}
	for args, want := range map[string]string{
		"--tls-cert " + cert:                        "--tls-cert needs --tls-key",
		"--tls-key " + key:                          "--tls-key needs --tls-cert",
		"--client-ca " + ca:                         "--client-ca needs --tls-cert",
		"--tls-cert " + dir + " --tls-key " + key:   "not a regular file",
		"--tls-cert " + cert + " --tls-key " + "/x": "--tls-key /x",
	} {
		if _, err := parse(t, strings.Fields(args), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", args, err, want)
		}
	}
}

func TestDecisionLogFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := parse(t,
		[]string{"--decision-log", filepath.Join(dir, "d.log"), "--decision-log-mask", "subject.email", "--decision-log-mask", "network.ip=truncate"},
		map[string]string{"PDP_DECISION_LOG_MODE": "block", "PDP_DECISION_LOG_BUFFER": "16", "PDP_METRICS_PUBLIC": "false"})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSecurity()
	want.DecisionLog = filepath.Join(dir, "d.log")
	want.DecisionLogMask = []string{"subject.email", "network.ip=truncate"}
	want.DecisionLogMode = "block"
	want.DecisionLogBuffer = 16
	want.MetricsPublic = false
	if diff := cmp.Diff(want, c.Security); diff != "" {
		t.Fatalf("security (-want +got):\n%s", diff)
	}
	c, err = parse(t, []string{"--decision-log", "stdout"}, map[string]string{"PDP_DECISION_LOG_MASK": "subject.id, subject.email=redact"})
	if err != nil || !cmp.Equal(c.DecisionLogMask, []string{"subject.id", "subject.email=redact"}) {
		t.Fatalf("masks from the environment: %v, %v", c.DecisionLogMask, err)
	}
	_, err = parse(t, []string{
		"--decision-log", filepath.Join(dir, "missing", "d.log"), "--decision-log-mask", "subject.name",
		"--decision-log-mode", "maybe", "--decision-log-buffer", "0", "--decision-log-max-size-mb", "0",
		"--decision-log-max-backups", "-1", "--decision-log-max-age-days", "-1",
	}, nil)
	for _, want := range []string{"does not exist", `unknown field "subject.name"`, `--decision-log-mode "maybe"`,
		"--decision-log-buffer 0", "--decision-log-max-size-mb 0", "--decision-log-max-backups -1", "--decision-log-max-age-days -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := parse(t, []string{"--decision-log", dir}, nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory as decision log: %v", err)
	}
}
