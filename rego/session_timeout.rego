# The session's inactivity timeout and expiry: what the decision's
# "session" carries (rego/README.md), whatever the controls find, and what
# the session control (session.rego) enforces.
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
# session_control is the decision's "session":
#   active session:   {expires_at_ns, warn_at_ns, idle_timeout_ns}
#                     with expires_at = last_activity + timeout and
#                     warn_at = expires_at - warning_ns
#   no last activity, or already inactive:  {idle_timeout_ns}
#
# These values are in package pdp, not in the control's package, because
# the specialiser keeps them as support rules, computed once
# (server/internal/engine, sharedValues), and partial evaluation does not
# go through the control packages past a rule it must not inline.
package pdp

session_compliance_caps := {"HIPAA": 14400000000000, "PCI_DSS": 7200000000000, "SOX": 14400000000000}

# The limits, without their sources: the timeout is the smallest.
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

session_last_activity_ns := input.session.last_activity_at_ns

session_idle_ns := input.time_ns - session_last_activity_ns

session_expires_at_ns := input.session.last_activity_at_ns + session_timeout_ns

session_warning_ns := object.get(policy, "session_warning_ns", 0)

session_warn_at_ns := session_expires_at_ns - session_warning_ns

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
