# Session inactivity logout and its warning.
#
# Reads the timeout and the expiry of session_timeout.rego (the strictest
# of the tenant's, the subject's roles' and the compliance profiles'
# limits), policy.role_inactivity_timeouts_ns and policy.compliance for
# the message, and input.time_ns.
#
# idle = time_ns - last_activity_at_ns. idle > timeout challenges; idle
# exactly equal to the timeout is still allowed (the session expires at
# last_activity + timeout, and that instant is still inside it).
#
# The core passes session_control to the decision's "session":
#   active session:   {expires_at_ns, warn_at_ns, idle_timeout_ns}
#                     with expires_at = last_activity + timeout and
#                     warn_at = expires_at - session_warning_ns
#   no last activity, or already inactive:  {idle_timeout_ns}
# From warn_at on (inclusive) until expiry an allow carries a notice and an
# obligation to warn the user. A session_warning_ns of 0 turns warnings off.
#
# Emits:
#   challenge session.inactive  (rule session.inactive), step-up reauthenticate
#   notice    session.expiring  (rule session.expiring), with obligation
#             warn_session_expiry {expires_at: RFC 3339}
package pdp.controls.session

import data.pdp.policy
import data.pdp.session_compliance_caps
import data.pdp.session_control
import data.pdp.session_expires_at_ns
import data.pdp.session_idle_ns
import data.pdp.session_timeout_ns
import data.pdp.session_warn_at_ns
import data.pdp.session_warning_ns
import data.pdp.text_duration
import data.pdp.text_list
import data.pdp.text_time

# Every limit that applies, with where it comes from.
limits contains {"ns": policy.inactivity_timeout_ns, "source": "tenant policy"} if {
	policy.inactivity_timeout_ns > 0
}

limits contains {"ns": ns, "source": sprintf("role %s", [role])} if {
	some role in input.subject.roles
	ns := policy.role_inactivity_timeouts_ns[role]
	ns > 0
}

limits contains {"ns": session_compliance_caps[profile], "source": profile} if {
	some profile in policy.compliance
}

# The set and the timeout are bound outside the comprehension, which
# partial evaluation keeps as it is.
timeout_source := text_list([l.source | some l in all_limits; l.ns == timeout]) if {
	all_limits := limits
	timeout := session_timeout_ns
}

default inactive := false

inactive if session_idle_ns > session_timeout_ns

# Quiet: the session is neither inactive nor in its warning period. The
# first body is the common case: an active session (session_control has a
# warning time only then) before its warning time.
default quiet := false

quiet if input.time_ns < session_control.warn_at_ns

quiet if {
	not inactive
	not expiring
}

default expiring := false

expiring if {
	not inactive
	session_warning_ns > 0
	input.time_ns >= session_warn_at_ns
}

challenge contains {
	"code": "session.inactive",
	"message": sprintf("session idle for %s, longer than the inactivity timeout of %s (%s)", [
		text_duration(session_idle_ns),
		text_duration(session_timeout_ns),
		timeout_source,
	]),
	"rule": "session.inactive",
	"step_ups": [{"kind": "reauthenticate", "reason_code": "session.inactive"}],
} if {
	inactive
}

checks contains {
	"rule": "session.inactive",
	"code": "session.inactive",
	"effect": "challenge",
	"message": sprintf("session idle for %s, within the inactivity timeout of %s (%s)", [
		text_duration(session_idle_ns),
		text_duration(session_timeout_ns),
		timeout_source,
	]),
} if {
	session_idle_ns
	not inactive
}

notices contains {
	"code": "session.expiring",
	"message": sprintf("session expires at %s, in %s, unless there is activity", [
		text_time(session_expires_at_ns),
		text_duration(session_expires_at_ns - input.time_ns),
	]),
	"rule": "session.expiring",
} if {
	expiring
}

# The time is formatted as text_time does, with the built-in: a function
# in the head of a contribution is inlined twice over (into the
# obligations, and those into the core's library_obligations), which
# partial evaluation gets wrong (OPA issue 5226).
obligations contains {
	"kind": "warn_session_expiry",
	"params": {"expires_at": time.format([session_expires_at_ns, "UTC", "2006-01-02T15:04:05.999999999Z07:00"])},
} if {
	expiring
}

checks contains {
	"rule": "session.expiring",
	"code": "session.expiring",
	"effect": "info",
	"message": sprintf("session expires at %s, warning from %s", [text_time(session_expires_at_ns), text_time(session_warn_at_ns)]),
} if {
	session_expires_at_ns
	not inactive
	not expiring
}
