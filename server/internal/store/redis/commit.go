package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// An admin change lives in its tenant's slot (or the policies' or the
// global IP rules' slot) and the chain in the {audit} slot, and a Cluster
// runs no script across slots. So each slot has an outbox,
//
//	pdp:{TAG}:audit:outbox    list: records committed with a change,
//	                          not yet known to be linked
//
// and Commit runs the change and its record as one script in the change's
// slot (txn): the record, finalised before (its time fixed, checked as the
// chain would check it) and given a random token, is pushed onto the
// outbox in the same script that writes the change, so both are written
// or neither is. Right after, Commit links the record into the chain and
// removes it from the outbox, and answers with the linked event. Linking
// is idempotent: appendScript links a token once and remembers where
// (pdp:{audit}:log:linked), so a record linked twice, by Commit and by a
// sweeper, is one event.
//
// A replica that stops between the script and the link leaves the record
// in the outbox: every replica's sweeper, at start and every SweepInterval,
// links what the registered outboxes hold. Commit registers the outbox
// before it runs the script; a registered outbox that stays empty costs a
// look.

// outboxToken is the length of a record's token, random hex.
const outboxToken = 32

// Commit implements audit.Committer.
func (l *auditLog) Commit(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (audit.Event, error) {
	if err := audit.Check(e); err != nil {
		return audit.Event{}, err
	}
	if err := l.s.check(ctx); err != nil {
		return audit.Event{}, err
	}
	outbox, rec, err := l.commitChange(ctx, e, change)
	if err != nil || rec == "" {
		return audit.Event{}, err
	}
	ev, err := l.link(ctx, outbox, rec)
	if err != nil {
		return audit.Event{}, fault.Wrap(errors.Join(audit.ErrLinkPending, err), fault.Unavailable, audit.ErrLinkPending.Error())
	}
	return ev, nil
}

// commitChange runs change in a txn and commits its writes with e's record
// in one script, running change again while a guard moved. It returns the
// outbox and the record to link; a change that wrote nothing has its
// record appended directly, and rec is empty.
func (l *auditLog) commitChange(ctx context.Context, e audit.Entry, change func(context.Context, *audit.Entry) error) (outbox, rec string, err error) {
	var direct *audit.Entry
	err = l.s.retry(ctx, "audited change", func() (bool, error) {
		t := newTxn(l.s)
		ee := e
		if change != nil {
			if err := change(withTxn(ctx, t), &ee); err != nil {
				return false, err
			}
		}
		if ee.Time.IsZero() {
			ee.Time = l.s.opts.Now()
		}
		ee.Time = ee.Time.UTC().Round(0)
		// What the chain would refuse is refused before anything is written.
		if _, err := audit.Link(audit.Head{}, ee, ee.Time); err != nil {
			return false, err
		}
		if t.empty() {
			direct = &ee
			return true, nil
		}
		tag, err := t.slot()
		if err != nil {
			return false, err
		}
		if rec, err = outboxRecord(ee); err != nil {
			return false, err
		}
		outbox = l.outboxKey(tag)
		c := l.s.client
		if err := c.Do(ctx, c.B().Sadd().Key(l.outboxesKey()).Member(outbox).Build()).Error(); err != nil {
			return false, l.s.fail(ctx, err, "register the audit outbox")
		}
		ok, err := t.exec(ctx, outbox, rec)
		if err != nil {
			return false, l.s.fail(ctx, err, "audited change")
		}
		if ok {
			// Notifications are not state: delivery is best effort.
			for _, fn := range t.after {
				_ = fn(ctx)
			}
		}
		return ok, nil
	})
	if err != nil {
		return "", "", err
	}
	if direct != nil {
		_, err := l.append(ctx, *direct, "")
		return "", "", err
	}
	return outbox, rec, nil
}

// outboxRecord is e as an outbox holds it: a fresh token, a newline and
// the entry encoded as an event without a place in the chain.
func outboxRecord(e audit.Entry) (string, error) {
	var tok [outboxToken / 2]byte
	_, _ = rand.Read(tok[:])
	b, err := audit.Encode(audit.Event{Entry: e})
	if err != nil {
		return "", fault.Wrap(err, fault.Internal, "audit: encode the record")
	}
	return hex.EncodeToString(tok[:]) + "\n" + string(b), nil
}

// link links an outbox record into the chain (once, whoever links it) and
// removes it from the outbox.
func (l *auditLog) link(ctx context.Context, outbox, rec string) (audit.Event, error) {
	token, body, ok := strings.Cut(rec, "\n")
	if !ok || len(token) != outboxToken {
		return audit.Event{}, fault.New(fault.Internal, "damaged record in the audit outbox %s", outbox)
	}
	held, err := audit.Decode([]byte(body))
	if err != nil {
		return audit.Event{}, fault.Wrap(err, fault.Internal, "damaged record in the audit outbox "+outbox)
	}
	ev, err := l.append(ctx, held.Entry, token)
	if err != nil {
		return audit.Event{}, err
	}
	c := l.s.client
	if err := c.Do(ctx, c.B().Lrem().Key(outbox).Count(1).Element(rec).Build()).Error(); err != nil {
		// Linked already: the next sweep finds the token linked and
		// removes the record then.
		return ev, nil
	}
	return ev, nil
}

// DefaultSweepInterval is how often a replica links what the outboxes
// hold.
const DefaultSweepInterval = 10 * time.Second

// sweep links every record the registered outboxes hold.
func (l *auditLog) sweep(ctx context.Context) error {
	c := l.s.client
	outboxes, err := c.Do(ctx, c.B().Smembers().Key(l.outboxesKey()).Build()).AsStrSlice()
	if err != nil {
		return l.s.fail(ctx, err, "audit outboxes")
	}
	var errs []error
	for _, outbox := range outboxes {
		recs, err := c.Do(ctx, c.B().Lrange().Key(outbox).Start(0).Stop(-1).Build()).AsStrSlice()
		if err != nil {
			errs = append(errs, l.s.fail(ctx, err, "audit outbox "+outbox))
			continue
		}
		for _, rec := range recs {
			if _, err := l.link(ctx, outbox, rec); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// startSweeper sweeps at once and then every SweepInterval until the store
// closes; a negative SweepInterval starts none. A sweep that fails is
// tried again at the next tick.
func (l *auditLog) startSweeper() {
	if l.s.opts.SweepInterval < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !l.s.track(ctx, cancel) {
		cancel()
		return
	}
	go func() {
		defer l.s.subs.Done()
		defer cancel()
		t := time.NewTicker(l.s.opts.SweepInterval)
		defer t.Stop()
		for {
			_ = l.sweep(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}
