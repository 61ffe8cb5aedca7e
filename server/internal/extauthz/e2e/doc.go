// Package e2e replays the recorded Envoy CheckRequests of
// ../testdata through a real server started by pdptest, over gRPC. It is a
// package of its own so that the fuzz target of package extauthz runs in a
// small test binary, without the whole server linked in.
package e2e
