// Package transport serves the two ports of a PDP together: the gRPC
// server of package grpcserver and the HTTP server of package httpapi
// (Ports.Serve), and drains both on shutdown (Ports.Drain).
package transport
