package follow

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMarksArrivingDuringAReloadBecomeOneReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started, release := make(chan struct{}), make(chan struct{})
	got := make(chan Changes, 10)
	calls := 0
	l := Start(ctx, func(_ context.Context, c Changes) {
		got <- c
		if calls++; calls == 1 {
			close(started)
			<-release
		}
	})
	l.Changed("acme")
	<-started
	// The first reload is running: these wait for it, then come as one.
	l.Changed("beta")
	l.Changed("")
	l.ChangedAll()
	l.Changed("beta")
	close(release)
	want := []Changes{
		{Scopes: map[string]bool{"acme": true}},
		{All: true, Scopes: map[string]bool{"beta": true, "": true}},
	}
	for i, w := range want {
		select {
		case c := <-got:
			if d := cmp.Diff(w, c); d != "" {
				t.Fatalf("reload %d (-want +got):\n%s", i, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("reload %d never ran", i)
		}
	}
	select {
	case c := <-got:
		t.Fatalf("an extra reload: %+v", c)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestWaitReturnsOnceTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l := Start(ctx, func(context.Context, Changes) {})
	cancel()
	done := make(chan struct{})
	go func() { l.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the context ended")
	}
}
