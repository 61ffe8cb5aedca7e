// Package authn decides who may call the PDP. Callers authenticate with an
// API key sent as "authorization: Bearer <key>" (gRPC metadata or HTTP
// header; "x-pdp-api-key: <key>" where the Authorization header belongs to
// the end user, as with forward-auth). Keys live in a YAML file that holds
// only their SHA-256 hashes, each with a name, a role and, for a
// tenant-admin, its tenants:
//
//	# keys.yaml (pdp keygen prints each entry)
//	- name: edge-gateway
//	  key_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	  role: pep
//	- name: acme-gateway
//	  key_sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
//	  role: pep
//	  tenants: [acme]
//	- name: acme-admin
//	  key_sha256: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
//	  role: tenant-admin
//	  tenants: [acme]
//
// The roles: admin may call everything; tenant-admin may call the
// pdp.v1.PolicyAdminService RPCs, and the admin handlers check with
// AllowedTenant that the tenant is one of its own; pep may call
// DecisionService (Check, BatchCheck, Report), Envoy's ext_authz and the
// HTTP check, report and forward-auth paths, for every tenant or, when its
// entry lists tenants, for those only (DecisionTenant, which the
// DecisionService applies at every one of these doors); transmitter may
// push Shared Signals events to the streams its entry lists (streams:
// [name], checked by AllowedStream) and nothing else. Health is open to everyone;
// server reflection and, unless it is public, /metrics to every valid key.
//
// A presented key is hashed and compared with every stored hash in constant
// time, without stopping at a match. Failures are UNAUTHENTICATED (no key,
// or a key that matches none) or PERMISSION_DENIED (a valid key beyond its
// role); their messages never name a key, a hash or which keys exist.
//
// The caller (key name and role, and the identity of a verified client
// certificate) is put in the request context: CallerFrom reads it,
// DecisionCaller turns it into the decision.Caller Rego sees as
// input.caller. Without a key file the server runs open: every caller is
// anonymous and allowed, and only a client certificate names it.
package authn
