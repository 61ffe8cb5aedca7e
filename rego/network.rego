# Network controls: IP deny and allow lists, and geographic restrictions.
#
# Reads policy.ip_denylist, policy.ip_allowlist (CIDRs, IPv4 and IPv6),
# policy.countries {allowed, blocked} (ISO 3166 alpha-2), input.network.ip,
# input.network.country, input.signals.ip and input.signals.geo.
#
# IP lists. The server matches the request's IP against a prefix table of
# the tenant's lists, the admin IP rules (AddIPRule, ImportIPList: manual,
# threat feeds, auto-blocks) and the global lists, and passes the result as
# input.signals.ip {denied, denied_by, allowed}. When signals.ip is present
# it is the only source: it already covers the policy lists. When it is
# absent although the request has an IP (under `opa test`, or any caller
# that evaluates the policy without the server), the policy's own lists are
# matched with net.cidr_contains, so the policy stays correct on its own.
#
# Countries. The country is input.network.country when given, else the
# GeoIP country in input.signals.geo. A blocked country denies. With an
# allowed list, a country outside it denies, and so does an unknown country:
# an allow list cannot be proven without a location. With only a blocked
# list, an unknown country passes (nothing says it is blocked).
#
# Emits (deny):
#   network.ip_denied            rule network.ip_denied
#   network.ip_missing           rule network.ip_allowlist
#   network.ip_not_allowed       rule network.ip_allowlist
#   network.country_blocked      rule network.country_blocked
#   network.country_not_allowed  rule network.country_allowed
#   network.country_unknown      rule network.country_allowed (new code)
package pdp.controls.network

import data.pdp.policy
import data.pdp.text_list

ip := object.get(input, ["network", "ip"], "")

# ---------------------------------------------------------------------------
# Deny list

# The evidence of a deny-list match; "" when the IP is not denied. (The
# cases exclude each other, for partial evaluation; the default keeps it
# one support rule.)
default denied_by := ""

denied_by := by if {
	input.signals.ip.denied == true
	by := object.get(input.signals.ip, "denied_by", "")
	by != ""
}

denied_by := "a deny list" if {
	input.signals.ip.denied == true
	object.get(input.signals.ip, "denied_by", "") == ""
}

# The hits need the signals absent: exclusive with the two above.
denied_by := sprintf("ip_denylist entry %s", [text_list(denylist_hits)]) if {
	count(denylist_hits) > 0
}

# Fallback matching, only when the server did not compute signals.ip.
denylist_hits contains cidr if {
	not input.signals.ip
	ip != ""
	some cidr in policy.ip_denylist
	net.cidr_contains(cidr, ip)
}

deny contains {
	"code": "network.ip_denied",
	"message": sprintf("IP %s is denied by %s", [ip, by]),
	"rule": "network.ip_denied",
} if {
	policy
	by := denied_by
	by != ""
}

checks contains {
	"rule": "network.ip_denied",
	"code": "network.ip_denied",
	"effect": "deny",
	"message": sprintf("IP %s is on no deny list", [ip]),
} if {
	policy
	ip != ""
	denied_by == ""
}

# ---------------------------------------------------------------------------
# Allow list

default allowlisted := false

allowlisted if input.signals.ip.allowed == true

allowlisted if {
	not input.signals.ip
	some cidr in policy.ip_allowlist
	net.cidr_contains(cidr, ip)
}

deny contains {
	"code": "network.ip_missing",
	"message": sprintf("the tenant allows only listed networks (%s) and the request gives no IP", [text_list(policy.ip_allowlist)]),
	"rule": "network.ip_allowlist",
} if {
	count(policy.ip_allowlist) > 0
	ip == ""
}

deny contains {
	"code": "network.ip_not_allowed",
	"message": sprintf("IP %s is not in the allow list (%s)", [ip, text_list(policy.ip_allowlist)]),
	"rule": "network.ip_allowlist",
} if {
	count(policy.ip_allowlist) > 0
	ip != ""
	not allowlisted
}

checks contains {
	"rule": "network.ip_allowlist",
	"code": "network.ip_not_allowed",
	"effect": "deny",
	"message": sprintf("IP %s is in the allow list", [ip]),
} if {
	count(policy.ip_allowlist) > 0
	ip != ""
	allowlisted
}

# ---------------------------------------------------------------------------
# Countries

# The request's country, uppercase; "" when unknown (no list holds "").
default country := ""

country := upper(input.network.country) if {
	input.network.country != ""
}

country := upper(input.signals.geo.country) if {
	object.get(input, ["network", "country"], "") == ""
	input.signals.geo.country != ""
}

default country_source := "GeoIP"

country_source := "request" if {
	input.network.country != ""
}

deny contains {
	"code": "network.country_blocked",
	"message": sprintf("country %s (%s) is blocked", [country, country_source]),
	"rule": "network.country_blocked",
} if {
	country_blocked
}

country_blocked if country in policy.countries.blocked

default country_allowed := false

country_allowed if country in policy.countries.allowed

checks contains {
	"rule": "network.country_blocked",
	"code": "network.country_blocked",
	"effect": "deny",
	"message": not_blocked_text,
} if {
	count(policy.countries.blocked) > 0
	not country_blocked
}

not_blocked_text := sprintf("country %s is not blocked", [country]) if {
	country != ""
} else := "country unknown; the blocked list cannot apply"

deny contains {
	"code": "network.country_not_allowed",
	"message": sprintf("country %s (%s) is not allowed; allowed: %s", [code, country_source, text_list(policy.countries.allowed)]),
	"rule": "network.country_allowed",
} if {
	count(policy.countries.allowed) > 0
	code := country
	code != ""
	not country_allowed
}

deny contains {
	"code": "network.country_unknown",
	"message": sprintf("the request's country is unknown (no network.country, no GeoIP result) and only %s are allowed", [text_list(policy.countries.allowed)]),
	"rule": "network.country_allowed",
} if {
	count(policy.countries.allowed) > 0
	country == ""
}

checks contains {
	"rule": "network.country_allowed",
	"code": "network.country_not_allowed",
	"effect": "deny",
	"message": sprintf("country %s is allowed", [country]),
} if {
	country_allowed
}

# ---------------------------------------------------------------------------
# Quiet: no deny-list match (the server's signals say so), the allow list
# empty or passed, and the country neither blocked nor outside an allow
# list. Without signals.ip the fallback matching decides, in the rules.
default quiet := false

quiet if {
	input.signals.ip.denied == false
	p := policy
	count(p.ip_allowlist) == 0
	count(p.countries.allowed) == 0
	blocked := p.countries.blocked
	not country in blocked
}

quiet if {
	input.signals.ip.denied == false
	allowlist_quiet
	countries_quiet
}

default allowlist_quiet := false

allowlist_quiet if count(object.get(policy, "ip_allowlist", [])) == 0

allowlist_quiet if {
	input.signals.ip.allowed == true
	input.network.ip != ""
}

# Neither list names a country: nothing to look up.
default countries_quiet := false

countries_quiet if {
	count(object.get(policy, ["countries", "blocked"], [])) == 0
	count(object.get(policy, ["countries", "allowed"], [])) == 0
}

countries_quiet if {
	not country_blocked
	count(object.get(policy, ["countries", "allowed"], [])) == 0
}

countries_quiet if {
	not country_blocked
	country_allowed
}
