# The application authorization of tenant docs: who may read, edit, share
# and delete which document. It grants access through the grant set (the
# tenant's roles grant none of these actions), reads the subject and the
# resource of the AuthZEN request, and knows users, groups and documents
# from the data below; an application would generate this module from its
# database. Every built-in control (IP lists, countries, session timeouts,
# incident response) still denies and challenges on top.
package pdp.custom

# The application's directory.
users := {
	"alice": {"groups": ["eng"]},
	"bob": {"groups": ["eng"]},
	"carol": {"groups": ["sales"]},
}

documents := {
	"roadmap": {"owner": "alice", "shared_with_users": ["bob"], "shared_with_groups": []},
	"pricing": {"owner": "carol", "shared_with_users": [], "shared_with_groups": ["eng"]},
	"handbook": {"owner": "alice", "shared_with_users": [], "shared_with_groups": ["eng", "sales"]},
}

document_actions := {"read", "edit", "share", "delete"}

app if input.tenant == "docs"

# The document the request names.
document := documents[input.resource.id] if {
	app
	input.resource.type == "document"
}

# The owner may do every document action.
grant contains {
	"code": "app.owner",
	"message": sprintf("%s owns document %s", [input.subject.id, input.resource.id]),
	"rule": "app.owner",
} if {
	document.owner == input.subject.id
	input.action.name in document_actions
}

# A document shared with a user or one of their groups may be read.
grant contains {
	"code": "app.shared",
	"message": sprintf("document %s is shared with %s", [input.resource.id, input.subject.id]),
	"rule": "app.shared",
} if {
	input.action.name == "read"
	shared_with_subject
}

shared_with_subject if input.subject.id in document.shared_with_users

shared_with_subject if {
	some group in users[input.subject.id].groups
	group in document.shared_with_groups
}

# Deleting needs a second factor within the last 15 minutes, even for the
# owner: a challenge, which AuthZEN carries as a step-up obligation.
challenge contains {
	"code": "app.delete_needs_mfa",
	"message": "deleting a document needs a second factor within 15 minutes",
	"rule": "app.delete_needs_mfa",
	"step_ups": [{"kind": "mfa", "reason_code": "app.delete_needs_mfa", "max_age_ns": 900000000000}],
} if {
	document
	input.action.name == "delete"
	not recent_mfa
}

recent_mfa if input.time_ns - input.authentication.mfa_verified_at_ns <= 900000000000

# What AuthZEN search decides: every user, document and action the
# application knows. Each candidate is decided like an evaluation.
subjects contains {"type": "user", "id": id} if {
	app
	some id, _ in users
}

resources contains {"type": "document", "id": id, "properties": {"owner": doc.owner}} if {
	app
	some id, doc in documents
}

actions contains action if {
	app
	some action in document_actions
}
