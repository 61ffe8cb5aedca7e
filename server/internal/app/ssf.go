package app

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/signals"
	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver"
)

// sharedSignals is the Shared Signals receiver of --ssf-config: nil
// without the flag.
type sharedSignals struct {
	recv   *receiver.Receiver
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openSharedSignals loads --ssf-config; without it there is nothing to
// receive and no tenant reads Shared Signals effects.
func openSharedSignals(cfg config.Config, o options, st *state) (*sharedSignals, error) {
	if cfg.SSFConfig == "" {
		return nil, nil
	}
	r := receiver.New(receiver.Options{Store: st.store.SSF, Audit: st.audit, Meter: o.meters, Logger: o.logger, Now: o.now})
	if err := r.Load(cfg.SSFConfig); err != nil {
		return nil, fmt.Errorf("--ssf-config: %w", err)
	}
	return &sharedSignals{recv: r}, nil
}

// reader is the signal enrichment's view of the effects; nil without
// streams.
func (s *sharedSignals) reader(st ssf.Store) signals.SSFReader {
	if s == nil {
		return nil
	}
	return ssf.NewReader(st, s.recv.HasStreams)
}

// mount serves the push endpoint in front of next.
func (s *sharedSignals) mount(next http.Handler) http.Handler {
	if s == nil {
		return next
	}
	return receiver.Mount(s.recv, next)
}

// start watches the stream file and polls the poll streams until stop.
func (s *sharedSignals) start(ctx context.Context, cfg config.Config, o options) {
	if s == nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.recv.StartPolling(ctx)
	s.wg.Go(func() {
		if err := s.recv.Watch(ctx, cfg.ReloadDebounce); err != nil {
			o.logger.Error("SSF stream file watcher stopped; changes are no longer picked up", "error", err.Error())
		}
	})
}

// stop ends the watch and the poll clients (which send their pending
// acknowledgements).
func (s *sharedSignals) stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.recv.StopPolling()
	s.wg.Wait()
}
