# Zero-trust risk scoring (docs/api.md, section Risk scoring).
#
# Reads input.signals (computed by the server; an absent group means an
# absent factor), input.device, input.action.name, the request's country
# (network_country, see network.rego), and policy.risk {weights,
# step_up_threshold, deny_threshold, business_hours,
# require_device_verification}, policy.sensitive_actions,
# policy.incident.failed_logins_window_ns. Missing weights, thresholds and
# sensitive actions fall back to the defaults of docs/api.md.
#
# Factors (risk_factors, each {name, weight, detail}):
#   untrusted_device   device id empty, or the profile says the device was
#                      not seen (device_known false), or a Shared Signals
#                      stream reported it not compliant (the server then
#                      marks it non-compliant); never when the device is
#                      managed and compliant. Without a profile only an
#                      empty device id and such a report count.
#   unusual_location   the user has logins on record (login_count > 0) and
#                      the country is not among profile.countries
#   unusual_time       login_count >= 10: profile.hour_usual is false;
#                      otherwise (fewer logins, or no profile): outside
#                      policy.risk.business_hours when set, computed in its
#                      timezone (days empty = every day; start > end spans
#                      midnight; start inclusive, end exclusive)
#   unusual_behavior   the action matches a sensitive_actions glob and
#                      profile.action_seen is false
#   impossible_travel  profile.travel.speed_kmh > 900 and distance_km > 100
#   failed_logins      profile.failed_logins >= 3
#   ip_reputation      signals.ip.suspicious, or profile.ip_failed_users >= 3
#   external_risk      a Shared Signals risk-level-change (signals.ssf) within
#                      policy.shared_signals.external_risk_ttl_ns of its
#                      event, weighing external_risk_weights[level]
#                      (0 when the tenant set it report_only; none when off)
#
# risk_score = min(1, sum of the weights of every factor of package pdp and
# pdp.custom), rounded to four decimals as the core rounds it.
#
# Emits:
#   challenge risk.step_up (rule risk.step_up) when step_up_threshold <
#             score < deny_threshold: step-up mfa, plus verify_device when
#             require_device_verification and untrusted_device is a factor
#   deny      risk.deny (rule risk.deny) when score >= deny_threshold
package pdp

risk_default_weights := {
	"unusual_time": 0.2,
	"unusual_location": 0.3,
	"unusual_behavior": 0.3,
	"untrusted_device": 0.2,
	"impossible_travel": 0.5,
	"failed_logins": 0.3,
	"ip_reputation": 0.4,
}

risk_default_sensitive_actions := ["admin.*", "db.direct_query", "*.delete", "export.*"]

risk_weight(name) := object.get(policy, ["risk", "weights", name], risk_default_weights[name])

risk_factor(name, detail) := {"name": name, "weight": risk_weight(name), "detail": detail}

risk_profile := input.signals.profile

# ---------------------------------------------------------------------------
# untrusted_device

default risk_device_trusted := false

risk_device_trusted if {
	input.device.managed == true
	input.device.compliant == true
}

# "" when no evidence says so (a known device without a compliance event).
# The cases are mutually exclusive, for partial evaluation (no "else").
default risk_untrusted_device_detail := ""

risk_untrusted_device_detail := "the request names no device" if {
	input.device.id == ""
}

risk_untrusted_device_detail := sprintf("device %q has not been seen in a successful login or MFA of this user in 90 days", [input.device.id]) if {
	input.device.id != ""
	risk_device_unknown
}

risk_untrusted_device_detail := sprintf("device %q was reported not compliant by Shared Signals stream %s", [input.device.id, e.stream]) if {
	input.device.id != ""
	not risk_device_unknown
	some e in input.signals.ssf.events
	e.event == "device-compliance-change"
}

# Without a profile, undefined: the device is then not known to be unknown.
default risk_device_unknown := false

risk_device_unknown if object.get(risk_profile, "device_known", false) == false

library_risk_factors contains risk_factor("untrusted_device", detail) if {
	risk_factors_quiet == false
	not risk_device_trusted
	detail := risk_untrusted_device_detail
	detail != ""
}

# ---------------------------------------------------------------------------
# unusual_location

library_risk_factors contains risk_factor("unusual_location", sprintf("country %s not seen for this user in 90 days", [country])) if {
	risk_factors_quiet == false
	profile := risk_profile
	profile.login_count > 0
	country := network_country
	country != ""
	not country in object.get(profile, "countries", [])
}

# ---------------------------------------------------------------------------
# unusual_time

default risk_time_from_history := false

risk_time_from_history if risk_profile.login_count >= 10

risk_unusual_time_detail := sprintf("no login of this user within an hour of %s UTC in 90 days", [risk_hhmm(time.clock([input.time_ns, "UTC"]))]) if {
	risk_time_from_history
	risk_profile.hour_usual == false
}

risk_unusual_time_detail := sprintf("%s %s %s is outside business hours (%s %s-%s)", [
	risk_local_day, risk_hhmm(risk_local_clock), risk_bh_timezone,
	risk_bh_days_text,
	risk_hhmm([(risk_bh.start_minute - (risk_bh.start_minute % 60)) / 60, risk_bh.start_minute % 60]),
	risk_hhmm([(risk_bh.end_minute - (risk_bh.end_minute % 60)) / 60, risk_bh.end_minute % 60]),
]) if {
	not risk_time_from_history
	not risk_in_business_hours
}

library_risk_factors contains risk_factor("unusual_time", risk_unusual_time_detail) if risk_factors_quiet == false

risk_hhmm(clock) := sprintf("%02d:%02d", [clock[0], clock[1]])

risk_bh := policy.risk.business_hours

risk_bh_timezone := risk_bh.timezone if {
	risk_bh.timezone != ""
} else := "UTC"

risk_local_clock := time.clock([input.time_ns, risk_bh_timezone])

risk_local_minute := (risk_local_clock[0] * 60) + risk_local_clock[1]

risk_local_day := lower(substring(time.weekday([input.time_ns, risk_bh_timezone]), 0, 3))

risk_bh_days := [lower(d) | some d in object.get(risk_bh, "days", [])]

risk_bh_days_text := concat(",", risk_bh_days) if {
	count(risk_bh_days) > 0
} else := "every day"

default risk_in_business_hours := false

risk_in_business_hours if {
	risk_business_day
	risk_business_minute
}

default risk_business_day := false

risk_business_day if count(risk_bh_days) == 0

risk_business_day if risk_local_day in risk_bh_days

default risk_business_minute := false

risk_business_minute if {
	risk_bh.start_minute <= risk_bh.end_minute
	risk_bh.start_minute <= risk_local_minute
	risk_local_minute < risk_bh.end_minute
}

risk_business_minute if {
	risk_bh.start_minute > risk_bh.end_minute
	risk_local_minute >= risk_bh.start_minute
}

risk_business_minute if {
	risk_bh.start_minute > risk_bh.end_minute
	risk_local_minute < risk_bh.end_minute
}

# ---------------------------------------------------------------------------
# unusual_behavior

risk_sensitive_matches contains pattern if {
	some pattern in object.get(policy, "sensitive_actions", risk_default_sensitive_actions)
	action_matches(pattern, input.action.name)
}

library_risk_factors contains risk_factor("unusual_behavior", sprintf("sensitive action %s (%s) not used by this user in 90 days", [input.action.name, text_list(risk_sensitive_matches)])) if {
	risk_factors_quiet == false
	count(risk_sensitive_matches) > 0
	risk_profile.action_seen == false
}

# ---------------------------------------------------------------------------
# impossible_travel

library_risk_factors contains risk_factor("impossible_travel", sprintf("%d km from %s at %d km/h since the last login", [
	round(travel.distance_km),
	object.get(travel, "from_country", "?"),
	round(travel.speed_kmh),
])) if {
	risk_factors_quiet == false
	travel := risk_profile.travel
	travel.speed_kmh > 900
	travel.distance_km > 100
}

# ---------------------------------------------------------------------------
# failed_logins

library_risk_factors contains risk_factor("failed_logins", sprintf("%d failed logins of this user%s", [risk_profile.failed_logins, risk_window_text])) if {
	risk_factors_quiet == false
	risk_profile.failed_logins >= 3
}

risk_window_text := sprintf(" within %s", [text_duration(policy.incident.failed_logins_window_ns)]) if {
	policy.incident.failed_logins_window_ns > 0
} else := " within the window"

# ---------------------------------------------------------------------------
# ip_reputation (one factor, whichever evidence comes first)

risk_ip_reputation_detail := sprintf("IP %s is listed as suspicious (%s)", [network_ip, by]) if {
	input.signals.ip.suspicious == true
	by := object.get(input.signals.ip, "suspicious_by", "")
	by != ""
}

risk_ip_reputation_detail := sprintf("IP %s is listed as suspicious", [network_ip]) if {
	input.signals.ip.suspicious == true
	object.get(input.signals.ip, "suspicious_by", "") == ""
}

risk_ip_reputation_detail := sprintf("failed logins of %d distinct users came from IP %s", [risk_profile.ip_failed_users, network_ip]) if {
	not input.signals.ip.suspicious == true
	risk_profile.ip_failed_users >= 3
}

library_risk_factors contains risk_factor("ip_reputation", risk_ip_reputation_detail) if risk_factors_quiet == false

# ---------------------------------------------------------------------------
# external_risk: another system's risk level for the subject (CAEP
# risk-level-change, see ssf.rego)

risk_default_external_weights := {"LOW": 0, "MEDIUM": 0.4, "HIGH": 0.8}

risk_external_mode := object.get(policy, ["shared_signals", "external_risk"], "enforce")

risk_external_ttl := object.get(policy, ["shared_signals", "external_risk_ttl_ns"], 86400000000000)

risk_external_weight(_) := 0 if {
	risk_external_mode == "report_only"
}

risk_external_weight(level) := object.get(policy, ["shared_signals", "external_risk_weights", level], risk_default_external_weights[level]) if {
	risk_external_mode != "report_only"
}

default risk_external_text := ""

risk_external_text := sprintf(" (report only: would weigh %v)", [w]) if {
	risk_external_mode == "report_only"
	some e in input.signals.ssf.events
	e.event == "risk-level-change"
	w := object.get(policy, ["shared_signals", "external_risk_weights", e.level], risk_default_external_weights[e.level])
}

library_risk_factors contains {
	"name": "external_risk",
	"weight": risk_external_weight(e.level),
	"detail": sprintf("risk level %s from stream %s since %s (jti %s)%s", [e.level, e.stream, text_time(e.event_time_ns), e.jti, risk_external_text]),
} if {
	risk_factors_quiet == false
	risk_external_mode != "off"
	some e in input.signals.ssf.events
	e.event == "risk-level-change"
	input.time_ns < e.event_time_ns + risk_external_ttl
}

# ---------------------------------------------------------------------------
# Quiet factors: none of the factors above applies. The first body is the
# common case (a managed, compliant device, a known user in a known country
# at a usual hour, nothing suspicious), checked without the helpers; the
# second is exact, factor by factor.

default risk_factors_quiet := false

risk_factors_quiet if {
	input.device.managed == true
	input.device.compliant == true
	profile := input.signals.profile
	profile.login_count >= 10
	profile.hour_usual == true
	network_country in profile.countries
	profile.action_seen == true
	object.get(profile, ["travel", "speed_kmh"], 0) <= 900
	profile.failed_logins < 3
	profile.ip_failed_users < 3
	input.signals.ip.suspicious == false
	object.get(input, ["signals", "ssf"], null) == null
}

risk_factors_quiet if {
	risk_device_quiet
	risk_location_quiet
	risk_time_quiet
	risk_behavior_quiet
	not risk_travel_impossible
	object.get(input, ["signals", "profile", "failed_logins"], 0) < 3
	not input.signals.ip.suspicious == true
	object.get(input, ["signals", "profile", "ip_failed_users"], 0) < 3
	not input.signals.ssf
}

default risk_device_quiet := false

risk_device_quiet if risk_device_trusted

risk_device_quiet if {
	input.device.id != ""
	not risk_profile
}

risk_device_quiet if {
	input.device.id != ""
	risk_profile.device_known == true
}

default risk_location_quiet := false

risk_location_quiet if object.get(input, ["signals", "profile", "login_count"], 0) <= 0

risk_location_quiet if network_country == ""

risk_location_quiet if network_country in risk_profile.countries

default risk_time_quiet := false

risk_time_quiet if {
	risk_time_from_history
	not risk_profile.hour_usual == false
}

risk_time_quiet if {
	not risk_time_from_history
	not policy.risk.business_hours
}

risk_time_quiet if {
	not risk_time_from_history
	risk_in_business_hours
}

default risk_behavior_quiet := false

risk_behavior_quiet if not risk_profile.action_seen == false

risk_behavior_quiet if count(risk_sensitive_matches) == 0

default risk_travel_impossible := false

risk_travel_impossible if {
	travel := risk_profile.travel
	travel.speed_kmh > 900
	travel.distance_km > 100
}

# ---------------------------------------------------------------------------
# Score and outcome

# Every factor, of package pdp and pdp.custom (the core's union, written
# for partial evaluation: the sets are read whole, not iterated, so that
# they stay support rules, and no comprehension reads a rule).
risk_all_factors := data.pdp.risk_factors | risk_custom_factors

# The authors' factors of package pdp.custom; empty without them.
default risk_custom_factors := set()

risk_custom_factors := data.pdp.custom.risk_factors

# The score as the core computes it. Always defined: the default makes
# partial evaluation compute it once, in a support rule.
default risk_score := 0

risk_score := max([0, min([1, round(sum([f.weight | some f in factors]) * 10000) / 10000])]) if {
	factors := risk_all_factors
	count(factors) > 0
}

default risk_factors_text := "(none)"

risk_factors_text := text_list([sprintf("%s %v", [f.name, f.weight]) | some f in factors]) if {
	factors := risk_all_factors
}

risk_step_ups := array.concat(risk_mfa_step_ups, risk_device_step_ups)

default risk_mfa_step_ups := []

risk_mfa_step_ups := [{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": risk_step_up_max_age}] if not risk_recent_mfa

default risk_device_step_ups := []

risk_device_step_ups := [{"kind": "verify_device", "reason_code": "risk.step_up"}] if risk_verify_device

# How recent a second factor must be to satisfy the MFA step-up of a risk
# or brute-force challenge (policy.risk.step_up_max_age_ns, default 15m).
# Without it, a user who just did MFA would be challenged again for as long
# as the factors last (an unknown location stays unknown until the next
# reported login).
risk_step_up_max_age := object.get(policy.risk, "step_up_max_age_ns", 900000000000)

default risk_recent_mfa := false

risk_recent_mfa if {
	input.time_ns - input.authentication.mfa_verified_at_ns <= risk_step_up_max_age
}

risk_mfa_age_text := text_duration(input.time_ns - input.authentication.mfa_verified_at_ns)

default risk_verify_device := false

risk_verify_device if {
	policy.risk.require_device_verification == true
	factors := risk_all_factors
	some f in factors
	f.name == "untrusted_device"
}

# Quiet: the score is neither above the step-up threshold nor at the deny
# threshold (or there is no policy).
default risk_quiet := false

risk_quiet if {
	data.pdp.risk_factors == set()
	not data.pdp.custom.risk_factors
	0 <= core_step_up_threshold
	0 < core_deny_threshold
}

risk_quiet if {
	risk_score <= core_step_up_threshold
	risk_score < core_deny_threshold
}

risk_quiet if not policy

library_challenge contains {
	"code": "risk.step_up",
	"message": sprintf("risk score %v is above the step-up threshold %v: %s", [risk_score, core_step_up_threshold, risk_factors_text]),
	"rule": "risk.step_up",
	"step_ups": risk_step_ups,
} if {
	risk_quiet == false
	policy
	risk_score > core_step_up_threshold
	risk_score < core_deny_threshold
	count(risk_step_ups) > 0
}

# Above the step-up threshold, but the user proved a second factor recently
# enough and no other step-up is needed: allowed, with the reason said.
library_notices contains {
	"code": "risk.step_up_satisfied",
	"message": sprintf("risk score %v is above the step-up threshold %v (%s), satisfied by MFA verified %s ago", [
		risk_score, core_step_up_threshold, risk_factors_text, risk_mfa_age_text,
	]),
	"rule": "risk.step_up",
} if {
	risk_quiet == false
	policy
	risk_score > core_step_up_threshold
	risk_score < core_deny_threshold
	count(risk_step_ups) == 0
}

library_deny contains {
	"code": "risk.deny",
	"message": sprintf("risk score %v reaches the deny threshold %v: %s", [risk_score, core_deny_threshold, risk_factors_text]),
	"rule": "risk.deny",
} if {
	risk_quiet == false
	policy
	risk_score >= core_deny_threshold
}

checks contains {
	"rule": "risk.step_up",
	"code": "risk.step_up",
	"effect": "challenge",
	"message": sprintf("risk score %v is not above the step-up threshold %v (factors: %s)", [risk_score, core_step_up_threshold, risk_factors_text]),
} if {
	policy
	risk_score <= core_step_up_threshold
}

checks contains {
	"rule": "risk.deny",
	"code": "risk.deny",
	"effect": "deny",
	"message": sprintf("risk score %v is below the deny threshold %v", [risk_score, core_deny_threshold]),
} if {
	policy
	risk_score < core_deny_threshold
}
