package main

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// TestOnlyFailClosedCallsDuringAnOutageAreProvoked: the soak's verdict
// rests on this classification, so it is tested without a server.
func TestOnlyFailClosedCallsDuringAnOutageAreProvoked(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	l := newLedger()
	l.outageBegins(at(10))
	l.outageEnds(at(13))

	l.failed("check.grpc", codes.Unavailable, "", at(11), at(11.1))        // inside
	l.failed("check.grpc", codes.DeadlineExceeded, "", at(9), at(10.5))    // started before, ended inside
	l.failed("report.success", codes.Unavailable, "", at(17.9), at(17.95)) // within the grace after the restart
	l.failed("check.http", codes.Unavailable, "", at(30), at(30.1))        // long after
	l.failed("admin.add_ip_rule", codes.NotFound, "", at(11), at(11.1))    // not fail-closed
	l.failed("check.grpc", codes.PermissionDenied, "", at(12), at(12.1))   // not fail-closed
	l.failed("check.grpc", codes.Unavailable, "", at(9), at(9.9))          // before
	l.decided("check.grpc", "rev-1")

	if got := l.errors(); got != 7 {
		t.Errorf("errors = %d, want every failed call (7)", got)
	}
	if l.nUnexp != 4 {
		t.Errorf("unexpected = %d, want 4:\n%s", l.nUnexp, l.summary())
	}
	if l.decisions != 1 {
		t.Errorf("decisions = %d, want 1", l.decisions)
	}

	l.outageBegins(at(60)) // still down
	l.failed("check.grpc", codes.Unavailable, "", at(61), at(62))
	if l.nUnexp != 4 {
		t.Errorf("a failure during an outage that has not ended counts as unexpected:\n%s", l.summary())
	}
}
