// Package gateway holds what the two gateway doors share: Envoy ext_authz
// (package extauthz) and HTTP forward-auth (package forwardauth). It maps
// what a gateway knows about one HTTP request (an Input: method, URI,
// client IP, identity headers, verified JWT claims, Envoy context
// extensions) straight into a decision.Request, validates it, has the one
// decision service (package decide) decide it, and turns the
// decision.Decision into an HTTP-shaped Answer that each door renders in
// its own way.
//
// Every door validates identically: the request built here goes through
// pdpsvc.Validate, which reports as a direct Check does (the wire bounds
// the proto declares, decision.Request.Bounds, then the domain's
// validation), and only the mapping itself (a header that is not a time, a
// claim of the wrong type) adds violations. Each violation keeps its proto
// field path and names its source ("header x-pdp-user-email", "claim
// roles").
//
// Answers:
//
//   - allow: 200, with X-PDP-Decision-Id and X-PDP-Risk-Score;
//   - challenge: 401 with the RFC 9470 header
//     WWW-Authenticate: Bearer error="insufficient_user_authentication",
//     error_description="...", acr_values="...", max_age=N and a JSON body
//     listing the step-ups;
//   - deny: 403 with a JSON body of reason codes and the decision id;
//   - malformed gateway input: 400 with a JSON body of field violations
//     (no decision was made, so no decision headers);
//   - a bearer token that fails verification: 401 with
//     WWW-Authenticate: Bearer error="invalid_token" (RFC 6750).
//
// When the server cannot decide (no policy loaded, deadline passed) Decide
// returns the error; the doors map it with rpcstatus.ToStatus.
package gateway
