package audit

import (
	"context"
	"fmt"
)

// Report is what Verify found.
type Report struct {
	// Events is how many events were checked and found sound, in order.
	Events uint64
	// Head is the hash of the last sound event; empty for an empty log.
	Head string
	// Broken is the first broken link; nil when the whole chain holds.
	Broken *Break
}

// OK reports whether the chain holds from its first event to its head.
func (r Report) OK() bool { return r.Broken == nil }

// The problems a Break names.
const (
	// ProblemHash: the record's hash is not the hash of its content, so
	// the record was changed after it was appended.
	ProblemHash = "hash"
	// ProblemPrevHash: the record does not link to the record before it.
	ProblemPrevHash = "prev_hash"
	// ProblemSequence: a record is missing, repeated or out of order.
	ProblemSequence = "sequence"
	// ProblemHead: the chain ends before or after the head the log keeps,
	// or at a different event.
	ProblemHead = "head"
)

// Break is the first place the chain does not hold.
type Break struct {
	// Seq is the sequence number where the chain breaks: the record's own
	// for ProblemHash and ProblemPrevHash, the one expected there for
	// ProblemSequence and ProblemHead.
	Seq uint64
	// ID is the id of the record found there; empty when none was.
	ID string
	// Problem is one of the Problem constants.
	Problem string
	// Expected is what the chain requires there: a hash, or a sequence
	// number in decimal.
	Expected string
	// Actual is what the record holds.
	Actual string
}

// String describes the break in one line.
func (b *Break) String() string {
	switch b.Problem {
	case ProblemHash:
		return fmt.Sprintf("seq %d (id %s): stored hash %s, content hashes to %s: the record was altered", b.Seq, b.ID, b.Actual, b.Expected)
	case ProblemPrevHash:
		return fmt.Sprintf("seq %d (id %s): prev_hash %s, previous record's hash is %s: the link is broken", b.Seq, b.ID, b.Actual, b.Expected)
	case ProblemSequence:
		return fmt.Sprintf("seq %s expected, found seq %s (id %s): a record is missing or out of order", b.Expected, b.Actual, b.ID)
	default:
		return fmt.Sprintf("after seq %d: the log's head is %s, the chain ends at %s: records were cut off or added", b.Seq, b.Expected, b.Actual)
	}
}

// verifyPage is how many events Verify reads at a time.
const verifyPage = MaxLimit

// Verify walks the whole chain of log from its first event and reports the
// first broken link: a record whose hash does not match its content, one
// that does not link to the record before it, or a missing, repeated or
// reordered record. When log is a Header, Verify reads the head first,
// walks up to it (events appended meanwhile are left for the next run) and
// checks that the chain reaches that head, which catches records cut off
// the end. The error is for a log that cannot be read; a broken chain is a
// Report with Broken set.
func Verify(ctx context.Context, log Log) (Report, error) {
	var (
		r       Report
		after   uint64
		prev    Head
		head    Head
		hasHead bool
	)
	if h, ok := log.(Header); ok {
		var err error
		if head, err = h.Head(ctx); err != nil {
			return r, err
		}
		hasHead = true
	}
walk:
	for !hasHead || prev.Seq < head.Seq {
		evs, next, err := log.List(ctx, Query{After: after, Limit: verifyPage})
		if err != nil {
			return r, err
		}
		for i := range evs {
			ev := &evs[i]
			if hasHead && ev.Seq > head.Seq && prev.Seq == head.Seq {
				break walk
			}
			if b := check(prev, ev); b != nil {
				r.Broken = b
				return r, nil
			}
			prev = HeadOf(*ev)
			r.Events, r.Head = ev.Seq, ev.Hash
		}
		if next == 0 || len(evs) == 0 {
			break
		}
		after = next
	}
	if hasHead && (head.Seq != prev.Seq || head.Hash != prev.Hash) {
		r.Broken = &Break{Seq: prev.Seq, ID: head.ID, Problem: ProblemHead,
			Expected: fmt.Sprintf("seq %d hash %s", head.Seq, head.Hash),
			Actual:   fmt.Sprintf("seq %d hash %s", prev.Seq, prev.Hash)}
	}
	return r, nil
}

// check returns the break ev makes in a chain ending at prev, or nil.
func check(prev Head, ev *Event) *Break {
	if ev.Seq != prev.Seq+1 {
		return &Break{Seq: prev.Seq + 1, ID: ev.ID, Problem: ProblemSequence,
			Expected: fmt.Sprint(prev.Seq + 1), Actual: fmt.Sprint(ev.Seq)}
	}
	if ev.PrevHash != prev.Hash {
		return &Break{Seq: ev.Seq, ID: ev.ID, Problem: ProblemPrevHash, Expected: prev.Hash, Actual: ev.PrevHash}
	}
	want, err := ComputeHash(*ev)
	if err != nil {
		want = "unhashable: " + err.Error()
	}
	if want != ev.Hash {
		return &Break{Seq: ev.Seq, ID: ev.ID, Problem: ProblemHash, Expected: want, Actual: ev.Hash}
	}
	return nil
}
