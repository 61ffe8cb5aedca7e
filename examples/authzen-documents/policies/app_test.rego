package pdp.custom_test

import data.pdp

tenants := {"docs": {"plan": "enterprise", "environments": {"production": {"roles": {"admin": {"actions": ["*"]}}}}}}

request(user, action, doc) := {
	"tenant": "docs",
	"environment": "production",
	"time_ns": 1764669600000000000,
	"subject": {"id": user, "type": "user", "roles": [], "groups": [], "email": "", "mfa_enrolled": false, "tenant": ""},
	"action": {"name": action, "resource": ""},
	"resource": {"type": "document", "id": doc, "properties": {}},
	"authentication": {"provider": "", "methods": [], "acr": ""},
}

decide(user, action, doc) := d if {
	d := pdp.decision with input as request(user, action, doc) with data.tenants as tenants
}

codes(d) := {r.code | some r in d.reasons}

test_the_owner_may_do_everything if {
	every action in ["read", "edit", "share"] {
		d := decide("alice", action, "roadmap")
		d.decision == "allow"
		"app.owner" in codes(d)
	}
}

test_a_shared_document_may_be_read_not_edited if {
	decide("bob", "read", "roadmap").decision == "allow"
	decide("bob", "read", "pricing").decision == "allow" # shared with eng
	"authz.role_forbidden" in codes(decide("bob", "edit", "roadmap"))
	decide("carol", "read", "roadmap").decision == "deny"
}

test_deleting_needs_a_recent_second_factor if {
	d := decide("alice", "delete", "roadmap")
	d.decision == "challenge"
	d.step_ups == [{"kind": "mfa", "reason_code": "app.delete_needs_mfa", "max_age_ns": 900000000000}]

	fresh := object.union(request("alice", "delete", "roadmap"), {"authentication": {"provider": "", "methods": [], "acr": "", "mfa_verified_at_ns": 1764669300000000000}})
	allowed := pdp.decision with input as fresh with data.tenants as tenants
	allowed.decision == "allow"
}

test_other_tenants_are_untouched if {
	inp := object.union(request("alice", "read", "roadmap"), {"tenant": "acme"})
	not pdp.custom.document with input as inp
}

test_the_directory_lists_what_search_decides if {
	inp := {"tenant": "docs", "environment": "production"}
	subjects := pdp.custom.subjects with input as inp
	{s.id | some s in subjects} == {"alice", "bob", "carol"}
	resources := pdp.custom.resources with input as inp
	{r.id | some r in resources} == {"roadmap", "pricing", "handbook"}
	actions := pdp.custom.actions with input as inp
	actions == {"read", "edit", "share", "delete"}
}
