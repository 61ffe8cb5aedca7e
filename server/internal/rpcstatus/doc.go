// Package rpcstatus maps domain errors (*fault.Error) to the gRPC status a
// client sees, and a gRPC code to the HTTP status of the HTTP doors. It is
// a leaf: the decision service, the gRPC and HTTP servers and the gateway
// doors all use it, so none of them imports another for its errors.
package rpcstatus
