package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The values of --decision-log and --decision-log-mode that are words.
const (
	// DecisionLogStdout is the destination that writes to standard output.
	DecisionLogStdout = "stdout"
	// DecisionLogDrop drops a line that cannot be queued or written.
	DecisionLogDrop = "drop"
	// DecisionLogBlock answers no decision whose line is not written.
	DecisionLogBlock = "block"
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

// DecisionLogMaskPaths are the fields of a decision log line that can be
// masked, by their path in the line.
var DecisionLogMaskPaths = []string{
	"subject.id", "subject.email", "network.ip", "device.id", "session.id",
	"action.resource", "resource.id", "caller.name",
}

// DecisionLogMask is one field of a decision log line to mask and how
// (--decision-log-mask).
type DecisionLogMask struct {
	// Path is one of DecisionLogMaskPaths.
	Path string
	// Mode is how to rewrite it.
	Mode MaskMode
}

// ParseDecisionLogMask reads one mask, "PATH" or "PATH=MODE" with MODE
// hash (the default), redact or truncate, such as "subject.email",
// "subject.id=hash" or "network.ip=truncate".
func ParseDecisionLogMask(s string) (DecisionLogMask, error) {
	path, mode, hasMode := strings.Cut(strings.TrimSpace(s), "=")
	m := DecisionLogMask{Path: strings.TrimSpace(path), Mode: MaskHash}
	if hasMode {
		m.Mode = MaskMode(strings.TrimSpace(mode))
	}
	if !slices.Contains(DecisionLogMaskPaths, m.Path) {
		return DecisionLogMask{}, fmt.Errorf("mask %q: unknown field %q; maskable fields are %s", s, m.Path, strings.Join(DecisionLogMaskPaths, ", "))
	}
	switch m.Mode {
	case MaskHash, MaskRedact:
	case MaskTruncate:
		if m.Path != "network.ip" {
			return DecisionLogMask{}, fmt.Errorf("mask %q: truncate applies to network.ip only", s)
		}
	default:
		return DecisionLogMask{}, fmt.Errorf("mask %q: unknown mode %q; modes are hash, redact and truncate", s, m.Mode)
	}
	return m, nil
}

// ParseDecisionLogMasks reads every mask of specs, each a comma-separated list of
// masks, reporting every bad one. A field masked twice is an error.
func ParseDecisionLogMasks(specs []string) ([]DecisionLogMask, error) {
	var (
		out  []DecisionLogMask
		errs []error
	)
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			if strings.TrimSpace(item) == "" {
				continue
			}
			m, err := ParseDecisionLogMask(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if slices.ContainsFunc(out, func(o DecisionLogMask) bool { return o.Path == m.Path }) {
				errs = append(errs, fmt.Errorf("mask %q: %s is masked more than once", item, m.Path))
				continue
			}
			out = append(out, m)
		}
	}
	return out, errors.Join(errs...)
}
