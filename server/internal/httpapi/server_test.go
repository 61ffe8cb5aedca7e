package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/httpapi"
)

// keyGuard stands in for authentication: without "X-Key: ok" it answers
// 401 without reading the body, as authn's middleware does.
func keyGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "ok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// startHTTPServer serves h through NewServer on loopback and returns
// its address.
func startHTTPServer(t *testing.T, h http.Handler, opts httpapi.ServerOptions) string {
	t.Helper()
	srv := httpapi.NewServer(h, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().String()
}

// send opens a connection and writes raw bytes on it.
func send(t *testing.T, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if raw != "" {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// response reads one response from c, waiting at most wait.
func response(c net.Conn, wait time.Duration) (*http.Response, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// closedWithin reports whether the server closes c within wait, reading
// and dropping whatever it sends first.
func closedWithin(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	return err == nil // EOF: closed by the server; a timeout is an error
}

// slowCheck declares a body it never sends.
func slowCheck(key string) string {
	return "POST /v1/check HTTP/1.1\r\nHost: pdp\r\nX-Key: " + key + "\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n"
}

const okCheck = `{"tenant":"acme","action":{"name":"allow"}}`

func TestHTTPServerAnswersANormalClientWhileSlowOnesHang(t *testing.T) {
	h, _ := newHTTP(t, httpapi.Options{})
	opts := httpapi.ServerOptions{HeaderTimeout: 2 * time.Second, BodyTimeout: 2 * time.Second}
	before := runtime.NumGoroutine()
	addr := startHTTPServer(t, keyGuard(h), opts)

	const slow = 100
	var conns []net.Conn
	for range slow {
		conns = append(conns, send(t, addr, slowCheck("ok")))
	}
	var halfHeaders, silent []net.Conn
	for range 20 {
		halfHeaders = append(halfHeaders, send(t, addr, "POST /v1/check HTTP/1.1\r\nHost: pdp\r\nContent-Le"))
		silent = append(silent, send(t, addr, ""))
	}

	start := time.Now()
	resp, err := http.Post("http://"+addr+"/v1/check", "application/json", strings.NewReader(okCheck))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/check", strings.NewReader(okCheck))
	req.Header.Set("X-Key", "ok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the normal client got %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
	// Served before the slow ones could have timed out: it did not queue
	// behind them.
	if took := time.Since(start); took >= opts.BodyTimeout {
		t.Errorf("the normal client waited %v behind the slow ones", took)
	}

	var wg sync.WaitGroup
	errs := make(chan error, slow+40)
	for i, c := range conns {
		wg.Go(func() {
			resp, err := response(c, 5*time.Second)
			switch {
			case err != nil:
				errs <- fmt.Errorf("slow body %d: %v, want 408", i, err)
			case resp.StatusCode != http.StatusRequestTimeout:
				errs <- fmt.Errorf("slow body %d: %s, want 408", i, resp.Status)
			case !resp.Close:
				errs <- fmt.Errorf("slow body %d: the connection stays open after the 408", i)
			}
		})
	}
	for i, c := range append(halfHeaders, silent...) {
		wg.Go(func() {
			if !closedWithin(c, 5*time.Second) {
				errs <- fmt.Errorf("half-open connection %d is still open 5s later", i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range append(append(conns, halfHeaders...), silent...) {
		c.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	waitGoroutines(t, before+5)
}

// waitGoroutines waits until at most n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHTTPServerAnswersWithoutWaitingForAnUnreadBody(t *testing.T) {
	t.Parallel()
	const bodyTimeout = 3 * time.Second
	h, _ := newHTTP(t, httpapi.Options{})
	addr := startHTTPServer(t, keyGuard(h), httpapi.ServerOptions{BodyTimeout: bodyTimeout})
	for _, tt := range []struct {
		name, raw string
		want      int
	}{
		{"a refused key", slowCheck("wrong"), http.StatusUnauthorized},
		{"an unknown path", "POST /v1/nothing HTTP/1.1\r\nHost: pdp\r\nX-Key: ok\r\nContent-Length: 64\r\n\r\n", http.StatusNotFound},
		{"health", "GET /healthz HTTP/1.1\r\nHost: pdp\r\nX-Key: ok\r\nContent-Length: 64\r\n\r\n", http.StatusOK},
		{"a chunked body", "POST /v1/check HTTP/1.1\r\nHost: pdp\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n", http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := send(t, addr, tt.raw)
			start := time.Now()
			resp, err := response(c, bodyTimeout/2)
			if err != nil || resp.StatusCode != tt.want {
				t.Fatalf("%v, %v; want %d before the body timeout", resp, err, tt.want)
			}
			if !resp.Close {
				t.Error("the response keeps the connection although its body was not read")
			}
			// net/http still gives the body until the deadline to arrive
			// before it lets the connection go.
			if !closedWithin(c, bodyTimeout+2*time.Second) {
				t.Errorf("the connection is still open %v after the request", time.Since(start))
			}
		})
	}
}

func TestHTTPServerLiftsTheBodyDeadlineOnceTheBodyIsRead(t *testing.T) {
	t.Parallel()
	const bodyTimeout = 300 * time.Millisecond
	slowHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		time.Sleep(3 * bodyTimeout)
		if r.Context().Err() != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	addr := startHTTPServer(t, slowHandler, httpapi.ServerOptions{BodyTimeout: bodyTimeout})
	c := send(t, addr, "POST /work HTTP/1.1\r\nHost: pdp\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := response(c, 5*time.Second)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a handler outliving the body timeout: %v, %v; want 200 with its context alive", resp, err)
	}
	if resp.Close {
		t.Fatal("the connection is closed although the body was read")
	}
	// The same connection serves the next request.
	if _, err := io.WriteString(c, "POST /work HTTP/1.1\r\nHost: pdp\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := response(c, 5*time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second request on the connection: %v, %v", resp, err)
	}
}

func TestHTTPServerClosesIdleConnections(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	addr := startHTTPServer(t, h, httpapi.ServerOptions{IdleTimeout: 300 * time.Millisecond})
	c := send(t, addr, "GET /healthz HTTP/1.1\r\nHost: pdp\r\n\r\n")
	if resp, err := response(c, 5*time.Second); err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %v, %v; want 200 kept alive", resp, err)
	}
	start := time.Now()
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("an idle connection is still open 5s later")
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", took)
	}
}

func TestHTTPServerSlowBodyTimeoutIsADeadlineError(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	})
	addr := startHTTPServer(t, h, httpapi.ServerOptions{BodyTimeout: 200 * time.Millisecond})
	send(t, addr, "POST /x HTTP/1.1\r\nHost: pdp\r\nContent-Length: 10\r\n\r\nabc")
	select {
	case err := <-got:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("reading a slow body: %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the body read is still blocked 5s later")
	}
}

func TestHTTPServerBoundsHTTP2BodiesToo(t *testing.T) {
	t.Parallel()
	h, _ := newHTTP(t, httpapi.Options{})
	srv := httpapi.NewServer(h, httpapi.ServerOptions{BodyTimeout: 300 * time.Millisecond})
	ts := httptest.NewUnstartedServer(srv.Handler)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	body, never := io.Pipe()
	defer never.Close()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/check", body)
	req.ContentLength = 64
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("HTTP/%d %s, want HTTP/2 408", resp.ProtoMajor, resp.Status)
	}
}
