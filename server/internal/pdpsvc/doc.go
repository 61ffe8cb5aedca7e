// Package pdpsvc implements pdp.v1.DecisionService: it validates CheckRequest
// and ReportRequest messages into the transport-neutral types of package
// decision, hands them to the one decision service (decide.Service), and
// maps decisions back into CheckResponse messages.
//
// Validation reports every problem of a request at once, as a
// fault.InvalidArgument error whose field violations name the offending
// fields by their proto path in snake_case ("network.ip",
// "subject.roles[2]", "authentication.mfa_verified_at"). Inside a
// BatchCheck, each item's google.rpc.Status carries field names relative to
// that item (the same names a single Check would report), not prefixed with
// "checks[i]."; the item's position in the results is its index.
//
// The service returns domain faults. The gRPC server built by package
// grpcserver maps them to a status with rpcstatus.ToStatus, and BatchCheck
// uses the same function for its per-item statuses, so an item error and a
// Check error for the same input are identical.
package pdpsvc
