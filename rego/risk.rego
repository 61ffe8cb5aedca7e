# Zero-trust risk scoring (docs/api.md, section Risk scoring).
#
# Reads input.signals (computed by the server; an absent group means an
# absent factor), input.device, input.action.name, the request's country
# (network.country, see network.rego), and policy.risk {weights,
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
# score = min(1, sum of the weights of every factor of package pdp and
# pdp.custom), rounded to four decimals as the core rounds it.
#
# Emits:
#   challenge risk.step_up (rule risk.step_up) when step_up_threshold <
#             score < deny_threshold: step-up mfa, plus verify_device when
#             require_device_verification and untrusted_device is a factor
#   deny      risk.deny (rule risk.deny) when score >= deny_threshold
package pdp.controls.risk

import data.pdp.action_matches
import data.pdp.controls.network
import data.pdp.core_deny_threshold
import data.pdp.core_step_up_threshold
import data.pdp.policy
import data.pdp.text_duration
import data.pdp.text_list
import data.pdp.text_time

default_weights := {
	"unusual_time": 0.2,
	"unusual_location": 0.3,
	"unusual_behavior": 0.3,
	"untrusted_device": 0.2,
	"impossible_travel": 0.5,
	"failed_logins": 0.3,
	"ip_reputation": 0.4,
}

default_sensitive_actions := ["admin.*", "db.direct_query", "*.delete", "export.*"]

weight(name) := object.get(policy, ["risk", "weights", name], default_weights[name])

factor(name, detail) := {"name": name, "weight": weight(name), "detail": detail}

profile := input.signals.profile

# ---------------------------------------------------------------------------
# untrusted_device

default device_trusted := false

device_trusted if {
	input.device.managed == true
	input.device.compliant == true
}

# "" when no evidence says so (a known device without a compliance event).
# The cases are mutually exclusive, for partial evaluation (no "else").
default untrusted_device_detail := ""

untrusted_device_detail := "the request names no device" if {
	input.device.id == ""
}

untrusted_device_detail := sprintf("device %q has not been seen in a successful login or MFA of this user in 90 days", [input.device.id]) if {
	input.device.id != ""
	device_unknown
}

untrusted_device_detail := sprintf("device %q was reported not compliant by Shared Signals stream %s", [input.device.id, e.stream]) if {
	input.device.id != ""
	not device_unknown
	some e in input.signals.ssf.events
	e.event == "device-compliance-change"
}

# Without a profile, undefined: the device is then not known to be unknown.
default device_unknown := false

device_unknown if object.get(profile, "device_known", false) == false

risk_factors contains factor("untrusted_device", detail) if {
	not device_trusted
	detail := untrusted_device_detail
	detail != ""
}

# ---------------------------------------------------------------------------
# unusual_location

risk_factors contains factor("unusual_location", sprintf("country %s not seen for this user in 90 days", [country])) if {
	prof := profile
	prof.login_count > 0
	country := network.country
	country != ""
	not country in object.get(prof, "countries", [])
}

# ---------------------------------------------------------------------------
# unusual_time

default time_from_history := false

time_from_history if profile.login_count >= 10

unusual_time_detail := sprintf("no login of this user within an hour of %s UTC in 90 days", [hhmm(time.clock([input.time_ns, "UTC"]))]) if {
	time_from_history
	profile.hour_usual == false
}

unusual_time_detail := sprintf("%s %s %s is outside business hours (%s %s-%s)", [
	local_day, hhmm(local_clock), bh_timezone,
	bh_days_text,
	hhmm([(bh.start_minute - (bh.start_minute % 60)) / 60, bh.start_minute % 60]),
	hhmm([(bh.end_minute - (bh.end_minute % 60)) / 60, bh.end_minute % 60]),
]) if {
	not time_from_history
	not in_business_hours
}

risk_factors contains factor("unusual_time", unusual_time_detail)

hhmm(clock) := sprintf("%02d:%02d", [clock[0], clock[1]])

bh := policy.risk.business_hours

bh_timezone := bh.timezone if {
	bh.timezone != ""
} else := "UTC"

local_clock := time.clock([input.time_ns, bh_timezone])

local_minute := (local_clock[0] * 60) + local_clock[1]

local_day := lower(substring(time.weekday([input.time_ns, bh_timezone]), 0, 3))

bh_days := [lower(d) | some d in object.get(bh, "days", [])]

bh_days_text := concat(",", bh_days) if {
	count(bh_days) > 0
} else := "every day"

default in_business_hours := false

in_business_hours if {
	business_day
	business_minute
}

default business_day := false

business_day if count(bh_days) == 0

business_day if local_day in bh_days

default business_minute := false

business_minute if {
	bh.start_minute <= bh.end_minute
	bh.start_minute <= local_minute
	local_minute < bh.end_minute
}

business_minute if {
	bh.start_minute > bh.end_minute
	local_minute >= bh.start_minute
}

business_minute if {
	bh.start_minute > bh.end_minute
	local_minute < bh.end_minute
}

# ---------------------------------------------------------------------------
# unusual_behavior

sensitive_matches contains pattern if {
	some pattern in object.get(policy, "sensitive_actions", default_sensitive_actions)
	action_matches(pattern, input.action.name)
}

risk_factors contains factor("unusual_behavior", sprintf("sensitive action %s (%s) not used by this user in 90 days", [input.action.name, text_list(sensitive_matches)])) if {
	count(sensitive_matches) > 0
	profile.action_seen == false
}

# ---------------------------------------------------------------------------
# impossible_travel

risk_factors contains factor("impossible_travel", sprintf("%d km from %s at %d km/h since the last login", [
	round(travel.distance_km),
	object.get(travel, "from_country", "?"),
	round(travel.speed_kmh),
])) if {
	travel := profile.travel
	travel.speed_kmh > 900
	travel.distance_km > 100
}

# ---------------------------------------------------------------------------
# failed_logins

risk_factors contains factor("failed_logins", sprintf("%d failed logins of this user%s", [profile.failed_logins, window_text])) if {
	profile.failed_logins >= 3
}

window_text := sprintf(" within %s", [text_duration(policy.incident.failed_logins_window_ns)]) if {
	policy.incident.failed_logins_window_ns > 0
} else := " within the window"

# ---------------------------------------------------------------------------
# ip_reputation (one factor, whichever evidence comes first)

ip_reputation_detail := sprintf("IP %s is listed as suspicious (%s)", [network.ip, by]) if {
	input.signals.ip.suspicious == true
	by := object.get(input.signals.ip, "suspicious_by", "")
	by != ""
}

ip_reputation_detail := sprintf("IP %s is listed as suspicious", [network.ip]) if {
	input.signals.ip.suspicious == true
	object.get(input.signals.ip, "suspicious_by", "") == ""
}

ip_reputation_detail := sprintf("failed logins of %d distinct users came from IP %s", [profile.ip_failed_users, network.ip]) if {
	not input.signals.ip.suspicious == true
	profile.ip_failed_users >= 3
}

risk_factors contains factor("ip_reputation", ip_reputation_detail)

# ---------------------------------------------------------------------------
# external_risk: another system's risk level for the subject (CAEP
# risk-level-change, see ssf.rego)

default_external_weights := {"LOW": 0, "MEDIUM": 0.4, "HIGH": 0.8}

external_mode := object.get(policy, ["shared_signals", "external_risk"], "enforce")

external_ttl := object.get(policy, ["shared_signals", "external_risk_ttl_ns"], 86400000000000)

# null for a level without a weight (the factor is then not added). The
# default makes partial evaluation keep the function as one support
# function: its cases inlined into the factor's head would leave the weight
# unbound there (OPA issue 5226).
default external_weight(_) := null

external_weight(_) := 0 if {
	external_mode == "report_only"
}

external_weight(level) := object.get(policy, ["shared_signals", "external_risk_weights", level], default_external_weights[level]) if {
	external_mode != "report_only"
}

default external_text := ""

external_text := sprintf(" (report only: would weigh %v)", [w]) if {
	external_mode == "report_only"
	some e in input.signals.ssf.events
	e.event == "risk-level-change"
	w := object.get(policy, ["shared_signals", "external_risk_weights", e.level], default_external_weights[e.level])
}

risk_factors contains {
	"name": "external_risk",
	"weight": w,
	"detail": sprintf("risk level %s from stream %s since %s (jti %s)%s", [e.level, e.stream, text_time(e.event_time_ns), e.jti, external_text]),
} if {
	external_mode != "off"
	some e in input.signals.ssf.events
	e.event == "risk-level-change"
	input.time_ns < e.event_time_ns + external_ttl
	w := external_weight(e.level)
	w != null
}

# ---------------------------------------------------------------------------
# Quiet factors: none of the factors above applies. The first body is the
# common case (a managed, compliant device, a known user in a known country
# at a usual hour, nothing suspicious), checked without the helpers; the
# second is exact, factor by factor.

default factors_quiet := false

factors_quiet if {
	input.device.managed == true
	input.device.compliant == true
	prof := input.signals.profile
	prof.login_count >= 10
	prof.hour_usual == true
	network.country in prof.countries
	prof.action_seen == true
	object.get(prof, ["travel", "speed_kmh"], 0) <= 900
	prof.failed_logins < 3
	prof.ip_failed_users < 3
	input.signals.ip.suspicious == false
	object.get(input, ["signals", "ssf"], null) == null
}

factors_quiet if {
	device_quiet
	location_quiet
	time_quiet
	behavior_quiet
	not travel_impossible
	object.get(input, ["signals", "profile", "failed_logins"], 0) < 3
	not input.signals.ip.suspicious == true
	object.get(input, ["signals", "profile", "ip_failed_users"], 0) < 3
	not input.signals.ssf
}

default device_quiet := false

device_quiet if device_trusted

device_quiet if {
	input.device.id != ""
	not profile
}

device_quiet if {
	input.device.id != ""
	profile.device_known == true
}

default location_quiet := false

location_quiet if object.get(input, ["signals", "profile", "login_count"], 0) <= 0

location_quiet if network.country == ""

location_quiet if network.country in profile.countries

default time_quiet := false

time_quiet if {
	time_from_history
	not profile.hour_usual == false
}

time_quiet if {
	not time_from_history
	not policy.risk.business_hours
}

time_quiet if {
	not time_from_history
	in_business_hours
}

default behavior_quiet := false

behavior_quiet if not profile.action_seen == false

behavior_quiet if count(sensitive_matches) == 0

default travel_impossible := false

travel_impossible if {
	travel := profile.travel
	travel.speed_kmh > 900
	travel.distance_km > 100
}

# ---------------------------------------------------------------------------
# Score and outcome

# Every factor, of package pdp and pdp.custom (the core's union, written
# for partial evaluation: the sets are read whole, not iterated, so that
# they stay support rules, and no comprehension reads a rule).
all_factors := data.pdp.risk_factors | custom_factors

# The authors' factors of package pdp.custom; empty without them.
default custom_factors := set()

custom_factors := data.pdp.custom.risk_factors

# The score as the core computes it. Always defined: the default makes
# partial evaluation compute it once, in a support rule.
default score := 0

score := max([0, min([1, round(sum([f.weight | some f in factors]) * 10000) / 10000])]) if {
	factors := all_factors
	count(factors) > 0
}

default factors_text := "(none)"

factors_text := text_list([sprintf("%s %v", [f.name, f.weight]) | some f in factors]) if {
	factors := all_factors
}

step_ups := array.concat(mfa_step_ups, device_step_ups)

default mfa_step_ups := []

mfa_step_ups := [{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": step_up_max_age}] if not recent_mfa

default device_step_ups := []

device_step_ups := [{"kind": "verify_device", "reason_code": "risk.step_up"}] if verify_device

# How recent a second factor must be to satisfy the MFA step-up of a risk
# or brute-force challenge (policy.risk.step_up_max_age_ns, default 15m).
# Without it, a user who just did MFA would be challenged again for as long
# as the factors last (an unknown location stays unknown until the next
# reported login).
step_up_max_age := object.get(policy.risk, "step_up_max_age_ns", 900000000000)

default recent_mfa := false

recent_mfa if {
	input.time_ns - input.authentication.mfa_verified_at_ns <= step_up_max_age
}

mfa_age_text := text_duration(input.time_ns - input.authentication.mfa_verified_at_ns)

default verify_device := false

verify_device if {
	policy.risk.require_device_verification == true
	factors := all_factors
	some f in factors
	f.name == "untrusted_device"
}

# Quiet: the score is neither above the step-up threshold nor at the deny
# threshold (or there is no policy).
default quiet := false

quiet if {
	data.pdp.risk_factors == set()
	not data.pdp.custom.risk_factors
	0 <= core_step_up_threshold
	0 < core_deny_threshold
}

quiet if {
	score <= core_step_up_threshold
	score < core_deny_threshold
}

quiet if not policy

challenge contains {
	"code": "risk.step_up",
	"message": sprintf("risk score %v is above the step-up threshold %v: %s", [score, core_step_up_threshold, factors_text]),
	"rule": "risk.step_up",
	"step_ups": step_ups,
} if {
	policy
	score > core_step_up_threshold
	score < core_deny_threshold
	count(step_ups) > 0
}

# Above the step-up threshold, but the user proved a second factor recently
# enough and no other step-up is needed: allowed, with the reason said.
notices contains {
	"code": "risk.step_up_satisfied",
	"message": sprintf("risk score %v is above the step-up threshold %v (%s), satisfied by MFA verified %s ago", [
		score, core_step_up_threshold, factors_text, mfa_age_text,
	]),
	"rule": "risk.step_up",
} if {
	policy
	score > core_step_up_threshold
	score < core_deny_threshold
	count(step_ups) == 0
}

deny contains {
	"code": "risk.deny",
	"message": sprintf("risk score %v reaches the deny threshold %v: %s", [score, core_deny_threshold, factors_text]),
	"rule": "risk.deny",
} if {
	policy
	score >= core_deny_threshold
}

checks contains {
	"rule": "risk.step_up",
	"code": "risk.step_up",
	"effect": "challenge",
	"message": sprintf("risk score %v is not above the step-up threshold %v (factors: %s)", [score, core_step_up_threshold, factors_text]),
} if {
	policy
	score <= core_step_up_threshold
}

checks contains {
	"rule": "risk.deny",
	"code": "risk.deny",
	"effect": "deny",
	"message": sprintf("risk score %v is below the deny threshold %v", [score, core_deny_threshold]),
} if {
	policy
	score < core_deny_threshold
}
