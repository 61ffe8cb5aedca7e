# Incident response: suspended users, privilege escalation, brute force and
# IPs that fail logins for many accounts.
#
# Reads input.signals.profile {suspended, suspended_reason, failed_logins,
# ip_failed_logins}, input.action.name, input.subject.{id,roles},
# input.network.ip, policy.roles, and policy.incident
# {failed_logins_threshold, failed_logins_window_ns, suspicious_ip_threshold,
# auto_block_ttl_ns, suspend_on_privilege_escalation, brute_force_action}.
#
# Privilege escalation is an "admin.*" action by a subject who holds neither
# the role "admin" nor "owner", and none of whose roles is granted that
# action by policy.roles (a tenant may delegate, e.g. "admin.audit.*" to an
# auditor role, and that is not an escalation).
#
# Brute force: the user's failed logins within the window reach
# failed_logins_threshold (exactly the threshold fires). brute_force_action
# "deny" denies; anything else challenges with an MFA step-up.
#
# An IP whose failed logins within the window reach suspicious_ip_threshold
# gets a block_ip obligation; ttl is auto_block_ttl_ns in whole seconds
# ("3600s", Go duration syntax; "0s" leaves the lifetime to the server).
# The core drops suspend_user and block_ip in report-only mode.
#
# Emits:
#   deny      incident.user_suspended       (rule incident.user_suspended)
#   deny      incident.privilege_escalation (rule incident.privilege_escalation)
#             + notify_security {user, action, reason}, + suspend_user
#             {user, action, reason} when suspend_on_privilege_escalation
#             and the subject has an id
#   challenge / deny incident.brute_force   (rule incident.brute_force)
#   obligation block_ip {ip, ttl, reason}
package pdp.controls.incident

import data.pdp.action_matches
import data.pdp.controls.network
import data.pdp.controls.risk
import data.pdp.policy
import data.pdp.text_list

# ---------------------------------------------------------------------------
# Suspended users

deny contains {
	"code": "incident.user_suspended",
	"message": suspended_text,
	"rule": "incident.user_suspended",
} if {
	policy
	input.signals.profile.suspended == true
}

suspended_text := sprintf("user %q is suspended: %s", [input.subject.id, reason]) if {
	reason := object.get(input.signals.profile, "suspended_reason", "")
	reason != ""
}

suspended_text := sprintf("user %q is suspended", [input.subject.id]) if {
	object.get(input, ["signals", "profile", "suspended_reason"], "") == ""
}

checks contains {
	"rule": "incident.user_suspended",
	"code": "incident.user_suspended",
	"effect": "deny",
	"message": sprintf("user %q is not suspended", [input.subject.id]),
} if {
	policy
	input.signals.profile
	not input.signals.profile.suspended == true
}

# ---------------------------------------------------------------------------
# Privilege escalation

admin_roles := {"admin", "owner"}

default admin_action := false

admin_action if action_matches("admin.*", input.action.name)

admin_role contains role if {
	some role in input.subject.roles
	role in admin_roles
}

granted_by contains role if {
	some role in input.subject.roles
	some pattern in policy.roles[role].actions
	action_matches(pattern, input.action.name)
}

default escalation := false

escalation if {
	policy
	admin_action
	count(admin_role) == 0
	count(granted_by) == 0
}

deny contains {
	"code": "incident.privilege_escalation",
	"message": sprintf("user %q attempted admin action %q without an admin role (roles: %s)", [
		input.subject.id, input.action.name, text_list(object.get(input, ["subject", "roles"], [])),
	]),
	"rule": "incident.privilege_escalation",
} if {
	escalation
}

# The parameters of both obligations are written out in each head: a
# helper rule there would be inlined twice over (into the obligations, and
# those into the core's library_obligations), which partial evaluation
# gets wrong (OPA issue 5226).
obligations contains {"kind": "notify_security", "params": {
	"user": input.subject.id,
	"action": input.action.name,
	"reason": "incident.privilege_escalation",
}} if {
	escalation
}

obligations contains {"kind": "suspend_user", "params": {
	"user": input.subject.id,
	"action": input.action.name,
	"reason": "incident.privilege_escalation",
}} if {
	escalation
	policy.incident.suspend_on_privilege_escalation == true
	input.subject.id != ""
}

checks contains {
	"rule": "incident.privilege_escalation",
	"code": "incident.privilege_escalation",
	"effect": "deny",
	"message": sprintf("admin action %q by %s", [input.action.name, admin_text]),
} if {
	policy
	admin_action
	not escalation
}

admin_text := sprintf("admin role %s", [text_list(admin_role)]) if {
	count(admin_role) > 0
} else := sprintf("role %s, granted by the tenant policy", [text_list(granted_by)])

# ---------------------------------------------------------------------------
# Brute force

failed_threshold := policy.incident.failed_logins_threshold if {
	policy.incident.failed_logins_threshold > 0
}

brute_force_effect := "deny" if {
	policy.incident.brute_force_action == "deny"
} else := "challenge"

brute_force_text := sprintf("%d failed logins of user %q%s reach the threshold of %d", [
	input.signals.profile.failed_logins, input.subject.id, risk.window_text, failed_threshold,
])

default brute_force := false

brute_force if input.signals.profile.failed_logins >= failed_threshold

deny contains {
	"code": "incident.brute_force",
	"message": brute_force_text,
	"rule": "incident.brute_force",
} if {
	brute_force
	brute_force_effect == "deny"
}

challenge contains {
	"code": "incident.brute_force",
	"message": brute_force_text,
	"rule": "incident.brute_force",
	"step_ups": [{"kind": "mfa", "reason_code": "incident.brute_force", "max_age_ns": risk.step_up_max_age}],
} if {
	brute_force
	brute_force_effect == "challenge"
	not risk.recent_mfa
}

# The user answered the brute-force challenge with a recent second factor.
notices contains {
	"code": "incident.brute_force_satisfied",
	"message": sprintf("%s, satisfied by MFA verified %s ago", [brute_force_text, risk.mfa_age_text]),
	"rule": "incident.brute_force",
} if {
	brute_force
	brute_force_effect == "challenge"
	risk.recent_mfa
}

checks contains {
	"rule": "incident.brute_force",
	"code": "incident.brute_force",
	"effect": brute_force_effect,
	"message": sprintf("%d failed logins of user %q%s, below the threshold of %d", [
		input.signals.profile.failed_logins, input.subject.id, risk.window_text, failed_threshold,
	]),
} if {
	input.signals.profile.failed_logins < failed_threshold
}

# ---------------------------------------------------------------------------
# Auto-block of an IP failing logins for many accounts

obligations contains {
	"kind": "block_ip",
	"params": {
		"ip": network.ip,
		"ttl": sprintf("%ds", [(ttl - (ttl % 1000000000)) / 1000000000]),
		"reason": sprintf("%d failed logins from this IP reach the threshold of %d", [input.signals.profile.ip_failed_logins, threshold]),
	},
} if {
	block_ip
	threshold := policy.incident.suspicious_ip_threshold
	ttl := object.get(policy.incident, "auto_block_ttl_ns", 0)
}

default block_ip := false

block_ip if {
	threshold := policy.incident.suspicious_ip_threshold
	threshold > 0
	network.ip != ""
	input.signals.profile.ip_failed_logins >= threshold
}

# ---------------------------------------------------------------------------
# Quiet: not suspended, no admin action (so no escalation), below both
# thresholds. The first body is the common case, checked without the
# helpers; without a profile only an escalation can fire.

default quiet := false

quiet if {
	profile := input.signals.profile
	profile.suspended == false
	glob.match("admin.*", null, input.action.name) == false
	thresholds := policy.incident
	profile.failed_logins < thresholds.failed_logins_threshold
	profile.ip_failed_logins < thresholds.suspicious_ip_threshold
}

quiet if {
	not input.signals.profile
	not escalation
}

quiet if {
	not input.signals.profile.suspended == true
	not escalation
	not brute_force
	not block_ip
}
