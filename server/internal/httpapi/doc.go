// Package httpapi is the PDP's HTTP port: the handler that serves the
// JSON API (POST /v1/check and /v1/report), liveness, readiness and
// metrics (NewHandler), and the server that bounds slow clients
// (NewServer).
//
// The handler calls the decision service through the DecisionServer
// interface, the same methods that serve gRPC, so a JSON request and a
// gRPC request for the same input get the same answer. Errors are mapped
// with rpcstatus.ToStatus and rpcstatus.HTTPStatusCode.
package httpapi
