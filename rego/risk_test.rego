package pdp_test

import data.pdp

# risk.rego: every factor present and absent, business hours in a timezone,
# weights, the score cap and the step-up / deny thresholds.

risk_with_profile(patch) := {"signals": {"profile": object.union(fx_profile, patch)}}

# ---------------------------------------------------------------------------
# untrusted_device

test_risk_untrusted_device if {
	unmanaged := {"device": {"id": "d-9", "platform": "linux", "managed": false, "compliant": false}}

	# device not seen before
	r := fx_run(object.union(unmanaged, risk_with_profile({"device_known": false})), {})
	fx_factor(r, "untrusted_device") == {
		"name": "untrusted_device", "weight": 0.2,
		"detail": "device \"d-9\" has not been seen in a successful login or MFA of this user in 90 days",
	}

	# seen before
	fx_no_factor(fx_run(object.union(unmanaged, risk_with_profile({})), {}), "untrusted_device")

	# no device id at all, profile or not
	anon := {"device": {"id": "", "platform": "", "managed": false, "compliant": false}}
	fx_factor(fx_run(anon, {}), "untrusted_device").detail == "the request names no device"
	fx_factor(fx_run(object.union(anon, risk_with_profile({})), {}), "untrusted_device").detail == "the request names no device"

	# without a profile a named device is not judged
	fx_no_factor(fx_run(unmanaged, {}), "untrusted_device")
}

test_risk_managed_compliant_device_is_trusted if {
	managed := {"device": {"id": "", "platform": "macos", "managed": true, "compliant": true}}
	fx_no_factor(fx_run(object.union(managed, risk_with_profile({"device_known": false})), {}), "untrusted_device")

	# managed but not compliant is not enough
	half := {"device": {"id": "d-2", "platform": "macos", "managed": true, "compliant": false}}
	fx_factor(fx_run(object.union(half, risk_with_profile({"device_known": false})), {}), "untrusted_device")
}

# ---------------------------------------------------------------------------
# unusual_location

test_risk_unusual_location if {
	r := fx_run(object.union({"network": {"country": "BR"}}, risk_with_profile({"login_count": 5, "countries": ["FR", "DE"]})), {})
	fx_factor(r, "unusual_location") == {"name": "unusual_location", "weight": 0.3, "detail": "country BR not seen for this user in 90 days"}

	# a known country
	fx_no_factor(fx_run(risk_with_profile({"login_count": 5}), {}), "unusual_location")

	# no history
	fx_no_factor(fx_run(object.union({"network": {"country": "BR"}}, risk_with_profile({"login_count": 0, "countries": []})), {}), "unusual_location")

	# no profile
	fx_no_factor(fx_run({"network": {"country": "BR"}}, {}), "unusual_location")

	# unknown country
	fx_no_factor(fx_run(object.union({"network": {"country": ""}}, risk_with_profile({"login_count": 5})), {}), "unusual_location")
}

test_risk_unusual_location_from_geoip if {
	req := object.union(
		{"network": {"country": ""}, "signals": {"geo": {"country": "JP", "city": "Tokyo"}}},
		risk_with_profile({"login_count": 5}),
	)
	fx_factor(fx_run(req, {}), "unusual_location").detail == "country JP not seen for this user in 90 days"
}

# ---------------------------------------------------------------------------
# unusual_time

risk_office := {"risk": {"business_hours": {
	"start_minute": 540, "end_minute": 1020,
	"days": ["mon", "tue", "wed", "thu", "fri"], "timezone": "Europe/Paris",
}}}

test_risk_unusual_time_from_history if {
	r := fx_run(risk_with_profile({"login_count": 10, "hour_usual": false}), {})
	fx_factor(r, "unusual_time") == {
		"name": "unusual_time", "weight": 0.2,
		"detail": "no login of this user within an hour of 00:00 UTC in 90 days",
	}

	# a usual hour
	fx_no_factor(fx_run(risk_with_profile({"login_count": 10}), {}), "unusual_time")

	# with enough history, business hours no longer matter
	fx_no_factor(fx_run(risk_with_profile({"login_count": 10}), risk_office), "unusual_time")
}

test_risk_unusual_time_from_business_hours if {
	# 2026-01-01T00:00Z is Thursday 01:00 in Paris
	r := fx_run(risk_with_profile({"login_count": 9, "hour_usual": false}), risk_office)
	fx_factor(r, "unusual_time").detail == "thu 01:00 Europe/Paris is outside business hours (mon,tue,wed,thu,fri 09:00-17:00)"

	# without a profile too
	fx_factor(fx_run({}, risk_office), "unusual_time")

	# without business hours and without history: nothing to compare with
	fx_no_factor(fx_run(risk_with_profile({"login_count": 9, "hour_usual": false}), {}), "unusual_time")
}

risk_at(offset, pol) := fx_run({"time_ns": fx_t + offset}, pol)

test_risk_business_hours_boundaries if {
	# Thursday 09:00 Paris is inside (start inclusive), 16:59 inside,
	# 17:00 outside (end exclusive), 08:59 outside
	fx_no_factor(risk_at(8 * fx_h, risk_office), "unusual_time")
	fx_no_factor(risk_at((16 * fx_h) - fx_m, risk_office), "unusual_time")
	fx_factor(risk_at(16 * fx_h, risk_office), "unusual_time")
	fx_factor(risk_at((8 * fx_h) - fx_m, risk_office), "unusual_time")

	# Saturday 10:00 Paris is outside
	sat := risk_at((48 * fx_h) + (9 * fx_h), risk_office)
	fx_factor(sat, "unusual_time").detail == "sat 10:00 Europe/Paris is outside business hours (mon,tue,wed,thu,fri 09:00-17:00)"
}

test_risk_business_hours_across_midnight_every_day if {
	night := {"risk": {"business_hours": {"start_minute": 1320, "end_minute": 360, "days": [], "timezone": ""}}}
	fx_no_factor(risk_at(0, night), "unusual_time")
	fx_no_factor(risk_at(-2 * fx_h, night), "unusual_time")
	fx_no_factor(risk_at((6 * fx_h) - 1, night), "unusual_time")
	fx_factor(risk_at(6 * fx_h, night), "unusual_time").detail == "thu 06:00 UTC is outside business hours (every day 22:00-06:00)"
	fx_factor(risk_at(12 * fx_h, night), "unusual_time")
}

# ---------------------------------------------------------------------------
# unusual_behavior

test_risk_unusual_behavior if {
	req := object.union({"action": {"name": "admin.users.delete", "resource": ""}}, risk_with_profile({"action_seen": false}))
	fx_factor(fx_run(req, {}), "unusual_behavior") == {
		"name": "unusual_behavior", "weight": 0.3,
		"detail": "sensitive action admin.users.delete (*.delete, admin.*) not used by this user in 90 days",
	}

	# used before
	fx_no_factor(fx_run(object.union(req, risk_with_profile({"action_seen": true})), {}), "unusual_behavior")

	# not sensitive
	fx_no_factor(fx_run(risk_with_profile({"action_seen": false}), {}), "unusual_behavior")

	# sensitive by the tenant's own list only
	mine := {"sensitive_actions": ["api.read"]}
	fx_factor(fx_run(risk_with_profile({"action_seen": false}), mine), "unusual_behavior")
	fx_no_factor(fx_run(req, mine), "unusual_behavior")
}

# ---------------------------------------------------------------------------
# impossible_travel

risk_travel(km, kmh) := risk_with_profile({"travel": {
	"distance_km": km, "speed_kmh": kmh,
	"from_country": "US", "since_ns": fx_t - fx_h,
}})

test_risk_impossible_travel if {
	fx_factor(fx_run(risk_travel(5837.4, 5837.6), {}), "impossible_travel") == {
		"name": "impossible_travel", "weight": 0.5,
		"detail": "5837 km from US at 5838 km/h since the last login",
	}

	# boundaries: over 900 km/h and over 100 km, both strictly
	fx_no_factor(fx_run(risk_travel(5000, 900), {}), "impossible_travel")
	fx_factor(fx_run(risk_travel(5000, 900.1), {}), "impossible_travel")
	fx_no_factor(fx_run(risk_travel(100, 5000), {}), "impossible_travel")
	fx_factor(fx_run(risk_travel(101, 5000), {}), "impossible_travel")

	# no travel known
	fx_no_factor(fx_run(risk_with_profile({}), {}), "impossible_travel")
}

# ---------------------------------------------------------------------------
# failed_logins and ip_reputation

test_risk_failed_logins if {
	fx_factor(fx_run(risk_with_profile({"failed_logins": 3}), {}), "failed_logins") == {
		"name": "failed_logins", "weight": 0.3,
		"detail": "3 failed logins of this user within 15m",
	}
	fx_no_factor(fx_run(risk_with_profile({"failed_logins": 2}), {}), "failed_logins")

	nowindow := {"incident": {"failed_logins_window_ns": 0}}
	fx_factor(fx_run(risk_with_profile({"failed_logins": 4}), nowindow), "failed_logins").detail == "4 failed logins of this user within the window"
}

test_risk_ip_reputation if {
	listed := {"signals": {"ip": {"denied": false, "denied_by": "", "allowed": false, "suspicious": true, "suspicious_by": "firehol_level1"}}}
	fx_factor(fx_run(listed, {}), "ip_reputation") == {
		"name": "ip_reputation", "weight": 0.4,
		"detail": "IP 203.0.113.7 is listed as suspicious (firehol_level1)",
	}

	bare := {"signals": {"ip": {"denied": false, "denied_by": "", "allowed": false, "suspicious": true, "suspicious_by": ""}}}
	fx_factor(fx_run(bare, {}), "ip_reputation").detail == "IP 203.0.113.7 is listed as suspicious"

	spray := risk_with_profile({"ip_failed_users": 3})
	fx_factor(fx_run(spray, {}), "ip_reputation").detail == "failed logins of 3 distinct users came from IP 203.0.113.7"
	fx_no_factor(fx_run(risk_with_profile({"ip_failed_users": 2}), {}), "ip_reputation")

	# both pieces of evidence still make one factor
	both := fx_run(object.union(listed, spray), {})
	count({f | some f in both.risk_factors; f.name == "ip_reputation"}) == 1
}

# ---------------------------------------------------------------------------
# Weights, score and outcome

test_risk_tenant_weights if {
	r := fx_run(risk_with_profile({"failed_logins": 3}), {"risk": {"weights": {"failed_logins": 0.05}}})
	fx_factor(r, "failed_logins").weight == 0.05
	pdp.controls.risk.score == 0.05 with input as fx_req(risk_with_profile({"failed_logins": 3}))
		with data.tenants as fx_tenants({"risk": {"weights": {"failed_logins": 0.05}}})
}

test_risk_missing_weight_uses_the_default if {
	tenants := {"acme": {"plan": "enterprise", "environments": {"production": json.remove(fx_policy, ["risk/weights/failed_logins"])}}}
	factors := pdp.risk_factors with input as fx_req(risk_with_profile({"failed_logins": 3})) with data.tenants as tenants
	{f.weight | some f in factors; f.name == "failed_logins"} == {0.3}
}

# failed_logins 0.3 + ip_reputation 0.4 = 0.7: not above the threshold
risk_at_step_up := risk_with_profile({"failed_logins": 3, "ip_failed_users": 3})

test_risk_exactly_the_step_up_threshold_allows if {
	r := fx_run(risk_at_step_up, {})
	pdp.controls.risk.score == 0.7 with input as fx_req(risk_at_step_up) with data.tenants as fx_tenants({})
	fx_rule(r.challenge, "risk.") == set()
	{
		"rule": "risk.step_up", "code": "risk.step_up", "effect": "challenge",
		"message": "risk score 0.7 is not above the step-up threshold 0.7 (factors: failed_logins 0.3, ip_reputation 0.4)",
	} in r.checks
	r.decision.risk.level == "medium"
}

test_risk_above_the_step_up_threshold_challenges if {
	req := risk_with_profile({"failed_logins": 3, "ip_failed_users": 3, "login_count": 12, "hour_usual": false})
	r := fx_run(req, {"risk": {"deny_threshold": 0.95}})
	r.challenge == {{
		"code": "risk.step_up",
		"message": "risk score 0.9 is above the step-up threshold 0.7: failed_logins 0.3, ip_reputation 0.4, unusual_time 0.2",
		"rule": "risk.step_up",
		"step_ups": [{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": 900000000000}],
	}}
	r.decision.decision == "challenge"
	r.decision.risk.level == "high"
}

test_risk_step_up_satisfied_by_recent_mfa if {
	base := risk_with_profile({"failed_logins": 3, "ip_failed_users": 3, "login_count": 12, "hour_usual": false})
	fresh := object.union(base, {"authentication": {"mfa_verified_at_ns": fx_t - 600000000000}})
	r := fx_run(fresh, {"risk": {"deny_threshold": 0.95, "step_up_max_age_ns": 600000000000}})
	r.challenge == set()
	r.notices == {{
		"code": "risk.step_up_satisfied",
		"message": "risk score 0.9 is above the step-up threshold 0.7 (failed_logins 0.3, ip_reputation 0.4, unusual_time 0.2), satisfied by MFA verified 10m ago",
		"rule": "risk.step_up",
	}}
	r.decision.decision == "allow"
	r.decision.risk.level == "high"

	# older than the tenant's window: the MFA step-up is asked again
	stale := object.union(base, {"authentication": {"mfa_verified_at_ns": (fx_t - 600000000000) - 1}})
	some c in fx_run(stale, {"risk": {"deny_threshold": 0.95, "step_up_max_age_ns": 600000000000}}).challenge
	c.step_ups == [{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": 600000000000}]
}

test_risk_recent_mfa_leaves_device_verification if {
	req := object.union(
		{"device": {"id": "d-9", "platform": "linux", "managed": false, "compliant": false}, "authentication": {"mfa_verified_at_ns": fx_t}},
		risk_with_profile({"device_known": false, "ip_failed_users": 3, "login_count": 12, "hour_usual": false}),
	)
	some c in fx_run(req, {"risk": {"require_device_verification": true}}).challenge
	c.code == "risk.step_up"
	c.step_ups == [{"kind": "verify_device", "reason_code": "risk.step_up"}]
}

test_risk_step_up_with_device_verification if {
	req := object.union(
		{"device": {"id": "d-9", "platform": "linux", "managed": false, "compliant": false}},
		risk_with_profile({"device_known": false, "ip_failed_users": 3, "login_count": 12, "hour_usual": false}),
	)
	ask := fx_run(req, {"risk": {"require_device_verification": true}})
	some c in ask.challenge
	c.code == "risk.step_up"
	c.step_ups == [
		{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": 900000000000},
		{"kind": "verify_device", "reason_code": "risk.step_up"},
	]

	# not asked for by the tenant
	plain := fx_run(req, {})
	some p in plain.challenge
	p.step_ups == [{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": 900000000000}]

	# asked for, but the device is not the problem
	nodev := fx_run(risk_with_profile({"failed_logins": 3, "ip_failed_users": 3, "login_count": 12, "hour_usual": false}), {"risk": {"require_device_verification": true, "deny_threshold": 0.95}})
	some n in nodev.challenge
	n.step_ups == [{"kind": "mfa", "reason_code": "risk.step_up", "max_age_ns": 900000000000}]
}

test_risk_exactly_the_deny_threshold_denies if {
	# impossible_travel 0.5 + ip_reputation 0.4 = 0.9
	req := object.union(risk_travel(5000, 5000), risk_with_profile({"ip_failed_users": 3}))
	r := fx_run(req, {})
	r.deny == {{
		"code": "risk.deny",
		"message": "risk score 0.9 reaches the deny threshold 0.9: impossible_travel 0.5, ip_reputation 0.4",
		"rule": "risk.deny",
	}}
	fx_rule(r.challenge, "risk.") == set()
	fx_rule(r.checks, "risk.deny") == set()
	r.decision.decision == "deny"
	r.decision.risk.level == "critical"
}

test_risk_score_is_capped_at_one if {
	req := object.union(
		risk_travel(5000, 5000),
		risk_with_profile({"ip_failed_users": 3, "failed_logins": 3, "login_count": 12, "hour_usual": false}),
	)
	pdp.controls.risk.score == 1 with input as fx_req(req) with data.tenants as fx_tenants({})
	r := fx_run(req, {})
	fx_codes(r.deny) == {"risk.deny"}
}

test_risk_no_signals_no_factors if {
	r := fx_run({}, {})
	r.risk_factors == set()
	pdp.controls.risk.score == 0 with input as fx_input with data.tenants as fx_tenants({})
	{
		"rule": "risk.deny", "code": "risk.deny", "effect": "deny",
		"message": "risk score 0 is below the deny threshold 0.9",
	} in r.checks
}

test_risk_custom_factors_count if {
	custom := {{"name": "custom.vpn_exit", "weight": 0.8, "detail": "commercial VPN exit"}}
	challenges := pdp.challenge with input as fx_input
		with data.tenants as fx_tenants({})
		with data.pdp.custom.risk_factors as custom
	fx_codes(challenges) == {"risk.step_up"}
}

test_risk_thresholds_default_when_missing if {
	tenants := {"acme": {"plan": "enterprise", "environments": {"production": json.remove(fx_policy, ["risk"])}}}
	req := fx_req(risk_with_profile({"failed_logins": 3, "ip_failed_users": 3, "login_count": 12, "hour_usual": false}))
	denies := pdp.deny with input as req with data.tenants as tenants
	fx_codes(denies) == {"risk.deny"}
}

test_risk_silent_for_unknown_tenant if {
	r := fx_run(object.union({"tenant": "globex"}, risk_with_profile({"failed_logins": 9})), {})
	r.risk_factors == set()
	fx_rule(r.checks, "risk.") == set()
}

# ---------------------------------------------------------------------------
# Quiet flags

risk_known_user := object.union(
	risk_with_profile({}),
	{"signals": {"ip": {"denied": false, "denied_by": "", "allowed": false, "suspicious": false, "suspicious_by": ""}}},
)

# The risk control's factors_quiet: its first body (the known user on a
# managed device) holds when the profile has no travel, as for most users:
# with the exact body forced off it alone answers, and it still refuses
# impossible travel.
test_risk_factors_quiet_first_body_holds_without_travel if {
	pdp.controls.risk.factors_quiet with input as fx_req(risk_known_user)
		with data.tenants as fx_tenants({})
		with data.pdp.controls.risk.travel_impossible as true
	not pdp.controls.risk.factors_quiet with input as fx_req(object.union(risk_known_user, risk_travel(5000, 5000)))
		with data.tenants as fx_tenants({})
		with data.pdp.controls.risk.travel_impossible as true
}

# Without a profile (an unknown user) no factor that reads it can apply:
# the location part and the exact body hold.
test_risk_factors_quiet_without_a_profile if {
	req := {"signals": {"ip": risk_known_user.signals.ip}}
	pdp.controls.risk.location_quiet with input as fx_req(req) with data.tenants as fx_tenants({})
	pdp.controls.risk.factors_quiet with input as fx_req(req) with data.tenants as fx_tenants({})
}
