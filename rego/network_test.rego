package pdp_test

import data.pdp

# network.rego: IP lists from server signals and from the policy fallback
# (IPv4 and IPv6), and country restrictions.

network_ip(ip) := {"network": {"ip": ip}}

network_signal(s) := {"signals": {"ip": object.union(
	{"denied": false, "denied_by": "", "allowed": false, "suspicious": false, "suspicious_by": ""},
	s,
)}}

network_deny_codes(req, pol) := fx_codes(fx_rule(fx_run(req, pol).deny, "network."))

# ---------------------------------------------------------------------------
# Deny list

test_network_denied_by_signal if {
	r := fx_run(network_signal({"denied": true, "denied_by": "198.51.100.0/24 (threat feed spamhaus)"}), {})
	r.deny == {{
		"code": "network.ip_denied",
		"message": "IP 203.0.113.7 is denied by 198.51.100.0/24 (threat feed spamhaus)",
		"rule": "network.ip_denied",
	}}
}

test_network_denied_by_signal_without_evidence if {
	r := fx_run(network_signal({"denied": true}), {})
	some d in r.deny
	d.message == "IP 203.0.113.7 is denied by a deny list"
}

test_network_signal_is_authoritative if {
	# the server computed signals.ip: the policy list is not matched again
	r := fx_run(network_signal({}), {"ip_denylist": ["203.0.113.0/24"]})
	fx_rule(r.deny, "network.") == set()
	{
		"rule": "network.ip_denied", "code": "network.ip_denied", "effect": "deny",
		"message": "IP 203.0.113.7 is on no deny list",
	} in r.checks
}

test_network_denylist_fallback_ipv4 if {
	pol := {"ip_denylist": ["198.51.100.0/24", "203.0.113.0/28"]}
	r := fx_run({}, pol)
	r.deny == {{
		"code": "network.ip_denied",
		"message": "IP 203.0.113.7 is denied by ip_denylist entry 203.0.113.0/28",
		"rule": "network.ip_denied",
	}}
	network_deny_codes(network_ip("203.0.113.16"), pol) == set()
}

test_network_denylist_fallback_ipv6 if {
	pol := {"ip_denylist": ["2001:db8:bad::/48", "198.51.100.0/24"]}
	network_deny_codes(network_ip("2001:db8:bad::1"), pol) == {"network.ip_denied"}
	network_deny_codes(network_ip("2001:db8:bad:ffff:ffff:ffff:ffff:ffff"), pol) == {"network.ip_denied"}
	network_deny_codes(network_ip("2001:db8:bae::1"), pol) == set()

	# families never cross
	network_deny_codes(network_ip("2001:db8::1"), {"ip_denylist": ["0.0.0.0/0"]}) == set()
	network_deny_codes(network_ip("203.0.113.7"), {"ip_denylist": ["::/0"]}) == set()
}

test_network_denylist_names_every_matching_entry if {
	r := fx_run({}, {"ip_denylist": ["203.0.113.0/24", "203.0.113.7/32"]})
	some d in r.deny
	d.message == "IP 203.0.113.7 is denied by ip_denylist entry 203.0.113.0/24, 203.0.113.7/32"
}

test_network_no_ip_no_deny_check if {
	r := fx_run(network_ip(""), {"ip_denylist": ["0.0.0.0/0"]})
	fx_rule(r.deny, "network.") == set()
	fx_rule(r.checks, "network.ip_denied") == set()
}

# ---------------------------------------------------------------------------
# Allow list

test_network_allowlist_missing_ip if {
	r := fx_run(network_ip(""), {"ip_allowlist": ["203.0.113.0/24"]})
	r.deny == {{
		"code": "network.ip_missing",
		"message": "the tenant allows only listed networks (203.0.113.0/24) and the request gives no IP",
		"rule": "network.ip_allowlist",
	}}
}

test_network_allowlist_by_signal if {
	pol := {"ip_allowlist": ["10.0.0.0/8"]}

	# the signal decides, whatever the policy list holds
	ok := fx_run(network_signal({"allowed": true}), pol)
	fx_rule(ok.deny, "network.") == set()
	{
		"rule": "network.ip_allowlist", "code": "network.ip_not_allowed", "effect": "deny",
		"message": "IP 203.0.113.7 is in the allow list",
	} in ok.checks

	no := fx_run(network_signal({"allowed": false}), {"ip_allowlist": ["203.0.113.0/24"]})
	no.deny == {{
		"code": "network.ip_not_allowed",
		"message": "IP 203.0.113.7 is not in the allow list (203.0.113.0/24)",
		"rule": "network.ip_allowlist",
	}}
}

test_network_allowlist_fallback_ipv4 if {
	pol := {"ip_allowlist": ["198.51.100.0/24", "203.0.113.0/25"]}
	network_deny_codes({}, pol) == set()
	network_deny_codes(network_ip("203.0.113.127"), pol) == set()
	network_deny_codes(network_ip("203.0.113.128"), pol) == {"network.ip_not_allowed"}
	network_deny_codes(network_ip("192.0.2.1"), pol) == {"network.ip_not_allowed"}
}

test_network_allowlist_fallback_ipv6 if {
	pol := {"ip_allowlist": ["2001:db8:1::/48", "203.0.113.0/24"]}
	network_deny_codes(network_ip("2001:db8:1::42"), pol) == set()
	network_deny_codes(network_ip("2001:db8:1:ffff::1"), pol) == set()
	network_deny_codes(network_ip("2001:db8:2::1"), pol) == {"network.ip_not_allowed"}
	network_deny_codes(network_ip("::1"), pol) == {"network.ip_not_allowed"}

	# an IPv6 address is not in an IPv4-only list, nor the other way round
	network_deny_codes(network_ip("2001:db8:1::42"), {"ip_allowlist": ["0.0.0.0/0"]}) == {"network.ip_not_allowed"}
	network_deny_codes(network_ip("203.0.113.7"), {"ip_allowlist": ["::/0"]}) == {"network.ip_not_allowed"}
	network_deny_codes(network_ip("2001:db8:1::42"), {"ip_allowlist": ["::/0"]}) == set()
}

test_network_allowlist_and_denylist_together if {
	pol := {"ip_allowlist": ["203.0.113.0/24"], "ip_denylist": ["203.0.113.7/32"]}
	network_deny_codes({}, pol) == {"network.ip_denied"}
}

test_network_unrestricted_allowlist_is_silent if {
	r := fx_run(network_ip(""), {})
	fx_rule(r.deny, "network.") == set()
	fx_rule(r.checks, "network.ip_allowlist") == set()
}

# ---------------------------------------------------------------------------
# Countries

network_country(c) := {"network": {"country": c}}

network_geo(c) := {"network": {"country": ""}, "signals": {"geo": {"country": c, "city": ""}}}

test_network_country_blocked if {
	r := fx_run(network_country("KP"), {"countries": {"blocked": ["KP", "IR"]}})
	r.deny == {{
		"code": "network.country_blocked",
		"message": "country KP (request) is blocked",
		"rule": "network.country_blocked",
	}}
}

test_network_country_from_geoip if {
	r := fx_run(network_geo("IR"), {"countries": {"blocked": ["KP", "IR"]}})
	some d in r.deny
	d.message == "country IR (GeoIP) is blocked"

	# the request's own country wins over GeoIP
	network_deny_codes(object.union(network_geo("IR"), network_country("FR")), {"countries": {"blocked": ["IR"]}}) == set()
}

test_network_country_is_uppercased if {
	network_deny_codes(network_country("kp"), {"countries": {"blocked": ["KP"]}}) == {"network.country_blocked"}
}

test_network_country_not_blocked_check if {
	r := fx_run({}, {"countries": {"blocked": ["KP"]}})
	{
		"rule": "network.country_blocked", "code": "network.country_blocked", "effect": "deny",
		"message": "country FR is not blocked",
	} in r.checks
}

test_network_unknown_country_passes_a_blocked_list if {
	r := fx_run(network_country(""), {"countries": {"blocked": ["KP"]}})
	fx_rule(r.deny, "network.") == set()
	{
		"rule": "network.country_blocked", "code": "network.country_blocked", "effect": "deny",
		"message": "country unknown; the blocked list cannot apply",
	} in r.checks
}

test_network_country_allowed_list if {
	pol := {"countries": {"allowed": ["FR", "DE"]}}
	ok := fx_run({}, pol)
	fx_rule(ok.deny, "network.") == set()
	{
		"rule": "network.country_allowed", "code": "network.country_not_allowed", "effect": "deny",
		"message": "country FR is allowed",
	} in ok.checks

	no := fx_run(network_country("BR"), pol)
	no.deny == {{
		"code": "network.country_not_allowed",
		"message": "country BR (request) is not allowed; allowed: DE, FR",
		"rule": "network.country_allowed",
	}}

	geo := fx_run(network_geo("DE"), pol)
	fx_rule(geo.deny, "network.") == set()
}

test_network_unknown_country_fails_an_allowed_list if {
	r := fx_run(network_country(""), {"countries": {"allowed": ["FR"]}})
	r.deny == {{
		"code": "network.country_unknown",
		"message": "the request's country is unknown (no network.country, no GeoIP result) and only FR are allowed",
		"rule": "network.country_allowed",
	}}

	# a GeoIP result without a country is still unknown
	network_deny_codes(network_geo(""), {"countries": {"allowed": ["FR"]}}) == {"network.country_unknown"}
}

test_network_blocked_and_allowed if {
	pol := {"countries": {"allowed": ["FR", "KP"], "blocked": ["KP"]}}
	network_deny_codes(network_country("KP"), pol) == {"network.country_blocked"}
}

# ---------------------------------------------------------------------------
# Quiet flags

# The network control's quiet: its first body (no allow lists, the
# country not blocked) holds when the country is unknown: with the other
# bodies forced off, it alone answers, and it still refuses a blocked
# country.
test_network_quiet_first_body_holds_without_a_country if {
	req := object.union(network_signal({}), {"network": {"country": ""}})
	pdp.controls.network.quiet with input as fx_req(req)
		with data.tenants as fx_tenants({"countries": {"blocked": ["KP"]}})
		with data.pdp.controls.network.allowlist_quiet as false
	not pdp.controls.network.quiet with input as fx_req(object.union(req, {"network": {"country": "KP"}}))
		with data.tenants as fx_tenants({"countries": {"blocked": ["KP"]}})
		with data.pdp.controls.network.allowlist_quiet as false
}

# A policy without the IP allow list or the country lists restricts
# nothing, so those parts are quiet.
test_network_quiet_without_the_lists if {
	pdp.controls.network.allowlist_quiet with input as fx_input with data.tenants as fx_tenants_without(["ip_allowlist"])
	pdp.controls.network.countries_quiet with input as fx_input with data.tenants as fx_tenants_without(["countries"])
	pdp.controls.network.countries_quiet with input as fx_input
		with data.tenants as fx_tenants_without([["countries", "allowed"]])
}
