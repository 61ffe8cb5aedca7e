// Package pdpclient is the Go client of the policy decision point (PDP).
//
// A [Client] asks pdp.v1.DecisionService whether a request may proceed and
// returns a [Decision]: allow, deny or challenge, with the step-ups, reasons
// and obligations the server attached. [Client.BatchCheck] asks for up to
// 100 decisions at once and [Client.Report] records what the enforcement
// point observed. The sibling packages pdphttp and pdpgrpc enforce
// decisions in net/http and gRPC servers, and pdpfake serves a fake PDP for
// tests.
//
// # Transport
//
// [New] builds a gRPC client connection with [grpc.NewClient]. By default it
// uses TLS with the system roots; [WithInsecure] selects plaintext (for a
// server on loopback) and [WithTLSConfig] or [WithTransportCredentials] set
// other credentials. [WithAPIKey] sends "authorization: Bearer <key>" as
// gRPC metadata on every call.
//
// Every call is bounded by the client's timeout ([DefaultTimeout], changed
// with [WithTimeout]); a context with an earlier deadline shortens it. Check
// and BatchCheck are retried on UNAVAILABLE through the gRPC service config
// ([DefaultRetryPolicy], changed with [WithRetryPolicy]); Report, which
// records an event, is not retried.
//
// # Failing closed
//
// When the server cannot decide (any gRPC error, a deadline, a closed
// client, a malformed response), Check returns a non-nil error AND a
// synthetic deny decision: Outcome() is DECISION_DENY, Allowed() is false,
// Synthetic() is true, Err() is the error and the only reason has the code
// [ReasonNoDecision]. Code that checks either the error or Allowed() therefore
// refuses the request.
//
// [WithFailOpen] turns selected errors into a synthetic allow instead: Check
// then returns a nil error and a decision with Allowed() true, FailedOpen()
// true, Err() set and the reason [ReasonFailOpen]. Every such event is
// counted in the pdp.client.fail_open metric. [FailOpenOnUnavailable] is a
// predicate that fails open only when the server is unreachable or too slow.
//
// # Cache
//
// The client keeps a bounded LRU cache of decisions (size
// [DefaultCacheSize], changed with [WithCacheSize]; 0 disables it). A
// response is stored only when its cache_ttl is positive and it is an allow,
// or a deny without obligations. Challenges, denies with obligations,
// synthetic decisions and responses with cache_ttl 0 are never stored. The
// key is a SHA-256 hash of the deterministic protobuf encoding of the
// request without its time and explain fields. Requests with explain set
// always go to the server (their response is stored without the
// explanation). Entries expire after cache_ttl, capped by
// [WithCacheMaxTTL]. Identical checks in flight at the same time are sent
// once and share the answer.
//
// # Metrics
//
// With [WithMeterProvider] (default: the global OpenTelemetry provider) the
// client records pdp.client.decisions, pdp.client.cache.hits,
// pdp.client.cache.misses, pdp.client.fail_open, pdp.client.reports and the
// pdp.client.check.duration histogram; see metrics.go for the attributes.
package pdpclient
