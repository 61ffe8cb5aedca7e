package config

import (
	"flag"
	"os"
	"path/filepath"
	"time"
)

// DefaultAuditCheckpointInterval is the least time between two audit
// checkpoints.
const DefaultAuditCheckpointInterval = time.Second

// maxAuditCheckpointInterval bounds how long changes may wait unanchored.
const maxAuditCheckpointInterval = time.Hour

// Audit anchors the audit chain outside the store (package
// audit/checkpoint).
type Audit struct {
	// AuditCheckpointKey is a PEM Ed25519 private key (pdp audit keygen
	// creates one) that signs checkpoints of the chain's head
	// (--audit-checkpoint-key, PDP_AUDIT_CHECKPOINT_KEY).
	AuditCheckpointKey string
	// AuditCheckpoints is the file the checkpoints are appended to, one
	// compact JWS per line, created with mode 0600
	// (--audit-checkpoints, PDP_AUDIT_CHECKPOINTS).
	AuditCheckpoints string
	// AuditCheckpointInterval is the least time between two checkpoints;
	// changes within it share the next one. 0 checkpoints after every
	// change (--audit-checkpoint-interval, PDP_AUDIT_CHECKPOINT_INTERVAL).
	AuditCheckpointInterval time.Duration
}

func (c *Config) registerAudit(fs *flag.FlagSet) {
	fs.StringVar(&c.AuditCheckpointKey, "audit-checkpoint-key", c.AuditCheckpointKey, "PEM Ed25519 private key signing audit checkpoints (pdp audit keygen)")
	fs.StringVar(&c.AuditCheckpoints, "audit-checkpoints", c.AuditCheckpoints, "file the signed audit checkpoints are appended to (mode 0600; keep it off the store's disk)")
	fs.DurationVar(&c.AuditCheckpointInterval, "audit-checkpoint-interval", c.AuditCheckpointInterval, "least time between two audit checkpoints (0: after every change)")
}

func (c Config) checkAudit(bad func(string, ...any)) {
	key, dest := c.AuditCheckpointKey, c.AuditCheckpoints
	switch {
	case key == "" && dest == "":
	case key == "":
		bad("--audit-checkpoints needs --audit-checkpoint-key: checkpoints are signed")
	case dest == "":
		bad("--audit-checkpoint-key needs --audit-checkpoints: the file the checkpoints go to")
	}
	if key != "" {
		if st, err := os.Stat(key); err != nil {
			bad("--audit-checkpoint-key %s: %v", key, err)
		} else if !st.Mode().IsRegular() {
			bad("--audit-checkpoint-key %s: not a regular file", key)
		}
	}
	if dest != "" {
		if st, err := os.Stat(dest); err == nil && !st.Mode().IsRegular() {
			bad("--audit-checkpoints %s: not a regular file", dest)
		}
		if st, err := os.Stat(filepath.Dir(dest)); err != nil || !st.IsDir() {
			bad("--audit-checkpoints %s: directory %s does not exist", dest, filepath.Dir(dest))
		}
		if spec, err := ParseStore(c.Store); err == nil && spec.Kind == StoreMemory {
			bad(`--audit-checkpoints: a "memory:" store's audit log ends with the process; there is nothing to anchor`)
		}
	}
	if c.AuditCheckpointInterval < 0 || c.AuditCheckpointInterval > maxAuditCheckpointInterval {
		bad("--audit-checkpoint-interval %s: must be between 0 and 1h", c.AuditCheckpointInterval)
	}
}
