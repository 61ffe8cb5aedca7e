# The core of the built-in library: the helpers every module uses, the
# tenant gate, role-based authorization, and the one document the server
# evaluates, data.pdp.decision. The contract (input, data, decision) is in
# README.md beside this file.
#
# Names defined here for other modules: tenant, policy, action_matches, the
# library_* sets and the risk thresholds core_step_up_threshold and
# core_deny_threshold. Everything else this file defines is prefixed core_
# and is internal. A control imports what it reads
# (import data.pdp.policy), as it imports the text_* helpers of text.rego
# and the session_* values of session_timeout.rego.
#
# Evaluation cost. data.pdp.decision is evaluated for every request, so the
# library is laid out for the request nothing objects to. Authors are not
# concerned: their modules add to deny, challenge, ... as README.md says.
#
#  - Controls. Each control is a package of its own, pdp.controls.<control>
#    (mfa.rego is pdp.controls.mfa, ...), adding what it finds to its own
#    deny, challenge, notices, obligations, risk_factors and checks. The
#    core gathers every control package's sets into library_deny,
#    library_challenge, library_notices, library_obligations and
#    library_risk_factors, and those into deny, challenge, notices,
#    obligations and risk_factors, so data.pdp.deny still holds every
#    deny, the library's and the authors'. No list names the controls: a
#    new file in package pdp.controls.<control> is read as it is.
#  - Quiet flags. Each control defines quiet (default false), true only
#    when none of its deny, challenge, notices and obligations can fire,
#    and a control adding risk factors factors_quiet, the same for them. A
#    flag may be false although nothing fires (that only costs time); it
#    must never be true when something would. The core reads a control's
#    sets only when its flag is false, and core_quiet holds only when no
#    control's quiet is false: then the library_* sets are not evaluated
#    and the decision is the plain allow document, built without sorting
#    or projecting anything. A flag usually has a first body for the
#    common case, written without helper rules, and an exact one after it.
#  - Library only. The engine adds a module defining core_library_only as
#    true when no author module is in package pdp or below it; the plain
#    allow then does not read the sets either (opa test never has it, and
#    always reads them).
#  - Checks and the explanation are computed only when input.explain is
#    true; messages are built in rule heads, so only for rules that fire.
#  - On the common path an absent field is tested with
#    object.get(input, path, null) == null: a "not" costs more, and so
#    does a body evaluated in vain (topdown evaluates every body of a
#    complete rule whose head is not constant).
#
# Specialisation. The server partially evaluates deny, challenge, notices,
# obligations, risk_factors and core_session per tenant environment, the
# request unknown, and evaluates what remains (server/internal/engine,
# TestLibraryResidualsReferenceNoLibraryRule). Every rule those sets reach
# must fold into residual rules of its own, so on their way:
#  - no "else" on a rule that reads the request: partial evaluation leaves
#    ordered rules unevaluated. Write the cases as bodies that exclude each
#    other, or as a default and one body;
#  - no comprehension that reads a rule: partial evaluation keeps a
#    comprehension over the request as it is. Bind the rule's value to a
#    variable first;
#  - a helper value read in several places gets a default, so that it
#    stays one support rule, computed once, instead of being inlined into
#    every reader;
#  - no helper rule or function without a default in the head of a
#    control's contribution: partial evaluation inlines the contribution
#    into the core's library_* set, and a helper inlined in turn into its
#    head leaves a variable there unbound (OPA issue 5226). Write the
#    value out, or give the helper a default;
#  - a value the engine keeps as a support rule (its sharedValues) lives
#    outside pdp.controls: partial evaluation does not go through the
#    control packages past a rule it must not inline.
# The decision document itself (core_full_document and the rules below it)
# is built in Go from those sets on the specialised path, and stays the
# reference here.
#
# A quiet flag's body must hold when an optional field is absent, so no
# negated comparison or call reads a field that may be missing: OPA binds
# it before the "not" and the body fails (rego/README.md, Conventions).
#
# Three Go tests of server/internal/engine hold this together:
# TestLibraryQuietFlags (every control adding to a set defines the flag the
# core reads it under), TestLibraryQuietIsSound (on generated requests and
# policies, forcing a true flag to false adds nothing to the sets) and
# TestLibraryGolden (the decisions on those requests, with and without
# author modules and the explanation, are those of
# server/internal/engine/testdata/library_golden.txt, written from the
# library before this layout). In topdown every rule evaluated, every
# reference to another rule, every "not" and every built-in call costs;
# go test -bench BenchmarkDecide ./server/internal/engine/ measures a change,
# and bench/README.md keeps the numbers.
package pdp

# The tenant's data; undefined for an unknown tenant.
tenant := data.tenants[input.tenant]

# The effective policy of the requested environment; undefined when the
# tenant or the environment is unknown, so that every control reading it
# stays silent.
policy := data.tenants[input.tenant].environments[input.environment]

# action_matches is true when the action name matches the glob pattern.
# "*" matches any sequence of characters, dots included: "admin.*" matches
# "admin.users.delete", "*.delete" matches "files.delete", "*" matches all.
action_matches(pattern, name) if glob.match(pattern, null, name)

# ---------------------------------------------------------------------------
# The gate: an unknown tenant or environment denies with that reason alone.

core_gate := {
	"code": "tenant.unknown",
	"message": sprintf("no policy for tenant %q", [object.get(input, "tenant", "")]),
	"rule": "core.tenant_unknown",
} if {
	not data.tenants[object.get(input, "tenant", "")]
}

core_gate := {
	"code": "tenant.environment_unknown",
	"message": sprintf("tenant %q declares no environment %q", [input.tenant, object.get(input, "environment", "")]),
	"rule": "core.environment_unknown",
} if {
	tenant
	not tenant.environments[object.get(input, "environment", "")]
}

# A truthy policy means that neither gate rule applies.
library_deny contains core_gate if not policy

checks contains {
	"rule": "core.tenant_unknown",
	"code": "tenant.unknown",
	"effect": "deny",
	"message": sprintf("tenant %q has a policy", [input.tenant]),
} if tenant

checks contains {
	"rule": "core.environment_unknown",
	"code": "tenant.environment_unknown",
	"effect": "deny",
	"message": sprintf("tenant %q declares environment %q", [input.tenant, input.environment]),
} if policy

# ---------------------------------------------------------------------------
# Workspace isolation: a subject of another tenant is denied.

library_deny contains {
	"code": "tenant.isolation",
	"message": sprintf("subject %q belongs to tenant %q, not %q", [object.get(input.subject, "id", ""), input.subject.tenant, input.tenant]),
	"rule": "core.tenant_isolation",
} if {
	input.subject.tenant != ""
	input.subject.tenant != input.tenant
}

checks contains {
	"rule": "core.tenant_isolation",
	"code": "tenant.isolation",
	"effect": "deny",
	"message": core_isolation_ok,
} if policy

core_isolation_ok := sprintf("subject belongs to tenant %q", [input.tenant]) if {
	input.subject.tenant == input.tenant
} else := "subject names no tenant" if {
	object.get(input, ["subject", "tenant"], "") == ""
}

# ---------------------------------------------------------------------------
# Role-based authorization, least privilege: an action is allowed only when
# some role of the subject lists a matching glob in policy.roles.

# Some role of the subject grants the action; evaluation stops at the first
# matching pattern. (Partial evaluation unrolls the tenant's roles into one
# test per role and pattern.)
default core_role_granted := false

core_role_granted if {
	some role in input.subject.roles
	some pattern in policy.roles[role].actions
	glob.match(pattern, null, input.action.name)
}

library_deny contains {
	"code": "authz.role_forbidden",
	"message": core_role_forbidden_message,
	"rule": "core.role_forbidden",
} if {
	policy
	not core_access_granted
}

# ---------------------------------------------------------------------------
# Application authorization: the authors' grant set (package pdp.custom,
# elements shaped like a reason) grants an action no role grants, from
# what the authors know of subjects and resources (ownership, sharing, a
# directory loaded as Rego data). A grant only lifts the role check: every
# other control still denies and challenges. Roles are tried first, so the
# grants are evaluated only for an action no role grants.
default core_access_granted := false

core_access_granted if core_role_granted

core_access_granted if some _ in data.pdp.custom.grant

# core_codes are the codes of a set of reasons, sorted.
core_codes(xs) := sort([object.get(x, "code", "") | some x in xs])

# An action granted by the application's rules alone says which rules.
notices contains g if {
	policy
	not core_role_granted
	some g in data.pdp.custom.grant
}

checks contains {
	"rule": "core.role_forbidden",
	"code": "authz.role_forbidden",
	"effect": "deny",
	"message": sprintf("action %q granted by the application's rules (%s)", [
		input.action.name,
		concat(", ", core_codes(data.pdp.custom.grant)),
	]),
} if {
	policy
	not core_role_granted
	core_access_granted
}

# Messages must always be defined: an undefined message would drop the deny.
core_role_forbidden_message := sprintf("the subject has no role; action %q is not granted", [core_action_name]) if {
	count(object.get(input, ["subject", "roles"], [])) == 0
}

core_role_forbidden_message := sprintf("no role of the subject (%s) grants action %q", [concat(", ", input.subject.roles), core_action_name]) if {
	count(object.get(input, ["subject", "roles"], [])) > 0
}

core_action_name := object.get(input, ["action", "name"], "")

# The subject's roles that grant the action, each with the first pattern
# (in sorted order) that matched; only the explanation reads it.
core_granted_by[role] := min({pattern |
	some pattern in policy.roles[role].actions
	action_matches(pattern, input.action.name)
}) if {
	some role in input.subject.roles
	some pattern in policy.roles[role].actions
	action_matches(pattern, input.action.name)
}

checks contains {
	"rule": "core.role_forbidden",
	"code": "authz.role_forbidden",
	"effect": "deny",
	"message": sprintf("action %q granted by %s", [input.action.name, concat(", ", [sprintf("role %q (%s)", [role, pattern]) | some role, pattern in core_granted_by])]),
} if {
	policy
	core_role_granted
}

# ---------------------------------------------------------------------------
# Quiet: no rule of the library can add to deny, challenge, notices or
# obligations. The core's own rules cannot fire with a truthy policy (no
# gate), a subject of the same workspace (or of none) and a granted role;
# every control package answers for itself with its quiet flag, and no
# list names them: core_quiet reads every package under data.pdp.controls.
#
# A control package that adds to deny, challenge, notices or obligations
# defines "default quiet := false", and one that adds to risk_factors
# "default factors_quiet := false" (TestLibraryQuietFlags checks both): the
# core reads a control's sets only when its flag is false, so a control
# without its flag would be skipped.
default core_quiet := false

core_quiet if {
	policy
	input.subject.tenant in ["", input.tenant]
	core_access_granted
	not core_controls_loud
}

# Some control package's quiet flag is false. Partial evaluation unrolls
# the control packages into one negation each in core_quiet.
core_controls_loud if data.pdp.controls[_].quiet == false

# The library's contributions. Risk factors have their own flags: the risk
# control's step-up and deny read the score, that is the factors, so the
# factors cannot wait for core_quiet.
deny contains x if {
	core_quiet == false
	some x in library_deny
}

challenge contains x if {
	core_quiet == false
	some x in library_challenge
}

notices contains x if {
	core_quiet == false
	some x in library_notices
}

obligations contains x if {
	core_quiet == false
	some x in library_obligations
}

risk_factors contains x if {
	core_factors_loud
	some x in library_risk_factors
}

# Some control package's factors_quiet flag is false.
core_factors_loud if data.pdp.controls[_].factors_quiet == false

# The library's sets: the core's own rules above and below, and the sets
# of every control package (pdp.controls.<control>) whose flag is false.
# Each is defined even when no control adds to it.
library_deny contains x if {
	data.pdp.controls[c].quiet == false
	some x in data.pdp.controls[c].deny
}

library_challenge contains x if {
	data.pdp.controls[c].quiet == false
	some x in data.pdp.controls[c].challenge
}

library_notices contains x if {
	data.pdp.controls[c].quiet == false
	some x in data.pdp.controls[c].notices
}

library_obligations contains x if {
	data.pdp.controls[c].quiet == false
	some x in data.pdp.controls[c].obligations
}

library_risk_factors contains x if {
	data.pdp.controls[c].factors_quiet == false
	some x in data.pdp.controls[c].risk_factors
}

# The checks of every control, whatever its flag: only the explanation
# reads them.
checks contains x if some x in data.pdp.controls[_].checks

# ---------------------------------------------------------------------------
# Combining. Every partial set is read through data so that a set no module
# defines (or an absent data.pdp.custom package) is simply empty.

# Each set is the union of the elements of data.pdp.X and of
# data.pdp.custom.X, either of which may be undefined; the set of package
# pdp is taken as it is when the custom package adds nothing to it.
core_denies := data.pdp.deny if {
	is_set(data.pdp.deny)
	not data.pdp.custom.deny
} else := {x | some x in data.pdp.deny} | {x | some x in data.pdp.custom.deny}

core_challenges := data.pdp.challenge if {
	is_set(data.pdp.challenge)
	not data.pdp.custom.challenge
} else := {x | some x in data.pdp.challenge} | {x | some x in data.pdp.custom.challenge}

core_notices := data.pdp.notices if {
	is_set(data.pdp.notices)
	not data.pdp.custom.notices
} else := {x | some x in data.pdp.notices} | {x | some x in data.pdp.custom.notices}

core_obligations := data.pdp.obligations if {
	is_set(data.pdp.obligations)
	not data.pdp.custom.obligations
} else := {x | some x in data.pdp.obligations} | {x | some x in data.pdp.custom.obligations}

core_risk_factors := data.pdp.risk_factors if {
	is_set(data.pdp.risk_factors)
	not data.pdp.custom.risk_factors
} else := {x | some x in data.pdp.risk_factors} | {x | some x in data.pdp.custom.risk_factors}

core_checks := data.pdp.checks if {
	is_set(data.pdp.checks)
	not data.pdp.custom.checks
} else := {x | some x in data.pdp.checks} | {x | some x in data.pdp.custom.checks}

# core_sort_by orders a set of objects by the value under key, ties broken
# by the whole object, so that the result is deterministic.
core_sort_by(xs, key) := [x | some [_, x] in sort({[object.get(y, key, ""), y] | some y in xs})]

# core_reasons projects contributions onto reasons. A malformed element
# (missing keys) is kept as is, so that the server rejects the document
# instead of silently dropping a deny.
core_reasons(xs) := core_sort_by({object.filter(x, ["code", "message", "rule"]) | some x in xs}, "code")

# What enforcement decides: any deny wins over any challenge over allow.
core_outcome := "deny" if {
	count(core_denies) > 0
} else := "challenge" if {
	count(core_challenges) > 0
} else := "allow"

core_report_only if policy.report_only == true

# Per-rule report-only: reason codes the tenant observes without enforcing
# (policy.report_only_rules). Their rules still fire and are listed in the
# reasons, but the decision is what the other rules decide; the document
# then says enforced: false and would_decide the outcome with them.
core_report_only_codes := {c | some c in object.get(policy, "report_only_rules", [])}

core_enforced_denies := core_denies if {
	count(core_report_only_codes) == 0
} else := {d | some d in core_denies; code := d.code; not core_report_only_codes[code]}

core_enforced_challenges := core_challenges if {
	count(core_report_only_codes) == 0
} else := {c | some c in core_challenges; code := c.code; not core_report_only_codes[code]}

# What the enforced rules decide.
core_enforced_outcome := "deny" if {
	count(core_enforced_denies) > 0
} else := "challenge" if {
	count(core_enforced_challenges) > 0
} else := "allow"

# A report-only rule fired.
core_observed if {
	count(core_report_only_codes) > 0
	some x in (core_denies | core_challenges)
	core_report_only_codes[x.code]
}

# Obligations that act on a user or an address; report-only mode leaves
# them out, since carrying them out would be enforcing.
core_enforcing_obligations := {"suspend_user", "block_ip"}

core_obligation_list := [] if {
	count(core_obligations) == 0
} else := sort(core_obligations) if {
	not core_report_only
	count(core_report_only_codes) == 0
} else := sort({o | some o in core_obligations; not core_held(o)})

# An enforcing obligation held back: every one in report-only mode, and
# those a report-only rule asked for (params.reason names its code).
core_held(o) if {
	core_report_only
	core_enforcing_obligations[o.kind]
}

core_held(o) if {
	core_enforcing_obligations[o.kind]
	core_report_only_codes[o.params.reason]
}

# The step-ups: in report-only mode those enforcement would ask for, else
# those of the enforced challenges.
core_step_up_source := core_challenges if {
	core_report_only
} else := core_enforced_challenges

core_step_ups := [] if {
	count(core_step_up_source) == 0
} else := sort({s | some c in core_step_up_source; some s in c.step_ups})

core_reason_list := [] if {
	count(core_denies) == 0
	count(core_challenges) == 0
	count(core_notices) == 0
} else := array.concat(
	array.concat(core_reasons(core_denies), core_reasons(core_challenges)),
	core_reasons(core_notices),
)

# Risk: score = min(1, sum of weights), rounded to four decimals.
core_risk := {"score": 0, "level": core_zero_risk_level, "factors": []} if {
	count(core_risk_factors) == 0
} else := {
	"score": core_score,
	"level": core_risk_level(core_score),
	"factors": core_sort_by(core_risk_factors, "name"),
}

core_score := 0 if {
	count(core_risk_factors) == 0
} else := max([0, min([1, round(sum([f.weight | some f in core_risk_factors]) * 10000) / 10000])])

core_step_up_threshold := object.get(policy, ["risk", "step_up_threshold"], 0.7)

core_deny_threshold := object.get(policy, ["risk", "deny_threshold"], 0.9)

# low < 0.3 <= medium <= step-up threshold < high < deny threshold <= critical
core_risk_level(score) := "critical" if {
	score >= core_deny_threshold
} else := "high" if {
	score > core_step_up_threshold
} else := "medium" if {
	score >= 0.3
} else := "low"

# core_risk_level(0), without the function call.
core_zero_risk_level := "critical" if {
	0 >= core_deny_threshold
} else := "high" if {
	0 > core_step_up_threshold
} else := "low"

core_session := data.pdp.session_control

default core_session := {}

core_cache_ttl_ns := object.get(policy, "cache_ttl_ns", 0) if {
	core_decided == "allow"
} else := 0

# The explanation: every contribution that fired, then every check that
# did not, both in reason order.
core_explanation := array.concat(
	array.concat(
		[core_explained(r, "deny") | some r in core_reasons(core_denies)],
		[core_explained(r, "challenge") | some r in core_reasons(core_challenges)],
	),
	array.concat(
		[core_explained(r, "info") | some r in core_reasons(core_notices)],
		[object.union(object.filter(c, ["rule", "code", "effect", "message"]), {"matched": false}) |
			some c in core_sort_by(core_checks, "code")
		],
	),
)

core_explained(r, effect) := {
	"rule": object.get(r, "rule", ""),
	"code": object.get(r, "code", ""),
	"effect": effect,
	"matched": true,
	"message": object.get(r, "message", ""),
}

# The gated document: the gate's reason alone.
core_gated_decision := object.union(core_gated_document, {"explanation": [core_explained(core_gate, "deny")]}) if {
	input.explain == true
} else := core_gated_document

core_gated_document := {
	"decision": "deny",
	"reasons": [core_gate],
	"step_ups": [],
	"obligations": [],
	"risk": {"score": 0, "level": "low", "factors": []},
	"session": {},
	"cache_ttl_ns": 0,
	"enforced": true,
	"would_decide": "deny",
}

# The full document; the explanation is only computed when asked for.
core_full_decision := object.union(core_full_document, {"explanation": core_explanation}) if {
	input.explain == true
} else := core_full_document

core_full_document := {
	"decision": core_decided,
	"reasons": core_reason_list,
	"step_ups": core_step_ups,
	"obligations": core_obligation_list,
	"risk": core_risk,
	"session": core_session,
	"cache_ttl_ns": core_cache_ttl_ns,
	"enforced": core_enforced,
	"would_decide": core_outcome,
}

core_decided := "allow" if {
	core_report_only
} else := core_enforced_outcome

core_enforced := false if {
	policy.report_only == true
} else := false if {
	core_observed
} else := true

# The engine defines core_library_only as true when it loads this library
# without any module of package pdp or below: no other rule can then add to
# deny, challenge, notices, obligations or risk_factors.
default core_library_only := false

# With core_quiet, the sets the decision combines are empty: either nothing
# but the library adds to them (then only risk factors, which core_quiet
# does not cover, are left to read), or they are read and found empty.
core_sets_empty if {
	core_library_only
	data.pdp.risk_factors == set()
}

core_sets_empty if {
	data.pdp.deny == set()
	data.pdp.challenge == set()
	data.pdp.notices == set()
	data.pdp.obligations == set()
	data.pdp.risk_factors == set()
	not data.pdp.custom.deny
	not data.pdp.custom.challenge
	not data.pdp.custom.notices
	not data.pdp.custom.obligations
	not data.pdp.custom.risk_factors
}

# The decision document the server evaluates. The first branch is the
# common case, a request nothing objects to in an enforcing environment: it
# is what core_full_decision gives when every set is empty and no
# explanation is asked for, built without evaluating the library_* sets.
# Its risk level is "low" because core_quiet includes risk_quiet, which
# with no factor (a score of 0) means 0 <= step-up threshold < deny
# threshold. Without a session_control (no timeout) the branch does not
# apply, and the full document says {}. A truthy policy rules the gate out,
# so the second branch goes straight to the full document.
decision := {
	"decision": "allow",
	"reasons": [],
	"step_ups": [],
	"obligations": [],
	"risk": {"score": 0, "level": "low", "factors": []},
	"session": data.pdp.session_control,
	"cache_ttl_ns": object.get(policy, "cache_ttl_ns", 0),
	"enforced": true,
	"would_decide": "allow",
} if {
	input.explain == false
	policy.report_only == false
	core_quiet
	core_sets_empty
} else := core_full_decision if {
	policy
} else := core_gated_decision if {
	core_gate
} else := core_full_decision
