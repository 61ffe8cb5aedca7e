// Package authzen serves the OpenID AuthZEN Authorization API 1.0 on the
// HTTP port: access evaluation, access evaluations (boxcarring with the
// three evaluation semantics), subject, resource and action search, and the
// PDP metadata document, for every tenant under /tenants/{tenant} and for
// one default tenant without the prefix.
//
// A request maps straight to a decision.Request and the answer is read from
// a decision.Decision: the package calls a Checker it declares, which is the
// server's one decision service, so an AuthZEN call gets the same caller
// authorisation, decision log, metrics and incident response as every other
// door. What AuthZEN cannot say in its boolean (reasons, the decision id,
// risk, step-ups and the other obligations) travels in the response
// context, step-ups and obligations in the shape of the AuthZEN obligations
// profile.
//
// docs/authzen.md is the user-facing description: the mapping of every
// field, the search mechanism and what a search returns, and a curl for
// each endpoint.
package authzen
