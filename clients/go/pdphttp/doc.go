// Package pdphttp enforces PDP decisions in a net/http server.
//
// [Middleware] builds a pdp.v1.CheckRequest from each incoming request,
// asks a [Checker] (usually a *pdpclient.Client) and enforces the answer:
//
//   - allow: the next handler runs; the decision is in the request context
//     (pdpclient.FromContext) and its id in the X-PDP-Decision-Id response
//     header.
//   - challenge: 401 with an RFC 9470 header, for example
//     WWW-Authenticate: Bearer error="insufficient_user_authentication",
//     error_description="multi-factor authentication required",
//     acr_values="urn:pdp:acr:mfa", max_age=300, and a JSON [ErrorBody] listing the
//     step-ups.
//   - deny: 403 with a JSON [ErrorBody] of reason codes.
//   - no decision (the PDP failed and the client did not fail open): 503.
//
// The request is built from options: the tenant ([WithTenant]), the action
// (default "http.<lowercase method>" on the URL path, [WithAction]), the
// client IP (default the host of RemoteAddr; [ForwardedFor] reads
// X-Forwarded-For behind trusted proxies) and the identity, which only the
// application knows ([WithIdentity], typically reading its own
// authentication context).
package pdphttp
