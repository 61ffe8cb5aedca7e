package incident

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// Kind names what a notification is about.
type Kind string

// The notification kinds.
const (
	// KindBruteForce: a user's failed logins reached the tenant's
	// failed_logins_threshold within the window. Nothing is done to the
	// user; Rego challenges or denies the next login.
	KindBruteForce Kind = "brute_force"
	// KindIPBlocked: an address was auto-blocked for the tenant.
	KindIPBlocked Kind = "ip_blocked"
	// KindUserSuspended: a user was suspended (suspend_user obligation).
	KindUserSuspended Kind = "user_suspended"
	// KindSecurityAlert: a decision asked to notify security
	// (notify_security obligation) without acting on anyone.
	KindSecurityAlert Kind = "security_alert"
)

// Notification is the JSON body of a webhook call.
type Notification struct {
	// ID is unique per incident; retries of one delivery repeat it, so the
	// receiver can discard duplicates.
	ID string `json:"id"`
	// Time is when the incident was handled, by the wall clock.
	Time time.Time `json:"time"`
	// Tenant is the tenant it concerns.
	Tenant string `json:"tenant"`
	// Kind is what happened.
	Kind Kind `json:"kind"`
	// Subject is the user id; empty when no user is concerned.
	Subject string `json:"subject"`
	// IP is the client address; empty when unknown.
	IP string `json:"ip"`
	// Reason says why, as a reason code or a sentence naming the evidence.
	Reason string `json:"reason"`
	// DecisionID is the id of the decision that asked for it; empty after
	// a report.
	DecisionID string `json:"decision_id"`
	// Details carry the rest: environment, action, event_id, counts,
	// thresholds, expires_at, error.
	Details map[string]string `json:"details"`
}

// Notifier sends notifications; Webhook implements it.
type Notifier interface {
	// Notify takes n for delivery without waiting for it. An error means n
	// will not be delivered (closed, or too many pending).
	Notify(n Notification) error
	// Close delivers what was taken, until ctx ends.
	Close(ctx context.Context) error
}

// SignatureHeader carries the HMAC of a signed notification.
const SignatureHeader = "X-PDP-Signature"

// Signature returns the X-PDP-Signature value of body: "sha256=" and the
// hex HMAC-SHA256 of the exact body bytes under secret. Receivers compute
// it over the raw body and compare in constant time (hmac.Equal).
func Signature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ReadSecretFile reads a signing secret, without the surrounding white
// space a trailing newline adds. Errors never show the content.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notify secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("notify secret: " + path + " is empty")
	}
	return b, nil
}
