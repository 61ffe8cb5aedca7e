package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

func TestAuditConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	audittest.Run(t, func(t *testing.T) audit.Log {
		return openStore(t, srv, Options{}).AuditLog()
	})
}

func TestAuditReplicasFormOneChain(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := openStore(t, srv, Options{})
	replicas := []audit.Log{a.AuditLog(), sameKeys(t, srv, a).AuditLog(), sameKeys(t, srv, a).AuditLog()}
	const each = 15
	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*each)
	for r, l := range replicas {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(context.Background(), audittest.Entry(fmt.Sprintf("r%d", r), i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, l := range replicas {
		audittest.MustVerify(t, l, uint64(len(replicas)*each))
	}
}

func TestAuditVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, srv, Options{})
	l := s.AuditLog()
	for i := range 5 {
		audittest.MustAppend(t, l, audittest.Entry("acme", i))
	}
	key := l.(*auditLog).eventsKey()
	ctx := context.Background()
	raw, err := s.client.Do(ctx, s.client.B().Hget().Key(key).Field("3").Build()).AsBytes()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := audit.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev.Reason = "routine maintenance"
	rec, err := audit.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.Do(ctx, s.client.B().Hset().Key(key).FieldValue().FieldValue("3", string(rec)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Verify(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Broken.Seq != 3 || r.Broken.Problem != audit.ProblemHash || r.Events != 2 {
		t.Fatalf("Verify after overwriting seq 3 = %+v, broken %v", r, r.Broken)
	}
	// Another replica, with nothing cached, sees the same first break.
	if err := s.client.Do(ctx, s.client.B().Hdel().Key(key).Field("4").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	r, _ = audit.Verify(ctx, sameKeys(t, srv, s).AuditLog())
	if r.OK() || r.Broken.Seq != 3 {
		t.Fatalf("Verify from another replica = %+v, broken %v", r, r.Broken)
	}
}

// TestAuditCluster runs the audit suite against a one-node Redis Cluster,
// which refuses the append script unless its keys share one slot.
func TestAuditCluster(t *testing.T) {
	t.Parallel()
	srv := redistest.StartWith(t, redistest.Options{Cluster: true})
	audittest.Run(t, func(t *testing.T) audit.Log {
		return openStore(t, srv, Options{}).AuditLog()
	})
}
