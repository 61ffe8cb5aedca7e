package decisionlog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// MaskMode is how a masked field is rewritten.
type MaskMode string

// The mask modes.
const (
	// MaskHash replaces the value with "sha256:" and the first 32 hex
	// digits of its SHA-256: lines about the same user still correlate,
	// the value is not written. Hashes of guessable values (addresses,
	// IPv4 addresses) can be reversed by trying candidates; prefer
	// MaskRedact or MaskTruncate for those when that matters.
	MaskHash MaskMode = "hash"
	// MaskRedact replaces the value with "[redacted]".
	MaskRedact MaskMode = "redact"
	// MaskTruncate keeps the network of an IP address: /24 for IPv4, /48
	// for IPv6, written as a prefix ("203.0.113.0/24"). network.ip only.
	MaskTruncate MaskMode = "truncate"
)

// Redacted is what MaskRedact writes.
const Redacted = "[redacted]"

// MaskPaths are the fields that can be masked, by their path in the line.
var MaskPaths = []string{
	"subject.id", "subject.email", "network.ip", "device.id", "session.id",
	"action.resource", "caller.name",
}

// Mask is one field to mask and how.
type Mask struct {
	// Path is one of MaskPaths.
	Path string
	// Mode is how to rewrite it.
	Mode MaskMode
}

// ParseMask reads one mask, "PATH" or "PATH=MODE" with MODE hash (the
// default), redact or truncate, such as "subject.email",
// "subject.id=hash" or "network.ip=truncate".
func ParseMask(s string) (Mask, error) {
	path, mode, hasMode := strings.Cut(strings.TrimSpace(s), "=")
	m := Mask{Path: strings.TrimSpace(path), Mode: MaskHash}
	if hasMode {
		m.Mode = MaskMode(strings.TrimSpace(mode))
	}
	if !slices.Contains(MaskPaths, m.Path) {
		return Mask{}, fmt.Errorf("mask %q: unknown field %q; maskable fields are %s", s, m.Path, strings.Join(MaskPaths, ", "))
	}
	switch m.Mode {
	case MaskHash, MaskRedact:
	case MaskTruncate:
		if m.Path != "network.ip" {
			return Mask{}, fmt.Errorf("mask %q: truncate applies to network.ip only", s)
		}
	default:
		return Mask{}, fmt.Errorf("mask %q: unknown mode %q; modes are hash, redact and truncate", s, m.Mode)
	}
	return m, nil
}

// ParseMasks reads every mask of specs, each a comma-separated list of
// masks, reporting every bad one. A field masked twice is an error.
func ParseMasks(specs []string) ([]Mask, error) {
	var (
		out  []Mask
		errs []error
	)
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			if strings.TrimSpace(item) == "" {
				continue
			}
			m, err := ParseMask(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if slices.ContainsFunc(out, func(o Mask) bool { return o.Path == m.Path }) {
				errs = append(errs, fmt.Errorf("mask %q: %s is masked more than once", item, m.Path))
				continue
			}
			out = append(out, m)
		}
	}
	return out, errors.Join(errs...)
}

// apply rewrites the masked fields of e.
func apply(masks []Mask, e *Entry) {
	for _, m := range masks {
		if f := field(e, m.Path); f != nil && *f != "" {
			*f = maskValue(m.Mode, *f)
		}
	}
}

// field points at the field of e a mask path names, or is nil when the
// line has no such field.
func field(e *Entry, path string) *string {
	switch path {
	case "subject.id":
		return &e.Subject.ID
	case "subject.email":
		return &e.Subject.Email
	case "network.ip":
		return &e.Network.IP
	case "device.id":
		if e.Device != nil {
			return &e.Device.ID
		}
	case "session.id":
		if e.Session != nil {
			return &e.Session.ID
		}
	case "action.resource":
		return &e.Action.Resource
	case "caller.name":
		if e.Caller != nil {
			return &e.Caller.Name
		}
	}
	return nil
}

func maskValue(mode MaskMode, v string) string {
	switch mode {
	case MaskRedact:
		return Redacted
	case MaskTruncate:
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return Redacted
		}
		bits := 24
		if addr.Is6() {
			bits = 48
		}
		p, err := addr.Prefix(bits)
		if err != nil {
			return Redacted
		}
		return p.String()
	default:
		sum := sha256.Sum256([]byte(v))
		return "sha256:" + hex.EncodeToString(sum[:16])
	}
}
