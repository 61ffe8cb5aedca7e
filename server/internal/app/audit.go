package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/checkpoint"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/incident"
)

// checkpointTimeout bounds the start check and the shutdown checkpoint.
const checkpointTimeout = 5 * time.Second

// openCheckpoints starts the signed checkpoints of the audit chain's head
// that --audit-checkpoints asks for, and returns the log the server appends
// through: each append marks a checkpoint due without waiting for it. With
// checkpoints off it returns log itself and a nil checkpointer.
func openCheckpoints(cfg config.Config, o options, log audit.Log) (*checkpoint.Checkpointer, audit.Log, error) {
	if cfg.AuditCheckpoints == "" {
		return nil, log, nil
	}
	head, ok := log.(audit.Header)
	if !ok {
		return nil, nil, fmt.Errorf("--audit-checkpoints: the store's audit log %T keeps no head", log)
	}
	keyFile := cfg.AuditCheckpointKey
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-checkpoint-key: %w", err)
	}
	key, err := checkpoint.ParsePrivateKey(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-checkpoint-key %s: %w", keyFile, err)
	}
	if st, err := os.Stat(keyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		o.logger.Warn("the audit checkpoint key is readable by others; anyone who reads it can forge checkpoints",
			"file", keyFile, "mode", st.Mode().Perm().String())
	}
	signer, err := checkpoint.NewSigner(key)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-checkpoint-key %s: %w", keyFile, err)
	}
	checkLatestCheckpoint(o, log, cfg.AuditCheckpoints, signer)
	dest, err := checkpoint.OpenFile(cfg.AuditCheckpoints)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-checkpoints: %w", err)
	}
	cp, err := checkpoint.New(checkpoint.Options{
		Log: head, Signer: signer, Dest: dest, Interval: cfg.AuditCheckpointInterval,
		Logger: o.logger, Meter: o.meters, Now: o.now,
	})
	if err != nil {
		_ = dest.Close()
		return nil, nil, err
	}
	cp.Start()
	o.logger.Info("audit checkpoints on", "file", cfg.AuditCheckpoints, "key_id", signer.KeyID(),
		"interval", cfg.AuditCheckpointInterval.String())
	return cp, cp.Wrap(log), nil
}

// checkLatestCheckpoint logs an error when the chain no longer holds the
// latest checkpoint this key signed: the store was rewritten, cut or
// restored from an older copy while the server was stopped. The server
// still starts; pdp audit verify --checkpoints tells the whole story.
func checkLatestCheckpoint(o options, log audit.Log, path string, signer *checkpoint.Signer) {
	ks, err := checkpoint.NewKeys(signer.Public())
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	f, err := checkpoint.CheckLatest(ctx, log, path, ks)
	switch {
	case err != nil:
		o.logger.Warn("the latest audit checkpoint could not be checked", "file", path, "error", err.Error())
	case f != nil:
		o.logger.Error("the audit chain does not hold the latest checkpoint: it was rewritten or cut since; run pdp audit verify --checkpoints",
			"file", path, "problem", f.Problem, "seq", f.Checkpoint.Seq, "signed", f.Checkpoint.Time.Format(time.RFC3339),
			"expected", f.Expected, "found", f.Actual)
	}
}

// latestCheckpoint is tenants.Options.LatestCheckpoint: the last
// checkpoint of --audit-checkpoints that this server's key verifies,
// checked against the chain; nil when checkpoints are off.
func (s *state) latestCheckpoint() func(context.Context) (*pdpv1.AuditCheckpoint, error) {
	if s.checkpoints == nil {
		return nil
	}
	path, log := s.checkpointFile, s.store.Audit
	return func(ctx context.Context) (*pdpv1.AuditCheckpoint, error) {
		ks, err := checkpoint.NewKeys(s.checkpoints.Signer().Public())
		if err != nil {
			return nil, err
		}
		l, ok, err := checkpoint.Latest(path, ks)
		if err != nil || !ok {
			return nil, err
		}
		cp := l.Checkpoint
		out := &pdpv1.AuditCheckpoint{Seq: cp.Seq, Hash: cp.Hash, EventId: cp.ID, Time: timestamppb.New(cp.Time), KeyId: cp.KeyID, Held: true}
		r, err := checkpoint.Check(ctx, log, []checkpoint.Line{l})
		if err != nil {
			return nil, err
		}
		if !r.OK() {
			out.Held, out.Problem = false, r.Findings[0].String()
		}
		return out, nil
	}
}

// closeCheckpoints writes the shutdown checkpoint; the store is still open.
func (s *state) closeCheckpoints() {
	if s.checkpoints == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	if err := s.checkpoints.Close(ctx); err != nil {
		s.logger.Error("audit checkpoints closed without a shutdown checkpoint", "error", err.Error())
	}
}

// incidentAuditor records incident response's actions (auto-blocks,
// suspensions, notifications) in the audit log. The action's details
// become the event's After, since an incident action has no prior state
// worth recording.
type incidentAuditor struct{ log audit.Log }

var _ incident.CommitAuditor = incidentAuditor{}

// Record implements incident.Auditor.
func (a incidentAuditor) Record(ctx context.Context, e incident.AuditEntry) error {
	_, err := a.log.Append(ctx, entryOf(e))
	return err
}

// Commit implements incident.CommitAuditor: an auto-block or a suspension
// is committed with its record (audit.Committer), so it stays only if the
// record does. A log that cannot commit with a change gets the action
// first and the record after.
func (a incidentAuditor) Commit(ctx context.Context, e incident.AuditEntry, act func(context.Context) error) error {
	c, ok := a.log.(audit.Committer)
	if !ok {
		if err := act(ctx); err != nil {
			return err
		}
		return a.Record(ctx, e)
	}
	_, err := c.Commit(ctx, entryOf(e), func(ctx context.Context, _ *audit.Entry) error { return act(ctx) })
	return err
}

// entryOf is the audit entry of an incident action.
func entryOf(e incident.AuditEntry) audit.Entry {
	var after map[string]any
	if len(e.Details) > 0 {
		after = make(map[string]any, len(e.Details))
		for k, v := range e.Details {
			after[k] = v
		}
	}
	return audit.Entry{
		Time: e.Time, Actor: e.Actor, Action: e.Action, Tenant: e.Tenant,
		Target: e.Target, Reason: e.Reason, After: after,
	}
}
