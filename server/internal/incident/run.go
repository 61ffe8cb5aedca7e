package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// run carries out one job: the block or the suspension, then the
// notification. Each step is logged and audited.
func (r *Responder) run(j *job) {
	defer r.done.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), r.actionTimeout)
	defer cancel()
	now := r.now()
	if j.block {
		if r.blocker.Blocked(j.tenant, j.ip, now) {
			r.suppressed.Add(1) // another job blocked it meanwhile
			return
		}
		expires := now.Add(j.ttl)
		j.details["expires_at"] = expires.UTC().Format(time.RFC3339)
		j.details["ttl"] = j.ttl.String()
		err := r.act(ctx, "block_ip", addrString(j.ip), j, now, func(ctx context.Context) error {
			return r.blocker.Block(ctx, Block{Tenant: j.tenant, Addr: j.ip, At: now, ExpiresAt: expires, Reason: j.reason})
		})
		if err != nil {
			j.details["error"] = "block failed: " + err.Error()
		}
	}
	if j.suspend {
		err := r.act(ctx, "suspend_user", j.subject, j, now, func(ctx context.Context) error {
			return r.suspender.SetSuspension(ctx, j.tenant, j.subject, store.Suspension{
				Suspended: true, Reason: suspensionReason(j), At: now, By: Actor,
			})
		})
		if err != nil {
			j.details["error"] = "suspension failed: " + err.Error()
			r.recent.forget(j.dedupKey) // let the next decision try again
		}
	}
	r.notify(ctx, j, now)
}

// suspensionReason is what the user's deny message will quote.
func suspensionReason(j *job) string {
	if a := j.details["action"]; a != "" {
		return j.reason + " (" + a + ")"
	}
	return j.reason
}

// act takes one action (do), logs it and records it. With a
// CommitAuditor the action and its record are committed together: an
// action whose record cannot be appended is not taken, and a failed action
// is recorded on its own, with its error, since it changed nothing. Other
// auditors record the action after it is taken.
func (r *Responder) act(ctx context.Context, action, target string, j *job, now time.Time, do func(context.Context) error) error {
	c, ok := r.auditor.(CommitAuditor)
	if !ok {
		err := do(ctx)
		r.step(ctx, action, target, j, err, now)
		return err
	}
	var doErr error
	err := c.Commit(ctx, r.entry(action, target, j, nil, now), func(ctx context.Context) error {
		doErr = do(ctx)
		return doErr
	})
	switch {
	case err != nil && doErr != nil && errors.Is(err, doErr):
		r.step(ctx, action, target, j, err, now)
		return err
	case err != nil:
		r.logStep(ctx, action, j, fmt.Errorf("not taken: the audit log could not record it: %w", err))
		return err
	}
	r.logStep(ctx, action, j, nil)
	return nil
}

// step logs and audits one action already taken (or failed).
func (r *Responder) step(ctx context.Context, action, target string, j *job, err error, now time.Time) {
	r.logStep(ctx, action, j, err)
	r.audit(ctx, r.entry(action, target, j, err, now))
}

// logStep writes the "incident" log line of one action, counting a
// failure.
func (r *Responder) logStep(ctx context.Context, action string, j *job, err error) {
	level := slog.LevelWarn
	attrs := r.attrs(action, j)
	if err != nil {
		r.failed.Add(1)
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	r.logger.LogAttrs(ctx, level, "incident", attrs...)
}

// entry is the audit entry of one action; err, when not nil, is recorded
// in its details.
func (r *Responder) entry(action, target string, j *job, err error, now time.Time) AuditEntry {
	details := maps.Clone(j.details)
	details["decision_id"] = j.decisionID
	if err != nil {
		details["error"] = err.Error()
	}
	return AuditEntry{Time: now, Actor: Actor, Action: "incident." + action, Tenant: j.tenant,
		Target: target, Reason: j.reason, Details: details}
}

// notify logs, audits and sends the job's notification.
func (r *Responder) notify(ctx context.Context, j *job, now time.Time) {
	id, err := r.newID()
	if err != nil {
		id = j.kind.idFallback(now)
	}
	n := Notification{ID: id, Time: now.UTC(), Tenant: j.tenant, Kind: j.kind, Subject: j.subject,
		IP: addrString(j.ip), Reason: j.reason, DecisionID: j.decisionID, Details: maps.Clone(j.details)}
	attrs := append(r.attrs("notify", j), slog.String("notification_id", id))
	r.logger.LogAttrs(ctx, slog.LevelWarn, "incident", attrs...)
	details := maps.Clone(j.details)
	details["notification_id"] = id
	details["kind"] = string(j.kind)
	details["decision_id"] = j.decisionID
	target := j.subject
	if target == "" {
		target = n.IP
	}
	r.audit(ctx, AuditEntry{Time: now, Actor: Actor, Action: "incident.notify", Tenant: j.tenant,
		Target: target, Reason: j.reason, Details: details})
	if r.notifier == nil {
		return
	}
	if err := r.notifier.Notify(n); err != nil {
		r.undelivered.Add(1)
		r.logger.Error("incident notification not sent", "notification_id", id, "kind", string(j.kind),
			"tenant", j.tenant, "error", err.Error())
	}
}

// idFallback makes a notification id when the random source fails.
func (k Kind) idFallback(now time.Time) string {
	return string(k) + "-" + now.UTC().Format("20060102T150405.000000000Z")
}

func (r *Responder) audit(ctx context.Context, e AuditEntry) {
	if err := r.auditor.Record(ctx, e); err != nil {
		r.logger.Error("incident action not audited", "action", e.Action, "tenant", e.Tenant, "error", err.Error())
	}
}

// attrs are the fields of an "incident" log line.
func (r *Responder) attrs(action string, j *job) []slog.Attr {
	a := []slog.Attr{
		slog.String("action", action),
		slog.String("kind", string(j.kind)),
		slog.String("tenant", j.tenant),
		slog.String("environment", j.env),
		slog.String("subject", j.subject),
		slog.String("ip", addrString(j.ip)),
		slog.String("reason", j.reason),
	}
	if j.decisionID != "" {
		a = append(a, slog.String("decision_id", j.decisionID))
	}
	for _, k := range []string{"event_id", "action", "expires_at"} {
		if v := j.details[k]; v != "" {
			name := k
			if k == "action" {
				name = "requested_action"
			}
			a = append(a, slog.String(name, v))
		}
	}
	return a
}
