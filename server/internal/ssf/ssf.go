// Package ssf keeps what OpenID Shared Signals events (CAEP 1.0, RISC 1.0)
// left behind for the decisions that follow them: one Effect per applied
// Security Event Token, stored by subject in the state store so that every
// replica reads it, and the jti of every applied token for a replay window,
// so that no token is applied twice. Package ssf/receiver verifies and
// receives the tokens (push, RFC 8935; poll, RFC 8936) and applies them
// through a Store; Reader puts the effects matching a request into its
// signals (input.signals.ssf), where rego/ssf.rego turns them into denies,
// step-ups and risk factors.
//
// # Subjects
//
// A subject (RFC 9493) is reduced to the four things a request can be
// matched on: the user's email, the user's id (the sub of an iss_sub or
// the id of an opaque identifier), the session id and the device id. A
// complex subject sets several of them; a member it leaves out matches
// anything, and a subject naming only a tenant matches every request of
// the stream's tenant. A simple subject names the event's own principal:
// the session of session-revoked, the device of device-compliance-change,
// the principal claim's entity of risk-level-change, the user otherwise.
//
// # Storage
//
// An effect is stored in one bucket of its tenant, chosen by its subject's
// most specific member (session, user email, user id, device, tenant), so a
// request reads at most five buckets (Keys) in one round trip. Within a
// bucket, an effect replaces the one of the same slot (the same subject and
// the same kind of state, such as a device's compliance) when it is not
// older; buckets are bounded (MaxPerBucket) and entries expire at their
// Until time.
package ssf

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Store keeps the effects and the replay window. Every store backend
// (memory, bolt, Redis) provides one, with the semantics the ssftest
// conformance suite checks. Inside an audited change (audit.Committer) a
// backend's Apply writes with the change, so an effect and its audit
// record are stored together or not at all.
type Store interface {
	// Apply stores e unless its stream's jti was applied before and is
	// still within the replay window at e.Received: then it fails with
	// ErrReplay and writes nothing. The jti is kept until replayUntil.
	// e.Received is the store's "now" (expiry, pruning): no backend reads
	// the wall clock. A malformed e (Check) is InvalidArgument.
	Apply(ctx context.Context, e Effect, replayUntil time.Time) error
	// Read appends to dst the effects of the tenant's buckets named by
	// keys (see Keys) that have not expired at now.
	Read(ctx context.Context, tenant string, keys []string, now time.Time, dst []Effect) ([]Effect, error)
	// DeleteUser drops every effect of the tenant whose subject names the
	// user id (Subject.User), whatever its bucket, and returns how many it
	// dropped: an erased user's effects go with the user, and a user
	// created again with the id inherits none. Effects naming the user by
	// email alone are not linked to the id; they stay until they expire.
	DeleteUser(ctx context.Context, tenant, userID string) (int, error)
}

// ErrReplay is Apply's error for a jti applied before.
var ErrReplay = fault.New(fault.AlreadyExists, "the SET's jti was applied before")

// MaxPerBucket bounds the effects one bucket keeps; the oldest go first.
const MaxPerBucket = 64

// Subject is an RFC 9493 subject reduced to what a request is matched on.
// An empty member matches anything.
type Subject struct {
	// Email is the user's address, lowercased.
	Email string `json:"email,omitempty"`
	// User is the user's id: the sub of an iss_sub identifier or the id of
	// an opaque one.
	User string `json:"user,omitempty"`
	// Session is the session id.
	Session string `json:"session,omitempty"`
	// Device is the device id.
	Device string `json:"device,omitempty"`
	// Tenant is the id of the subject's tenant member, kept for the audit
	// trail; the stream's tenant is the PDP tenant it applies to.
	Tenant string `json:"tenant,omitempty"`
}

// IsZero reports whether s names nothing at all.
func (s Subject) IsZero() bool { return s == Subject{} }

// Bucket is the storage bucket of an effect with this subject: its most
// specific member.
func (s Subject) Bucket() string {
	switch {
	case s.Session != "":
		return "s:" + s.Session
	case s.Email != "":
		return "e:" + s.Email
	case s.User != "":
		return "u:" + s.User
	case s.Device != "":
		return "d:" + s.Device
	}
	return "t"
}

// String describes the subject for logs, the audit trail and the
// explanation of a decision, members in a fixed order.
func (s Subject) String() string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	add("email", s.Email)
	add("user", s.User)
	add("session", s.Session)
	add("device", s.Device)
	add("tenant", s.Tenant)
	if len(parts) == 0 {
		return "tenant"
	}
	return strings.Join(parts, " ")
}

// Request is what a request offers to match subjects against.
type Request struct {
	Email, User, Session, Device string
}

// Matches reports whether every member s sets equals the request's.
func (s Subject) Matches(r Request) bool {
	return (s.Email == "" || s.Email == r.Email) &&
		(s.User == "" || s.User == r.User) &&
		(s.Session == "" || s.Session == r.Session) &&
		(s.Device == "" || s.Device == r.Device)
}

// Keys returns the buckets that can hold effects matching r, in a fixed
// order: the session's, the email's, the user id's, the device's and the
// tenant's.
func Keys(r Request) []string {
	keys := make([]string, 0, 5)
	if r.Session != "" {
		keys = append(keys, "s:"+r.Session)
	}
	if r.Email != "" {
		keys = append(keys, "e:"+r.Email)
	}
	if r.User != "" {
		keys = append(keys, "u:"+r.User)
	}
	if r.Device != "" {
		keys = append(keys, "d:"+r.Device)
	}
	return append(keys, "t")
}

// Effect is what one applied event left: who it is about, what happened
// and when, and the few event claims decisions read.
type Effect struct {
	// Tenant is the stream's tenant.
	Tenant string `json:"tenant"`
	// Stream names the stream that delivered the event.
	Stream string `json:"stream"`
	// JTI is the token's id.
	JTI string `json:"jti"`
	// Event is the event type's name, the last segment of its URI, such as
	// "session-revoked" or "account-disabled".
	Event string `json:"event"`
	// Subject is who it is about.
	Subject Subject `json:"subject"`
	// At is when it happened: event_timestamp, else the token's iat.
	At time.Time `json:"at"`
	// Received is when the server applied it.
	Received time.Time `json:"received"`
	// Until is when the store may forget it.
	Until time.Time `json:"until"`
	// Level is current_level of risk-level-change (LOW, MEDIUM, HIGH) and
	// of assurance-level-change.
	Level string `json:"level,omitempty"`
	// Status is current_status of device-compliance-change.
	Status string `json:"status,omitempty"`
	// Reason is reason_admin (its English text, else any), or RISC's
	// reason, for the explanation.
	Reason string `json:"reason,omitempty"`
}

// Slot identifies the state an effect sets: a newer effect of the same
// slot replaces it. Events that switch one state (a device's compliance,
// an account's status, a risk level) share their slot.
func (e Effect) Slot() string {
	kind := e.Event
	switch e.Event {
	case "account-disabled", "account-enabled", "account-purged":
		kind = "account"
	}
	return kind + "\x00" + e.Subject.String()
}

// Check reports what Apply needs that e lacks.
func Check(e Effect) error {
	var v fault.Violations
	if e.Tenant == "" {
		v.Add("tenant", "required")
	}
	if e.Stream == "" {
		v.Add("stream", "required")
	}
	if e.JTI == "" {
		v.Add("jti", "required")
	}
	if e.Event == "" {
		v.Add("event", "required")
	}
	if e.At.IsZero() {
		v.Add("at", "required")
	}
	if e.Received.IsZero() {
		v.Add("received", "required")
	}
	if e.Until.IsZero() {
		v.Add("until", "required")
	}
	return v.Err()
}

// Merge returns the bucket list with e recorded, as every backend stores
// it: entries expired at now are dropped, e replaces the entry of its slot
// unless that one is newer (then the list is unchanged), and the oldest
// entries beyond MaxPerBucket are dropped. list is not modified.
func Merge(list []Effect, e Effect, now time.Time) []Effect {
	out := make([]Effect, 0, len(list)+1)
	slot := e.Slot()
	keep := true
	for _, x := range list {
		if !x.Until.After(now) {
			continue
		}
		if x.Slot() == slot {
			if x.At.After(e.At) {
				keep = false
			} else {
				continue
			}
		}
		out = append(out, x)
	}
	if keep {
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Effect) int { return a.At.Compare(b.At) })
	if n := len(out) - MaxPerBucket; n > 0 {
		out = out[n:]
	}
	return out
}

// WithoutUser returns the bucket list without the effects whose subject
// names the user id, and how many it dropped; list is not modified.
func WithoutUser(list []Effect, userID string) ([]Effect, int) {
	out := make([]Effect, 0, len(list))
	for _, x := range list {
		if x.Subject.User != userID {
			out = append(out, x)
		}
	}
	return out, len(list) - len(out)
}

// EraseUser is WithoutUser on a stored bucket (Encode's form): the
// bucket to store instead, nil when no effect is left, and how many
// effects it dropped (0: keep the bucket as it is).
func EraseUser(stored []byte, userID string) ([]byte, int, error) {
	list, err := Decode(stored)
	if err != nil {
		return nil, 0, err
	}
	rest, dropped := WithoutUser(list, userID)
	if dropped == 0 || len(rest) == 0 {
		return nil, dropped, nil
	}
	data, err := Encode(rest)
	if err != nil {
		return nil, 0, err
	}
	return data, dropped, nil
}

// Live appends to dst the entries of list that have not expired at now.
func Live(dst, list []Effect, now time.Time) []Effect {
	for _, x := range list {
		if x.Until.After(now) {
			dst = append(dst, x)
		}
	}
	return dst
}

// Encode is the stored form of a bucket.
func Encode(list []Effect) ([]byte, error) {
	b, err := json.Marshal(list)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot encode shared-signal effects")
	}
	return b, nil
}

// Decode reads what Encode wrote; empty input is an empty bucket.
func Decode(b []byte) ([]Effect, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var list []Effect
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "stored shared-signal effects are damaged")
	}
	return list, nil
}

// stateKind is the slot kind of events that switch a state, whose newest
// matching effect alone counts; "" for events that each count.
func stateKind(event string) string {
	switch event {
	case "account-disabled", "account-enabled", "account-purged":
		return "account"
	case "device-compliance-change", "risk-level-change":
		return event
	}
	return ""
}

// Active reports whether e still acts once it is the newest of its state:
// a device back in compliance and an enabled account do not.
func (e Effect) Active() bool {
	switch {
	case e.Event == "account-enabled":
		return false
	case e.Event == "device-compliance-change" && e.Status != "not-compliant":
		return false
	}
	return true
}
