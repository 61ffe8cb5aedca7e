package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// outageGrace is how long after redis-server answers again a failure still
// counts as the outage's: clients reconnect, and calls that waited on the
// dead connection finish.
const outageGrace = 5 * time.Second

// ledger counts what the soak did and classifies every failed call: a
// failure is provoked when the call overlapped a Redis outage and failed
// closed (UNAVAILABLE, or DEADLINE_EXCEEDED while it waited for the store);
// any other failure is unexpected.
type ledger struct {
	mu         sync.Mutex
	outages    []outage
	decisions  int64
	calls      map[string]int64
	provoked   map[string]int64 // kind/code -> count
	unexpected []string         // descriptions, the first few kept
	nUnexp     int64
	revisions  map[string]bool
}

// outage is a window in which redis-server was down; end is zero while it
// lasts.
type outage struct{ start, end time.Time }

func newLedger() *ledger {
	return &ledger{calls: map[string]int64{}, provoked: map[string]int64{}, revisions: map[string]bool{}}
}

// outageBegins records that redis-server is being stopped now.
func (l *ledger) outageBegins(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outages = append(l.outages, outage{start: at})
}

// outageEnds records that redis-server answers again.
func (l *ledger) outageEnds(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.outages); n > 0 && l.outages[n-1].end.IsZero() {
		l.outages[n-1].end = at
	}
}

// duringOutage reports whether a call that ran from start to end
// overlapped an outage (its grace included).
func (l *ledger) duringOutage(start, end time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.outages {
		oEnd := o.end.Add(outageGrace)
		if o.end.IsZero() {
			oEnd = end.Add(time.Second) // still down
		}
		if start.Before(oEnd) && end.After(o.start) {
			return true
		}
	}
	return false
}

// decided counts one Check that returned a decision of policy revision rev.
func (l *ledger) decided(kind, rev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.decisions++
	l.calls[kind]++
	if rev != "" {
		l.revisions[rev] = true
	}
}

// succeeded counts one call that is not a decision.
func (l *ledger) succeeded(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[kind]++
}

// failed classifies one failed call of kind that ran from start to end.
func (l *ledger) failed(kind string, code codes.Code, detail string, start, end time.Time) {
	provoked := (code == codes.Unavailable || code == codes.DeadlineExceeded) && l.duringOutage(start, end)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[kind]++
	if provoked {
		l.provoked[kind+"/"+code.String()]++
		return
	}
	l.nUnexp++
	if len(l.unexpected) < 20 {
		l.unexpected = append(l.unexpected, fmt.Sprintf("%s %s at %s (%s): %s",
			kind, code, start.Format("15:04:05.000"), end.Sub(start).Round(time.Millisecond), detail))
	}
}

// unexpectedf records a failure that is no call's, such as a broken audit
// chain or a server that exited.
func (l *ledger) unexpectedf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nUnexp++
	if len(l.unexpected) < 20 {
		l.unexpected = append(l.unexpected, fmt.Sprintf(format, args...))
	}
}

// errors is every failed call and failure, provoked or not.
func (l *ledger) errors() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.nUnexp
	for _, c := range l.provoked {
		n += c
	}
	return n
}

// summary describes the run for the lines before the last one.
func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "calls:")
	for _, k := range sortedKeys(l.calls) {
		fmt.Fprintf(&b, " %s=%d", k, l.calls[k])
	}
	fmt.Fprintf(&b, "\nredis outages: %d; policy revisions seen: %d\nprovoked failures:", len(l.outages), len(l.revisions))
	if len(l.provoked) == 0 {
		b.WriteString(" none")
	}
	for _, k := range sortedKeys(l.provoked) {
		fmt.Fprintf(&b, " %s=%d", k, l.provoked[k])
	}
	fmt.Fprintf(&b, "\nunexpected failures: %d", l.nUnexp)
	for _, u := range l.unexpected {
		b.WriteString("\n  " + u)
	}
	return b.String()
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
