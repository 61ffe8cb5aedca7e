package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
)

// The problems a Finding names.
const (
	// ProblemMalformed: the line is not a checkpoint.
	ProblemMalformed = "malformed"
	// ProblemUnknownKey: the line is signed by a key not given.
	ProblemUnknownKey = "unknown_key"
	// ProblemSignature: the signature does not verify: the checkpoint was
	// forged or altered.
	ProblemSignature = "signature"
	// ProblemRewritten: the chain holds another event at the checkpoint's
	// seq, so it was rewritten at or before that seq.
	ProblemRewritten = "rewritten"
	// ProblemTruncated: the chain ends before the checkpoint's seq, or has
	// no record there, so it was cut below that seq.
	ProblemTruncated = "truncated"
	// ProblemNone: the file holds no checkpoint at all, while a server
	// writes one at every start.
	ProblemNone = "none"
)

// Finding is one checkpoint the chain or the keys do not bear out.
type Finding struct {
	// Line is the checkpoint's line in the file; 0 for ProblemNone.
	Line int
	// Checkpoint is what the line signs; for the line problems only its
	// KeyID may be set.
	Checkpoint Checkpoint
	// Problem is one of the Problem constants.
	Problem string
	// Expected is what the checkpoint signed, Actual what the chain holds
	// there; for the line problems Actual says what is wrong.
	Expected, Actual string
}

// String describes the finding in one line.
func (f Finding) String() string {
	cp := f.Checkpoint
	switch f.Problem {
	case ProblemRewritten:
		return fmt.Sprintf("checkpoint line %d (seq %d, signed %s, key %s): expected %s, the chain holds %s: "+
			"the chain was rewritten at or before seq %d", f.Line, cp.Seq, cp.Time.Format(time.RFC3339), cp.KeyID, f.Expected, f.Actual, cp.Seq)
	case ProblemTruncated:
		return fmt.Sprintf("checkpoint line %d (seq %d, signed %s, key %s): expected %s, %s: "+
			"the chain was cut below seq %d", f.Line, cp.Seq, cp.Time.Format(time.RFC3339), cp.KeyID, f.Expected, f.Actual, cp.Seq)
	case ProblemNone:
		return "no checkpoints in the file: a server writes one at every start"
	}
	return fmt.Sprintf("checkpoint line %d: %s", f.Line, f.Actual)
}

// Report is what Check found.
type Report struct {
	// Lines is how many checkpoints the file holds.
	Lines int
	// Verified is how many of them carry a valid signature.
	Verified int
	// Held is how many verified checkpoints the chain still holds.
	Held int
	// Latest is the verified checkpoint of the highest seq (the latest
	// signed among equals) and LatestLine its line; nil when none verified.
	Latest     *Checkpoint
	LatestLine int
	// Findings lists every problem, line problems first, then the
	// checkpoints the chain does not hold in seq order.
	Findings []Finding
	// DivergesAt is the seq of the lowest checkpoint the chain does not
	// hold and HoldsTo the highest seq below it the chain is known to hold
	// (0 when none): the rewrite or cut starts after HoldsTo, at or before
	// DivergesAt. Both are 0 when the chain holds every checkpoint.
	HoldsTo, DivergesAt uint64
}

// OK reports whether every checkpoint verified and the chain holds them
// all.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// Check compares the checkpoints lines (as ReadFile returns them) with the
// chain in log: a verified checkpoint holds when the chain's head is at or
// beyond its seq and the record at its seq has its hash. Read the
// checkpoints before the log, so that a log appended meanwhile only grows
// past them. The error is for a log that cannot be read; every problem
// found is a Finding.
func Check(ctx context.Context, log audit.Log, lines []Line) (Report, error) {
	r := Report{Lines: len(lines)}
	var cps []Line
	for _, l := range lines {
		if l.Err == nil {
			cps = append(cps, l)
			continue
		}
		f := Finding{Line: l.N, Checkpoint: Checkpoint{KeyID: l.Checkpoint.KeyID}, Actual: l.Err.Error()}
		switch {
		case errors.Is(l.Err, ErrSignature):
			f.Problem = ProblemSignature
			f.Actual += ": the checkpoint was forged or altered"
		case errors.Is(l.Err, ErrUnknownKey):
			f.Problem = ProblemUnknownKey
		default:
			f.Problem = ProblemMalformed
		}
		r.Findings = append(r.Findings, f)
	}
	if len(lines) == 0 {
		r.Findings = append(r.Findings, Finding{Problem: ProblemNone})
	}
	r.Verified = len(cps)
	slices.SortStableFunc(cps, func(a, b Line) int { return cmp.Compare(a.Checkpoint.Seq, b.Checkpoint.Seq) })
	for i := range cps {
		if c := cps[i].Checkpoint; r.Latest == nil || c.Seq > r.Latest.Seq || (c.Seq == r.Latest.Seq && c.Time.After(r.Latest.Time)) {
			r.Latest, r.LatestLine = &cps[i].Checkpoint, cps[i].N
		}
	}
	held, err := walk(ctx, log, cps)
	if err != nil {
		return r, err
	}
	for i, l := range cps {
		if held[i].Problem == "" {
			r.Held++
			if r.DivergesAt == 0 {
				r.HoldsTo = l.Checkpoint.Seq
			}
			continue
		}
		if r.DivergesAt == 0 {
			r.DivergesAt = l.Checkpoint.Seq
		}
		r.Findings = append(r.Findings, held[i])
	}
	return r, nil
}

// walk pages through log once, from the lowest checkpoint's seq to the
// highest, and returns for each of cps (sorted by seq) the finding it
// makes, with an empty Problem when the chain holds it.
func walk(ctx context.Context, log audit.Log, cps []Line) ([]Finding, error) {
	out := make([]Finding, len(cps))
	for i, l := range cps {
		c := l.Checkpoint
		out[i] = Finding{Line: l.N, Checkpoint: c, Expected: describe(c.Head())}
	}
	var head *audit.Head
	if h, ok := log.(audit.Header); ok {
		hd, err := h.Head(ctx)
		if err != nil {
			return nil, err
		}
		head = &hd
	}
	// A checkpoint beyond the head is cut off even when its record is still
	// there: the next append overwrites it.
	n := len(cps)
	if head != nil {
		for n > 0 && cps[n-1].Checkpoint.Seq > head.Seq {
			n--
			out[n].Problem = ProblemTruncated
			out[n].Actual = "the log's head is " + describe(*head)
		}
	}
	i := 0
	for i < n && cps[i].Checkpoint.Seq == 0 {
		i++ // an empty chain's checkpoint holds for every chain
	}
	var after uint64
	for i < n {
		after = max(after, cps[i].Checkpoint.Seq-1)
		evs, next, err := log.List(ctx, audit.Query{After: after, Limit: audit.MaxLimit})
		if err != nil {
			return nil, err
		}
		for e := range evs {
			ev := &evs[e]
			for ; i < n && cps[i].Checkpoint.Seq < ev.Seq; i++ {
				out[i].Problem = ProblemTruncated
				out[i].Actual = fmt.Sprintf("there is no record at seq %d (the next is seq %d)", cps[i].Checkpoint.Seq, ev.Seq)
			}
			for ; i < n && cps[i].Checkpoint.Seq == ev.Seq; i++ {
				if c := cps[i].Checkpoint; c.Hash != ev.Hash || c.ID != ev.ID {
					out[i].Problem = ProblemRewritten
					out[i].Actual = describe(audit.HeadOf(*ev))
				}
			}
			if i == n {
				break
			}
		}
		if next == 0 || len(evs) == 0 {
			break
		}
		after = next
	}
	for ; i < n; i++ {
		out[i].Problem = ProblemTruncated
		out[i].Actual = fmt.Sprintf("there is no record at or after seq %d", cps[i].Checkpoint.Seq)
	}
	return out, nil
}

// describe names a head or event in findings.
func describe(h audit.Head) string {
	if h.Seq == 0 {
		return "seq 0 (an empty chain)"
	}
	return fmt.Sprintf("seq %d hash %s id %s", h.Seq, h.Hash, h.ID)
}

// CheckLatest checks the chain in log against the latest checkpoint of the
// file at path that ks verifies (see Latest), as a server does at start to
// notice at once a store rewritten, cut or restored from an older copy
// while it was stopped. It returns the finding, or nil when the chain
// holds that checkpoint or the file holds none.
func CheckLatest(ctx context.Context, log audit.Log, path string, ks Keys) (*Finding, error) {
	l, ok, err := Latest(path, ks)
	if err != nil || !ok {
		return nil, err
	}
	r, err := Check(ctx, log, []Line{l})
	if err != nil || r.OK() {
		return nil, err
	}
	return &r.Findings[0], nil
}
