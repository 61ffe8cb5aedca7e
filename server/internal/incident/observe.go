package incident

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// job is one incident: what to do, then one notification.
type job struct {
	kind       Kind
	suspend    bool
	block      bool
	tenant     string
	env        string
	subject    string
	ip         netip.Addr
	ttl        time.Duration
	reason     string
	decisionID string
	dedupKey   string
	details    map[string]string
}

// ObserveReport checks a failed login's counters against the thresholds,
// after the event was applied. An IP block is in force when it returns;
// notifications are delivered asynchronously.
func (r *Responder) ObserveReport(rec *signals.Recorded) {
	ev := &rec.Event
	if !store.IsFailure(ev.Kind) {
		return
	}
	set := r.settingsOf(ev.Tenant, ev.Environment)
	out := rec.Outcome
	ip := ev.Network.IP
	window := set.FailedLoginsWindow.String()
	base := func() map[string]string {
		return map[string]string{
			"environment": ev.Environment,
			"event_id":    rec.EventID,
			"event":       ev.Kind.String(),
			"event_time":  ev.Time.UTC().Format(time.RFC3339Nano),
			"window":      window,
		}
	}
	now := r.now()
	if t := set.FailedLoginsThreshold; t > 0 && ev.Subject.ID != "" && out.UserFailedLogins == t {
		j := &job{kind: KindBruteForce, tenant: ev.Tenant, env: ev.Environment, subject: ev.Subject.ID, ip: ip,
			reason: fmt.Sprintf("%d failed logins of user %q within %s reach the threshold of %d",
				out.UserFailedLogins, ev.Subject.ID, window, t),
			details: base()}
		j.details["failed_logins"] = strconv.Itoa(out.UserFailedLogins)
		j.details["threshold"] = strconv.Itoa(t)
		j.dedupKey = dedupKey(j)
		r.submitNow(j, now)
	}
	if t := set.SuspiciousIPThreshold; t > 0 && ip.IsValid() && out.IPFailedLogins >= t && !r.blocker.Blocked(ev.Tenant, ip, now) {
		j := &job{kind: KindIPBlocked, block: true, tenant: ev.Tenant, env: ev.Environment, subject: ev.Subject.ID, ip: ip,
			ttl: set.AutoBlockTTL,
			reason: fmt.Sprintf("%d failed logins from %s within %s reach the threshold of %d",
				out.IPFailedLogins, ip, window, t),
			details: base()}
		j.details["failed_logins"] = strconv.Itoa(out.IPFailedLogins)
		j.details["failed_users"] = strconv.Itoa(out.IPFailedUsers)
		j.details["threshold"] = strconv.Itoa(t)
		if set.ReportOnly {
			// Blocking would be enforcing: say what would have happened,
			// once per crossing.
			j.kind, j.block = KindSecurityAlert, false
			j.details["enforced"], j.details["would"] = "false", "block_ip"
			if out.IPFailedLogins != t {
				return
			}
			j.dedupKey = dedupKey(j)
		}
		r.submitNow(j, now)
	}
}

// ObserveDecision queues the actions of a decision's suspend_user,
// block_ip and notify_security obligations. It does not wait for them.
func (r *Responder) ObserveDecision(req *decision.Request, d *decision.Decision) {
	env := req.Environment
	if env == "" {
		env = decision.DefaultEnvironment
	}
	now := r.now()
	var suspends, alerts []*job
	for _, ob := range d.Obligations {
		switch ob.Kind {
		case decision.ObligationSuspendUser:
			user := ob.Params["user"]
			if !d.Enforced || user == "" {
				continue
			}
			if user == req.Subject.ID && req.Signals.Profile.Suspended {
				continue // suspended already; a notify_security still reports the attempt
			}
			j := r.decisionJob(KindUserSuspended, req, d, ob, env)
			j.suspend, j.subject = true, user
			suspends = append(suspends, j)
		case decision.ObligationNotifySecurity:
			j := r.decisionJob(KindSecurityAlert, req, d, ob, env)
			if user, ok := ob.Params["user"]; ok {
				j.subject = user
			}
			alerts = append(alerts, j)
		case decision.ObligationBlockIP:
			if !d.Enforced {
				continue
			}
			r.blockFromObligation(req, d, ob, env, now)
		}
	}
	// A suspension and an alert about the same user are one incident.
	for _, a := range alerts {
		merged := false
		for _, s := range suspends {
			if s.subject == a.subject && s.tenant == a.tenant {
				for k, v := range a.details {
					if _, ok := s.details[k]; !ok {
						s.details[k] = v
					}
				}
				merged = true
			}
		}
		if !merged {
			a.dedupKey = dedupKey(a)
			r.submit(a, now)
		}
	}
	for _, s := range suspends {
		s.dedupKey = dedupKey(s)
		r.submit(s, now)
	}
}

func (r *Responder) blockFromObligation(req *decision.Request, d *decision.Decision, ob decision.Obligation, env string, now time.Time) {
	ip := req.Network.IP
	if s := ob.Params["ip"]; s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			r.logger.Error("incident", "action", "block_ip", "tenant", req.Tenant, "decision_id", d.ID,
				"error", fmt.Sprintf("block_ip obligation with an invalid ip %q", s))
			return
		}
		ip = a.Unmap().WithZone("")
	}
	if !ip.IsValid() || r.blocker.Blocked(req.Tenant, ip, now) {
		return
	}
	ttl := r.settingsOf(req.Tenant, env).AutoBlockTTL
	if s := ob.Params["ttl"]; s != "" {
		if v, err := time.ParseDuration(s); err == nil && v > 0 {
			ttl = clampTTL(v)
		}
	}
	j := r.decisionJob(KindIPBlocked, req, d, ob, env)
	j.block, j.ip, j.ttl = true, ip, ttl
	r.submit(j, now)
}

// decisionJob starts a job from one obligation of a decision.
func (r *Responder) decisionJob(kind Kind, req *decision.Request, d *decision.Decision, ob decision.Obligation, env string) *job {
	j := &job{kind: kind, tenant: req.Tenant, env: env, subject: req.Subject.ID, ip: req.Network.IP,
		reason: ob.Params["reason"], decisionID: d.ID,
		details: map[string]string{
			"environment": env,
			"action":      req.Action.Name,
			"decision":    d.Kind.String(),
			"enforced":    strconv.FormatBool(d.Enforced),
			"obligation":  string(ob.Kind),
		}}
	if a := ob.Params["action"]; a != "" {
		j.details["action"] = a
	}
	if j.reason == "" {
		j.reason = string(ob.Kind)
	}
	return j
}

// dedupKey identifies repeats of an incident.
func dedupKey(j *job) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s", j.kind, j.tenant, j.subject, addrString(j.ip), j.reason, j.details["action"])
}

// submitNow runs j in the caller unless it repeats a recent incident. The
// Report path uses it: a Report that crosses a threshold returns only once
// the IP is blocked, so the enforcement point's next Check already sees
// the block. Notification delivery stays asynchronous.
func (r *Responder) submitNow(j *job, now time.Time) {
	if j.dedupKey != "" && !r.recent.claim(j.dedupKey, now) {
		r.suppressed.Add(1)
		return
	}
	r.run(j)
}

// submit queues j unless it repeats a recent incident.
func (r *Responder) submit(j *job, now time.Time) {
	if j.dedupKey != "" && !r.recent.claim(j.dedupKey, now) {
		r.suppressed.Add(1)
		return
	}
	r.enqueue(j)
}
