package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuditCheckpointSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "checkpoint.key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "checkpoints.jws")
	c, err := parse(t, nil, nil)
	if err != nil || c.AuditCheckpoints != "" || c.AuditCheckpointInterval != DefaultAuditCheckpointInterval {
		t.Fatalf("defaults: %+v, %v", c.Audit, err)
	}
	c, err = parse(t, []string{"--audit-checkpoint-key", key, "--audit-checkpoints", dest},
		map[string]string{"PDP_AUDIT_CHECKPOINT_INTERVAL": "0s"})
	if err != nil || c.AuditCheckpointKey != key || c.AuditCheckpoints != dest || c.AuditCheckpointInterval != 0 {
		t.Fatalf("set: %+v, %v", c.Audit, err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no key", []string{"--audit-checkpoints", dest}, "--audit-checkpoints needs --audit-checkpoint-key"},
		{"no file", []string{"--audit-checkpoint-key", key}, "--audit-checkpoint-key needs --audit-checkpoints"},
		{"missing key", []string{"--audit-checkpoint-key", filepath.Join(dir, "nope"), "--audit-checkpoints", dest}, "no such file"},
		{"missing directory", []string{"--audit-checkpoint-key", key, "--audit-checkpoints", filepath.Join(dir, "no", "cp")}, "does not exist"},
		{"a directory", []string{"--audit-checkpoint-key", key, "--audit-checkpoints", dir}, "not a regular file"},
		{"memory store", []string{"--store", "memory:", "--audit-checkpoint-key", key, "--audit-checkpoints", dest}, "nothing to anchor"},
		{"negative interval", []string{"--audit-checkpoint-interval", "-1s"}, "--audit-checkpoint-interval -1s: must be between 0 and 1h"},
		{"long interval", []string{"--audit-checkpoint-interval", (2 * time.Hour).String()}, "must be between 0 and 1h"},
	}
	for _, tt := range tests {
		if _, err := parse(t, tt.args, nil); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}
