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
package pdp

# Why MFA applies to this subject; undefined when it does not.
mfa_scope := "for all users" if {
	policy.mfa.mode == "all"
}

mfa_scope := sprintf("for privileged role %s", [text_list(mfa_privileged_roles)]) if {
	policy.mfa.mode == "privileged"
	count(mfa_privileged_roles) > 0
}

mfa_privileged_roles contains role if {
	some role in input.subject.roles
	role in policy.mfa.privileged_roles
}

# An admin reset the subject's MFA after the last verification.
default mfa_reset_pending := false

mfa_reset_pending if {
	reset := input.signals.profile.mfa_reset_at_ns
	not mfa_verified_since(reset)
}

mfa_verified_since(t) if input.authentication.mfa_verified_at_ns >= t

default mfa_enrolled := false

mfa_enrolled if {
	input.subject.mfa_enrolled == true
	not mfa_reset_pending
}

default mfa_not_enrolled_text := "subject is not enrolled in MFA"

mfa_not_enrolled_text := sprintf("MFA was reset at %s and has not been enrolled again", [text_time(input.signals.profile.mfa_reset_at_ns)]) if {
	mfa_reset_pending
}

# Quiet: MFA does not apply to the subject, or the subject is enrolled and
# either no max age is set or the last verification is within it. (A
# subject in scope who is not enrolled always gets a notice or a
# challenge.) The first body is the common case, checked without the
# helpers: enrolled, never reset, verified within the max age.
default mfa_quiet := false

mfa_quiet if {
	input.subject.mfa_enrolled == true
	object.get(input, ["signals", "profile", "mfa_reset_at_ns"], null) == null
	input.authentication.mfa_verified_at_ns
	input.time_ns - input.authentication.mfa_verified_at_ns <= policy.mfa.max_age_ns
}

mfa_quiet if not mfa_scope

mfa_quiet if {
	mfa_enrolled
	not mfa_stale
}

default mfa_stale := false

mfa_stale if {
	policy.mfa.max_age_ns > 0
	mfa_stale_text
}

# ---------------------------------------------------------------------------
# Enrolled: freshness of the last verification.

mfa_age_ns := input.time_ns - input.authentication.mfa_verified_at_ns

mfa_stale_text := sprintf("no MFA verification in this authentication (max age %s)", [text_duration(policy.mfa.max_age_ns)]) if {
	not input.authentication.mfa_verified_at_ns
}

# mfa_age_ns is defined only with a verification: exclusive with the above.
mfa_stale_text := sprintf("MFA last verified %s ago, more than the max age of %s", [text_duration(mfa_age_ns), text_duration(policy.mfa.max_age_ns)]) if {
	mfa_age_ns > policy.mfa.max_age_ns
}

library_challenge contains {
	"code": "authn.mfa_required",
	"message": sprintf("MFA required %s: %s", [scope, stale]),
	"rule": "mfa.required",
	"step_ups": [{
		"kind": "mfa",
		"reason_code": "authn.mfa_required",
		"max_age_ns": policy.mfa.max_age_ns,
	}],
} if {
	mfa_quiet == false
	scope := mfa_scope
	mfa_enrolled
	policy.mfa.max_age_ns > 0
	stale := mfa_stale_text
}

checks contains {
	"rule": "mfa.required",
	"code": "authn.mfa_required",
	"effect": "challenge",
	"message": mfa_fresh_text,
} if {
	mfa_scope
	mfa_enrolled
}

mfa_fresh_text := "MFA enrolled; the policy sets no max age" if {
	object.get(policy.mfa, "max_age_ns", 0) <= 0
} else := sprintf("MFA verified %s ago, within the max age of %s", [text_duration(mfa_age_ns), text_duration(policy.mfa.max_age_ns)]) if {
	not mfa_stale_text
}

checks contains {
	"rule": "mfa.required",
	"code": "authn.mfa_required",
	"effect": "challenge",
	"message": sprintf("MFA mode privileged and no role of the subject is privileged (%s)", [text_list(policy.mfa.privileged_roles)]),
} if {
	policy.mfa.mode == "privileged"
	not mfa_scope
}

# ---------------------------------------------------------------------------
# Not enrolled: grace period, then enrollment.

mfa_deadline_ns := policy.mfa.enforced_from_ns + object.get(policy.mfa, "grace_period_ns", 0)

default mfa_grace_running := false

mfa_grace_running if {
	mfa_scope
	not mfa_enrolled
	input.time_ns < mfa_deadline_ns
}

library_notices contains {
	"code": "authn.mfa_enrollment_pending",
	"message": sprintf("MFA required %s: %s; enroll before %s (%s left)", [
		scope, mfa_not_enrolled_text,
		text_time(mfa_deadline_ns), text_duration(mfa_deadline_ns - input.time_ns),
	]),
	"rule": "mfa.enrollment",
} if {
	mfa_quiet == false
	mfa_grace_running
	scope := mfa_scope
}

library_obligations contains {
	"kind": "remind_mfa_enrollment",
	"params": {"deadline": text_time(mfa_deadline_ns)},
} if {
	mfa_quiet == false
	mfa_grace_running
}

library_challenge contains {
	"code": "authn.mfa_enrollment_required",
	"message": sprintf("MFA required %s: %s and %s", [scope, mfa_not_enrolled_text, mfa_deadline_text]),
	"rule": "mfa.enrollment",
	"step_ups": [mfa_enroll_step_up],
} if {
	mfa_quiet == false
	scope := mfa_scope
	not mfa_enrolled
	not mfa_grace_running
}

mfa_deadline_text := sprintf("the enrollment deadline %s has passed", [text_time(mfa_deadline_ns)]) if {
	mfa_deadline_ns
} else := "the policy gives no grace period"

mfa_enroll_step_up := {
	"kind": "enroll_mfa",
	"reason_code": "authn.mfa_enrollment_required",
	"deadline_ns": mfa_deadline_ns,
} if {
	mfa_deadline_ns
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
	mfa_scope
	mfa_enrolled
}
