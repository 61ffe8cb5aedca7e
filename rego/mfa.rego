# Two-factor (MFA) enforcement.
#
# Reads policy.mfa:
#   mode              "off" (control silent) | "all" | "privileged" (only
#                     subjects holding a role listed in privileged_roles)
#   max_age_ns        > 0: an enrolled subject must have verified MFA within
#                     this long (age == max_age still passes); 0: enrollment
#                     alone is enough
#   enforced_from_ns  when enforcement started (optional)
#   grace_period_ns   how long after enforced_from_ns a subject who is not
#                     enrolled may still get in, with a reminder
# and input.subject.mfa_enrolled, input.authentication.mfa_verified_at_ns,
# input.signals.profile.mfa_reset_at_ns. An admin reset (ResetUserMFA) later
# than the last verification means the subject must enroll again, so the
# subject counts as not enrolled until MFA is verified after the reset.
#
# Deadline = enforced_from_ns + grace_period_ns. Before the deadline
# (time_ns < deadline) a subject who is not enrolled is allowed with a
# reminder; from the deadline on, or when enforced_from_ns is not set, the
# subject must enroll first.
#
# Emits (rules mfa.required, mfa.enrollment):
#   challenge authn.mfa_required            step-up mfa with max_age_ns
#   notice    authn.mfa_enrollment_pending  + obligation remind_mfa_enrollment
#                                           {deadline: RFC 3339}
#   challenge authn.mfa_enrollment_required step-up enroll_mfa with
#                                           deadline_ns when there is one
package pdp.controls.mfa

import data.pdp.policy
import data.pdp.text_duration
import data.pdp.text_list
import data.pdp.text_time

# Why MFA applies to this subject; undefined when it does not.
scope := "for all users" if {
	policy.mfa.mode == "all"
}

scope := sprintf("for privileged role %s", [text_list(privileged_roles)]) if {
	policy.mfa.mode == "privileged"
	count(privileged_roles) > 0
}

privileged_roles contains role if {
	some role in input.subject.roles
	role in policy.mfa.privileged_roles
}

# An admin reset the subject's MFA after the last verification.
default reset_pending := false

reset_pending if {
	reset := input.signals.profile.mfa_reset_at_ns
	not verified_since(reset)
}

verified_since(t) if input.authentication.mfa_verified_at_ns >= t

default enrolled := false

enrolled if {
	input.subject.mfa_enrolled == true
	not reset_pending
}

default not_enrolled_text := "subject is not enrolled in MFA"

not_enrolled_text := sprintf("MFA was reset at %s and has not been enrolled again", [text_time(input.signals.profile.mfa_reset_at_ns)]) if {
	reset_pending
}

# Quiet: MFA does not apply to the subject, or the subject is enrolled and
# either no max age is set or the last verification is within it. (A
# subject in scope who is not enrolled always gets a notice or a
# challenge.) The first body is the common case, checked without the
# helpers: enrolled, never reset, verified within the max age.
default quiet := false

quiet if {
	input.subject.mfa_enrolled == true
	object.get(input, ["signals", "profile", "mfa_reset_at_ns"], null) == null
	input.authentication.mfa_verified_at_ns
	input.time_ns - input.authentication.mfa_verified_at_ns <= policy.mfa.max_age_ns
}

quiet if not scope

quiet if {
	enrolled
	not stale
}

default stale := false

stale if {
	policy.mfa.max_age_ns > 0
	stale_text
}

# ---------------------------------------------------------------------------
# Enrolled: freshness of the last verification.

age_ns := input.time_ns - input.authentication.mfa_verified_at_ns

stale_text := sprintf("no MFA verification in this authentication (max age %s)", [text_duration(policy.mfa.max_age_ns)]) if {
	not input.authentication.mfa_verified_at_ns
}

# age_ns is defined only with a verification: exclusive with the above.
stale_text := sprintf("MFA last verified %s ago, more than the max age of %s", [text_duration(age_ns), text_duration(policy.mfa.max_age_ns)]) if {
	age_ns > policy.mfa.max_age_ns
}

challenge contains {
	"code": "authn.mfa_required",
	"message": sprintf("MFA required %s: %s", [for_whom, why]),
	"rule": "mfa.required",
	"step_ups": [{
		"kind": "mfa",
		"reason_code": "authn.mfa_required",
		"max_age_ns": policy.mfa.max_age_ns,
	}],
} if {
	for_whom := scope
	enrolled
	policy.mfa.max_age_ns > 0
	why := stale_text
}

checks contains {
	"rule": "mfa.required",
	"code": "authn.mfa_required",
	"effect": "challenge",
	"message": fresh_text,
} if {
	scope
	enrolled
}

fresh_text := "MFA enrolled; the policy sets no max age" if {
	object.get(policy.mfa, "max_age_ns", 0) <= 0
} else := sprintf("MFA verified %s ago, within the max age of %s", [text_duration(age_ns), text_duration(policy.mfa.max_age_ns)]) if {
	not stale_text
}

checks contains {
	"rule": "mfa.required",
	"code": "authn.mfa_required",
	"effect": "challenge",
	"message": sprintf("MFA mode privileged and no role of the subject is privileged (%s)", [text_list(policy.mfa.privileged_roles)]),
} if {
	policy.mfa.mode == "privileged"
	not scope
}

# ---------------------------------------------------------------------------
# Not enrolled: grace period, then enrollment.

deadline_ns := policy.mfa.enforced_from_ns + object.get(policy.mfa, "grace_period_ns", 0)

default grace_running := false

grace_running if {
	scope
	not enrolled
	input.time_ns < deadline_ns
}

notices contains {
	"code": "authn.mfa_enrollment_pending",
	"message": sprintf("MFA required %s: %s; enroll before %s (%s left)", [
		for_whom, not_enrolled_text,
		text_time(deadline_ns), text_duration(deadline_ns - input.time_ns),
	]),
	"rule": "mfa.enrollment",
} if {
	grace_running
	for_whom := scope
}

obligations contains {
	"kind": "remind_mfa_enrollment",
	"params": {"deadline": text_time(deadline_ns)},
} if {
	grace_running
}

challenge contains {
	"code": "authn.mfa_enrollment_required",
	"message": sprintf("MFA required %s: %s and %s", [for_whom, not_enrolled_text, deadline_text]),
	"rule": "mfa.enrollment",
	"step_ups": [enroll_step_up],
} if {
	for_whom := scope
	not enrolled
	not grace_running
}

deadline_text := sprintf("the enrollment deadline %s has passed", [text_time(deadline_ns)]) if {
	deadline_ns
} else := "the policy gives no grace period"

enroll_step_up := {
	"kind": "enroll_mfa",
	"reason_code": "authn.mfa_enrollment_required",
	"deadline_ns": deadline_ns,
} if {
	deadline_ns
} else := {
	"kind": "enroll_mfa",
	"reason_code": "authn.mfa_enrollment_required",
}

checks contains {
	"rule": "mfa.enrollment",
	"code": "authn.mfa_enrollment_required",
	"effect": "challenge",
	"message": "subject is enrolled in MFA",
} if {
	scope
	enrolled
}
