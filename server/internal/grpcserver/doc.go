// Package grpcserver is the PDP's gRPC server plumbing: the server with
// its interceptor chain (New), which maps every error with
// rpcstatus.ToStatus and decodes a request only after the guards have
// seen the call, and the health service (Health), whose readiness the
// HTTP port's /readyz reports too.
//
// The package knows the fault package and grpc-go, never the engine: the
// services register themselves on the Server.
package grpcserver
