package decisionlog

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/config"
)

// MaskMode is how a masked field is rewritten (the grammar of masks is
// the --decision-log-mask flag's, in package config).
type MaskMode = config.MaskMode

// The mask modes.
const (
	// MaskHash replaces the value with "sha256:" and the first 32 hex
	// digits of its SHA-256.
	MaskHash = config.MaskHash
	// MaskRedact replaces the value with Redacted.
	MaskRedact = config.MaskRedact
	// MaskTruncate keeps the network of an IP address: /24 for IPv4, /48
	// for IPv6. network.ip only.
	MaskTruncate = config.MaskTruncate
)

// MaskPaths are the fields that can be masked, by their path in the line.
var MaskPaths = config.DecisionLogMaskPaths

// Mask is one field to mask and how.
type Mask = config.DecisionLogMask

// ParseMask reads one mask (config.ParseDecisionLogMask).
func ParseMask(s string) (Mask, error) { return config.ParseDecisionLogMask(s) }

// ParseMasks reads every mask of specs (config.ParseDecisionLogMasks).
func ParseMasks(specs []string) ([]Mask, error) { return config.ParseDecisionLogMasks(specs) }

// Redacted is what MaskRedact writes.
const Redacted = "[redacted]"

// apply rewrites the masked fields of e, in the line and in its input.
func apply(masks []Mask, e *Entry) {
	for _, m := range masks {
		if f := field(e, m.Path); f != nil && *f != "" {
			*f = maskValue(m.Mode, *f)
		}
		if e.Input != nil && maskInput(e.Input, m) {
			e.Masked = append(e.Masked, m.Path)
		}
	}
}

// maskInput rewrites the field of an input document a mask path names
// (the paths of a line and of the input are the same) and reports whether
// there was a value to rewrite.
func maskInput(input map[string]any, m Mask) bool {
	group, key, ok := strings.Cut(m.Path, ".")
	if !ok {
		return false
	}
	obj, _ := input[group].(map[string]any)
	v, _ := obj[key].(string)
	if v == "" {
		return false
	}
	obj[key] = maskValue(m.Mode, v)
	return true
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
	case "resource.id":
		if e.Resource != nil {
			return &e.Resource.ID
		}
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
