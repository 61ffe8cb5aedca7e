# Session inactivity logout and its warning.
#
# Reads policy.inactivity_timeout_ns, policy.role_inactivity_timeouts_ns
# {role: ns}, policy.compliance, policy.session_warning_ns, and
# input.session.last_activity_at_ns, input.subject.roles.
#
# The timeout is the strictest (smallest) of: the tenant's timeout, the
# timeout of every role the subject holds, and the cap of every declared
# compliance profile (HIPAA 4h, PCI_DSS 2h, SOX 4h). Roles and profiles can
# only shorten it.
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
package pdp

session_compliance_caps := {"HIPAA": 14400000000000, "PCI_DSS": 7200000000000, "SOX": 14400000000000}

# Every limit that applies, with where it comes from.
session_limits contains {"ns": policy.inactivity_timeout_ns, "source": "tenant policy"} if {
	policy.inactivity_timeout_ns > 0
}

session_limits contains {"ns": ns, "source": sprintf("role %s", [role])} if {
	some role in input.subject.roles
	ns := policy.role_inactivity_timeouts_ns[role]
	ns > 0
}

session_limits contains {"ns": session_compliance_caps[profile], "source": profile} if {
	some profile in policy.compliance
}

# The limits alone, without their sources: the timeout is the smallest.
session_timeouts contains ns if {
	ns := policy.inactivity_timeout_ns
	ns > 0
}

session_timeouts contains ns if {
	timeouts := policy.role_inactivity_timeouts_ns
	some role in input.subject.roles
	ns := timeouts[role]
	ns > 0
}

session_timeouts contains ns if {
	some profile in policy.compliance
	ns := session_compliance_caps[profile]
}

# min of an empty set is undefined, as is the timeout without limits.
session_timeout_ns := min(session_timeouts)

# The set and the timeout are bound outside the comprehension, which
# partial evaluation keeps as it is.
session_timeout_source := text_list([l.source | some l in limits; l.ns == timeout]) if {
	limits := session_limits
	timeout := session_timeout_ns
}

session_last_activity_ns := input.session.last_activity_at_ns

session_idle_ns := input.time_ns - session_last_activity_ns

session_expires_at_ns := input.session.last_activity_at_ns + session_timeout_ns

default session_inactive := false

session_inactive if session_idle_ns > session_timeout_ns

session_warning_ns := object.get(policy, "session_warning_ns", 0)

session_warn_at_ns := session_expires_at_ns - session_warning_ns

# Quiet: the session is neither inactive nor in its warning period. The
# first body is the common case: an active session (session_control has a
# warning time only then) before its warning time.
default session_quiet := false

session_quiet if input.time_ns < session_control.warn_at_ns

session_quiet if {
	not session_inactive
	not session_expiring
}

default session_expiring := false

session_expiring if {
	not session_inactive
	session_warning_ns > 0
	input.time_ns >= session_warn_at_ns
}

# Three exclusive cases, for partial evaluation (no "else"): an active
# session, no last activity, an inactive session.
session_control := {
	"expires_at_ns": expires_at,
	"warn_at_ns": expires_at - session_warning_ns,
	"idle_timeout_ns": session_timeout_ns,
} if {
	expires_at := session_expires_at_ns

	# not inactive: idle = time - last activity is not above the timeout
	input.time_ns <= expires_at
}

session_control := {"idle_timeout_ns": session_timeout_ns} if {
	object.get(input, ["session", "last_activity_at_ns"], null) == null
	session_timeout_ns
}

session_control := {"idle_timeout_ns": session_timeout_ns} if {
	input.time_ns > session_expires_at_ns
}

library_challenge contains {
	"code": "session.inactive",
	"message": sprintf("session idle for %s, longer than the inactivity timeout of %s (%s)", [
		text_duration(session_idle_ns),
		text_duration(session_timeout_ns),
		session_timeout_source,
	]),
	"rule": "session.inactive",
	"step_ups": [{"kind": "reauthenticate", "reason_code": "session.inactive"}],
} if {
	session_quiet == false
	session_inactive
}

checks contains {
	"rule": "session.inactive",
	"code": "session.inactive",
	"effect": "challenge",
	"message": sprintf("session idle for %s, within the inactivity timeout of %s (%s)", [
		text_duration(session_idle_ns),
		text_duration(session_timeout_ns),
		session_timeout_source,
	]),
} if {
	session_idle_ns
	not session_inactive
}

library_notices contains {
	"code": "session.expiring",
	"message": sprintf("session expires at %s, in %s, unless there is activity", [
		text_time(session_expires_at_ns),
		text_duration(session_expires_at_ns - input.time_ns),
	]),
	"rule": "session.expiring",
} if {
	session_quiet == false
	session_expiring
}

library_obligations contains {
	"kind": "warn_session_expiry",
	"params": {"expires_at": text_time(session_expires_at_ns)},
} if {
	session_quiet == false
	session_expiring
}

checks contains {
	"rule": "session.expiring",
	"code": "session.expiring",
	"effect": "info",
	"message": sprintf("session expires at %s, warning from %s", [text_time(session_expires_at_ns), text_time(session_warn_at_ns)]),
} if {
	session_expires_at_ns
	not session_inactive
	not session_expiring
}
