// Package pdpgrpc enforces PDP decisions in a gRPC server.
//
// [UnaryServerInterceptor] and [StreamServerInterceptor] build a
// pdp.v1.CheckRequest from each incoming call, ask a [Checker] (usually a
// *pdpclient.Client) and enforce the answer:
//
//   - allow: the handler runs with the decision in its context
//     (pdpclient.FromContext); the x-pdp-decision-id header carries its id.
//   - challenge: codes.Unauthenticated; the RFC 9470 challenge
//     (Bearer error="insufficient_user_authentication", acr_values,
//     max_age) is in the www-authenticate header and trailer metadata, and
//     a google.rpc.ErrorInfo detail (reason INSUFFICIENT_USER_AUTHENTICATION,
//     domain "pdp") lists the reason codes and step-ups.
//   - deny: codes.PermissionDenied with a google.rpc.ErrorInfo detail whose
//     reason is the most severe reason code in upper snake case
//     (network.ip_denied becomes NETWORK_IP_DENIED), domain "pdp", and
//     metadata decision_id and reason_codes (comma-separated, exact codes).
//   - no decision (the PDP failed and the client did not fail open):
//     codes.Unavailable.
//
// By default the action is the full method name ("/pkg.Service/Method"),
// the client IP is the peer address and the health service is not checked;
// the tenant and the identity come from options.
package pdpgrpc
