package httpapi

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// Defaults of ServerOptions.
const (
	// DefaultHeaderTimeout is how long a client may take to send a
	// request's headers (and, with TLS, its handshake).
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout is how long a client may take to send a request's
	// body once its headers arrived.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultIdleTimeout is how long a kept-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 2 * time.Minute
)

// ServerOptions configures NewServer. The zero value is usable:
// plaintext, the defaults above, net/http's errors discarded.
type ServerOptions struct {
	// TLSConfig serves HTTPS when set; the caller wraps the listener.
	TLSConfig *tls.Config
	// HeaderTimeout is DefaultHeaderTimeout when 0.
	HeaderTimeout time.Duration
	// BodyTimeout is DefaultBodyTimeout when 0.
	BodyTimeout time.Duration
	// IdleTimeout is DefaultIdleTimeout when 0.
	IdleTimeout time.Duration
	// Logger receives net/http's own errors (TLS handshakes of scanners,
	// malformed requests) at debug level; nil discards.
	Logger *slog.Logger
}

// NewServer returns the server of the HTTP port around h, bounding
// what a slow or silent client can hold:
//
//   - a connection that sends nothing, or only part of its headers, is
//     closed after HeaderTimeout;
//   - a request body still incomplete BodyTimeout after the headers fails
//     to read, which the JSON API answers with 408, and the connection is
//     closed;
//   - a response to a request whose body the handler did not read to its
//     end (a refused API key, an unknown path, health) is written at once
//     and the HTTP/1 connection closed, instead of net/http first waiting
//     to discard a body that may never come;
//   - a kept-alive connection is closed after IdleTimeout without a
//     request.
//
// Every handler behind h is covered, since the bounds sit in front of it.
// There is deliberately no overall read timeout: net/http would cancel
// the context of a handler still running when it expires.
func NewServer(h http.Handler, opts ServerOptions) *http.Server {
	return &http.Server{
		Handler:           boundBodies(h, orDefault(opts.BodyTimeout, DefaultBodyTimeout)),
		TLSConfig:         opts.TLSConfig,
		ReadHeaderTimeout: orDefault(opts.HeaderTimeout, DefaultHeaderTimeout),
		IdleTimeout:       orDefault(opts.IdleTimeout, DefaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(orDiscard(opts.Logger).Handler(), slog.LevelDebug),
	}
}

// boundBodies gives every request that declares a body a read deadline of
// timeout, lifted once the body is read to its end so that a handler
// running past it keeps its connection and context. Until then an HTTP/1
// response carries Connection: close.
func boundBodies(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			// Without a deadline the body could hold the connection forever.
			writeErrorBody(w, http.StatusInternalServerError, rpcstatus.ErrorBody{Code: "INTERNAL", Message: rpcstatus.InternalMessage})
			return
		}
		b := &boundedBody{ReadCloser: r.Body, rc: rc}
		if r.ProtoMajor == 1 {
			b.header = w.Header()
			b.header.Set("Connection", "close")
		}
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// boundedBody lifts its request's read deadline and Connection: close
// once the body has been read to its end.
type boundedBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	header http.Header // nil for HTTP/2
	done   bool
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
		if b.header != nil {
			b.header.Del("Connection")
		}
	}
	return n, err
}
