# Data protection: direct database queries and cache key isolation.
#
# Reads policy.allow_direct_query, policy.key_isolation, input.action.name,
# input.tenant, input.environment.
#
# Direct query: the action "db.direct_query" is denied unless the
# environment sets allow_direct_query (the production preset does not).
#
# Cache namespace: every cache action ("cache.*": cache.get, cache.set, ...)
# carries an obligation telling the PEP which key prefix to use:
#   key_isolation true   "<tenant>:<environment>:"  keys never leave the
#                        tenant's environment
#   key_isolation false  "shared:"  one namespace shared by every workspace
#                        that also turned isolation off (the guide's default
#                        of shared keys); isolated tenants never see it
#
# Emits:
#   deny       data.direct_query_disabled  (rule data.direct_query)
#   obligation cache_namespace {prefix, scope: "tenant" | "shared"}
package pdp.controls.data_protection

import data.pdp.policy

deny contains {
	"code": "data.direct_query_disabled",
	"message": sprintf("direct database queries are disabled in environment %q", [input.environment]),
	"rule": "data.direct_query",
} if {
	input.action.name == "db.direct_query"
	policy
	not policy.allow_direct_query == true
}

checks contains {
	"rule": "data.direct_query",
	"code": "data.direct_query_disabled",
	"effect": "deny",
	"message": sprintf("direct database queries are allowed in environment %q", [input.environment]),
} if {
	input.action.name == "db.direct_query"
	policy.allow_direct_query == true
}

obligations contains {"kind": "cache_namespace", "params": cache_namespace} if {
	glob.match("cache.*", null, input.action.name)
	policy
}

# Quiet: neither a direct query nor a cache action.
default quiet := false

quiet if {
	input.action.name != "db.direct_query"
	glob.match("cache.*", null, input.action.name) == false
}

quiet if not policy

cache_namespace := {
	"prefix": sprintf("%s:%s:", [input.tenant, input.environment]),
	"scope": "tenant",
} if {
	policy.key_isolation == true
} else := {"prefix": "shared:", "scope": "shared"}
