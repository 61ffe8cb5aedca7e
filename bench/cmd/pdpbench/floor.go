package main

import (
	"fmt"
	"path/filepath"
)

// measureFloor runs the no-op server again at pdp's 50% rate: the latency
// the generator, loopback and machine add at that rate with no decision at
// all, next to which pdp's p99 at 50% is read.
func (b *bench) measureFloor() (*result, error) {
	pdp := b.find("pdp")
	if pdp == nil || len(pdp.runs) < 2 {
		return nil, fmt.Errorf("pdp was not measured")
	}
	rate := pdp.runs[1].target
	srv, err := b.startSystem("noop", filepath.Join(b.tmp, "noop"), "")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	r, err := b.load("noop", srv, "at pdp 50%", loadSpec{rate: rate, duration: b.c.rateDur, conc: b.c.conc})
	if err != nil {
		return nil, err
	}
	return r, nil
}
