package pdptest_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// slowClient is one connection that sends a request's headers, declares
// a body and never sends it, or sends only part of its headers.
type slowClient struct {
	what string
	raw  string
	want int // the status expected; 0: the server ends it, closing or with a 4xx
	// prompt: the answer comes before the body timeout, since the body is
	// not needed for it.
	prompt bool
}

func slowClients(key string) []slowClient {
	declared := func(method, path, key string) string {
		h := method + " " + path + " HTTP/1.1\r\nHost: pdp\r\nContent-Type: application/json\r\nContent-Length: 200\r\n"
		if key != "" {
			h += authn.APIKeyHeader + ": " + key + "\r\n"
		}
		return h + "\r\n" + `{"tenant":"sec",` // part of the body at most
	}
	var out []slowClient
	add := func(n int, c slowClient) {
		for range n {
			out = append(out, c)
		}
	}
	add(120, slowClient{what: "check with a key, body never sent", raw: declared("POST", "/v1/check", key), want: http.StatusRequestTimeout})
	add(20, slowClient{what: "report with a key, body never sent", raw: declared("POST", "/v1/report", key), want: http.StatusRequestTimeout})
	add(40, slowClient{what: "check without a key", raw: declared("POST", "/v1/check", ""), want: http.StatusUnauthorized, prompt: true})
	add(10, slowClient{what: "forward-auth with a wrong key", raw: declared("GET", "/v1/forward-auth", "pdp_wrong"), want: http.StatusUnauthorized, prompt: true})
	add(10, slowClient{what: "readyz with a declared body", raw: declared("GET", "/readyz", ""), want: http.StatusOK, prompt: true})
	add(20, slowClient{what: "half the headers", raw: "POST /v1/check HTTP/1.1\r\nHost: pdp\r\nContent-Le"})
	add(20, slowClient{what: "nothing at all"})
	return out
}

// TestSlowAndHalfOpenHTTPClientsHoldNothing opens 240 connections that
// never finish their request against a server with keys on, and checks
// that a normal client is answered meanwhile, that every slow one gets its
// answer or is closed by the deadlines, and that the server's goroutines
// come back to where they were.
func TestSlowAndHalfOpenHTTPClientsHoldNothing(t *testing.T) {
	const headerTimeout, bodyTimeout = time.Second, 1500 * time.Millisecond
	pep := pdptest.NewKey(t, "edge-gateway", authn.RolePEP)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, pep), pdptest.WithTenant("sec.yaml", secTenant),
		pdptest.WithConfig(func(c *config.Config) {
			c.HTTPHeaderTimeout, c.HTTPBodyTimeout = headerTimeout, bodyTimeout
		}))
	addr := strings.TrimPrefix(s.HTTPURL, "http://")
	normalCheck := func() (int, time.Duration) {
		start := time.Now()
		resp, err := s.HTTP.Post(s.HTTPURL+"/v1/check", "application/json", strings.NewReader(secCheckJSON))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	normalCheck() // warm the engine and the client
	s.HTTP.CloseIdleConnections()
	before := runtime.NumGoroutine()

	clients := slowClients(pep.Key)
	conns := make([]net.Conn, len(clients))
	opened := time.Now()
	for i, c := range clients {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, c.raw); err != nil {
			t.Fatal(err)
		}
		conns[i] = conn
	}

	if code, took := normalCheck(); code != http.StatusOK || took > bodyTimeout {
		t.Errorf("a normal client among %d slow ones: %d after %v; want 200 before the body timeout", len(clients), code, took)
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, c := range clients {
		conn := conns[i]
		wg.Go(func() {
			_ = conn.SetReadDeadline(time.Now().Add(bodyTimeout + 5*time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			took := time.Since(opened)
			switch {
			case c.want == 0 && err == nil && (resp.StatusCode < 400 || resp.StatusCode >= 500 || !resp.Close):
				errs <- fmt.Errorf("%s: answered %s, want the connection ended", c.what, resp.Status)
			case c.want == 0 && err != nil && !closedByPeer(err):
				errs <- fmt.Errorf("%s: %v after %v, want the connection closed", c.what, err, took)
			case c.want == 0 && took > headerTimeout+2*time.Second:
				errs <- fmt.Errorf("%s: ended after %v, long past the header timeout", c.what, took)
			case c.want == 0:
			case err != nil:
				errs <- fmt.Errorf("%s: %v after %v, want %d", c.what, err, took, c.want)
			case resp.StatusCode != c.want:
				errs <- fmt.Errorf("%s: %s, want %d", c.what, resp.Status, c.want)
			case c.prompt && took > bodyTimeout:
				errs <- fmt.Errorf("%s: answered after %v, as if it had waited for the body", c.what, took)
			case !resp.Close:
				errs <- fmt.Errorf("%s: the connection stays open with its body unread", c.what)
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... and %d more", n-10)
	}
	for _, conn := range conns {
		conn.Close()
	}

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the slow clients:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := normalCheck(); code != http.StatusOK {
		t.Errorf("after the slow clients: %d", code)
	}
}

// closedByPeer reports whether err is how reading a connection the other
// side closed ends.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
