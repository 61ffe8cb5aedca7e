// Package decision holds the transport-neutral request and decision types
// that every door (gRPC, HTTP, Envoy ext_authz, forward-auth) maps into and
// out of. It imports neither gRPC nor the generated protobuf code, so the
// engine and the signal enrichment depend only on these types.
//
// Request.Validate and Event.Validate are the domain's checks of what a
// door built (names, text, email, IP, times, attributes); ValidName is the
// one rule for tenant and environment names, shared with the tenant
// settings. The wire bounds (lengths, list sizes, required fields) are the
// proto's own rules, checked by each wire door before it converts.
package decision
