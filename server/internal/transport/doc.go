// Package transport holds the wire plumbing shared by every door of the
// server: the gRPC server with its interceptor chain (NewGRPCServer),
// which maps every error with rpcstatus.ToStatus, the health service, and
// the HTTP handler that serves the JSON API, liveness, readiness and
// metrics (NewHTTPHandler).
//
// The package knows the generated pdp.v1 types and the fault package, never
// the engine: the HTTP handler calls the decision service through the
// DecisionServer interface, so a JSON request and a gRPC request for the
// same input get the same answer.
package transport
