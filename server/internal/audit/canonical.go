package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeFormat is the layout of times in the canonical form and the stored
// records.
const TimeFormat = time.RFC3339Nano

// canonicalEvent lists the hashed fields in the order of their keys.
type canonicalEvent struct {
	Action   string         `json:"action"`
	Actor    string         `json:"actor"`
	After    map[string]any `json:"after"`
	Before   map[string]any `json:"before"`
	ID       string         `json:"id"`
	PrevHash string         `json:"prev_hash"`
	Reason   string         `json:"reason"`
	Seq      uint64         `json:"seq"`
	Target   string         `json:"target"`
	Tenant   string         `json:"tenant"`
	Time     string         `json:"time"`
}

// storedEvent is the record backends keep: the canonical fields and Hash.
type storedEvent struct {
	Action   string         `json:"action"`
	Actor    string         `json:"actor"`
	After    map[string]any `json:"after"`
	Before   map[string]any `json:"before"`
	Hash     string         `json:"hash"`
	ID       string         `json:"id"`
	PrevHash string         `json:"prev_hash"`
	Reason   string         `json:"reason"`
	Seq      uint64         `json:"seq"`
	Target   string         `json:"target"`
	Tenant   string         `json:"tenant"`
	Time     string         `json:"time"`
}

// Canonical returns the canonical form of ev: the bytes its Hash covers.
// It is the JSON object of every field of the event except Hash, written
// with no whitespace and its keys in byte order at every depth:
//
//	{"action":…,"actor":…,"after":…,"before":…,"id":…,"prev_hash":…,"reason":…,"seq":…,"target":…,"tenant":…,"time":…}
//
// Strings are valid UTF-8 (Append replaces invalid bytes with U+FFFD) and
// escaped as JSON requires ('"', '\\' and control characters, plus U+2028
// and U+2029); '<', '>' and '&' are written as they are. seq is a decimal
// integer; time is RFC 3339 in UTC with as many fractional-second digits as
// needed (none for a whole second). before and after are null when absent,
// otherwise objects whose numbers are kept exactly as first written (Append
// rewrites them once through JSON, so a stored event hashes the same after
// any number of reads and writes). Every key is present, empty strings
// included.
//
// Hash is the lowercase hex SHA-256 of those bytes. Because prev_hash is
// inside, each hash commits to the whole chain before it.
func Canonical(ev Event) ([]byte, error) {
	return marshal(canonicalEvent{
		Action: ev.Action, Actor: ev.Actor, After: ev.After, Before: ev.Before, ID: ev.ID,
		PrevHash: ev.PrevHash, Reason: ev.Reason, Seq: ev.Seq, Target: ev.Target, Tenant: ev.Tenant,
		Time: ev.Time.UTC().Format(TimeFormat),
	})
}

// ComputeHash returns the hash ev should carry: the hex SHA-256 of its
// canonical form.
func ComputeHash(ev Event) (string, error) {
	b, err := Canonical(ev)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Encode returns the record a backend stores for ev: the canonical fields
// and the hash, as one JSON object with sorted keys.
func Encode(ev Event) ([]byte, error) {
	return marshal(storedEvent{
		Action: ev.Action, Actor: ev.Actor, After: ev.After, Before: ev.Before, Hash: ev.Hash, ID: ev.ID,
		PrevHash: ev.PrevHash, Reason: ev.Reason, Seq: ev.Seq, Target: ev.Target, Tenant: ev.Tenant,
		Time: ev.Time.UTC().Format(TimeFormat),
	})
}

// Decode reads a record Encode wrote. Numbers inside Before and After stay
// json.Number values, so the event hashes as it did when appended.
func Decode(b []byte) (Event, error) {
	var s storedEvent
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		return Event{}, fmt.Errorf("audit record: %w", err)
	}
	t, err := time.Parse(TimeFormat, s.Time)
	if err != nil {
		return Event{}, fmt.Errorf("audit record %d: time: %w", s.Seq, err)
	}
	return Event{
		Entry: Entry{Time: t.UTC(), Actor: s.Actor, Action: s.Action, Tenant: s.Tenant, Target: s.Target,
			Reason: s.Reason, Before: s.Before, After: s.After},
		ID: s.ID, Seq: s.Seq, PrevHash: s.PrevHash, Hash: s.Hash,
	}, nil
}

// marshal writes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// normalizeValue rewrites m once through JSON, numbers kept as written, so
// that it reads back identical from any stored record. Maps stay nil when
// nil.
func normalizeValue(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

func validString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
