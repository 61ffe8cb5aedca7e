package grpcserver_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/httpapi"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc/pdpsvctest"
)

// The test doubles are pdpsvctest's; these names keep the tests short.
type logBuffer = pdpsvctest.LogBuffer

func newService(t *testing.T) *pdpsvc.Service { return pdpsvctest.Service(t) }

func newLogger() (*slog.Logger, *logBuffer) { return pdpsvctest.NewLogger() }

// do serves one request with h and returns the recorded answer.
func do(h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// newHTTP is the HTTP port's handler over the test service, logging to a
// buffer.
func newHTTP(t *testing.T, opts httpapi.Options) (http.Handler, *logBuffer) {
	t.Helper()
	logger, logs := newLogger()
	opts.Logger = logger
	if opts.Decisions == nil {
		opts.Decisions = newService(t)
	}
	return httpapi.NewHandler(opts), logs
}
