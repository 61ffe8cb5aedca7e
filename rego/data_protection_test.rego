package pdp_test

# data_protection.rego: direct queries and cache key namespaces.

data_action(name) := {"action": {"name": name, "resource": "orders"}}

test_data_direct_query_denied_by_default if {
	r := fx_run(data_action("db.direct_query"), {})
	r.deny == {{
		"code": "data.direct_query_disabled",
		"message": "direct database queries are disabled in environment \"production\"",
		"rule": "data.direct_query",
	}}
	r.decision.decision == "deny"
}

test_data_direct_query_allowed if {
	r := fx_run(data_action("db.direct_query"), {"allow_direct_query": true})
	r.deny == set()
	{
		"rule": "data.direct_query", "code": "data.direct_query_disabled", "effect": "deny",
		"message": "direct database queries are allowed in environment \"production\"",
	} in r.checks
}

test_data_other_actions_are_untouched if {
	every name in ["api.read", "db.query", "db.direct_query.explain", "cachex.get", "cache"] {
		r := fx_run(data_action(name), {})
		fx_rule(r.deny, "data.") == set()
		fx_rule(r.checks, "data.") == set()
		r.obligations == set()
	}
}

test_data_cache_namespace_isolated if {
	r := fx_run(data_action("cache.get"), {})
	r.obligations == {{"kind": "cache_namespace", "params": {"prefix": "acme:production:", "scope": "tenant"}}}
	r.decision.obligations == [{"kind": "cache_namespace", "params": {"prefix": "acme:production:", "scope": "tenant"}}]
}

test_data_cache_namespace_shared if {
	r := fx_run(data_action("cache.items.set"), {"key_isolation": false})
	r.obligations == {{"kind": "cache_namespace", "params": {"prefix": "shared:", "scope": "shared"}}}
}

test_data_silent_for_unknown_tenant if {
	r := fx_run(object.union(data_action("cache.get"), {"tenant": "globex"}), {})
	r.obligations == set()
	fx_rule(r.deny, "data.") == set()
}
