// Package decision holds the transport-neutral request and decision types
// that every door (gRPC, HTTP, Envoy ext_authz, forward-auth) maps into and
// out of. It imports neither gRPC nor the generated protobuf code, so the
// engine and the signal enrichment depend only on these types.
package decision
