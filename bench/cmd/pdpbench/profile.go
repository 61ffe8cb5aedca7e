package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// pprofAddr is where pdp serves its runtime profiles when -pdp-cpuprofile
// is given.
const pprofAddr = "127.0.0.1:16060"

// profileDuring fetches a CPU profile of pdp over the next d into path,
// in the background; the returned function waits for it and returns its
// error.
func profileDuring(path string, d time.Duration) func() error {
	errc := make(chan error, 1)
	go func() {
		secs := max(int(d/time.Second), 1)
		cl := &http.Client{Timeout: d + 30*time.Second}
		rs, err := cl.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs))
		if err != nil {
			errc <- err
			return
		}
		defer rs.Body.Close()
		if rs.StatusCode != http.StatusOK {
			errc <- fmt.Errorf("pprof: %s", rs.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			errc <- err
			return
		}
		_, err = io.Copy(f, rs.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		errc <- err
	}()
	return func() error { return <-errc }
}
