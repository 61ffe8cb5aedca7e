package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is the largest JSON request body.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultRequestTimeout bounds one HTTP API call.
	DefaultRequestTimeout = 5 * time.Second
)

// DecisionServer is what the HTTP API calls: the same methods, on the same
// service, that serve gRPC. *pdpsvc.Service implements it.
type DecisionServer interface {
	// Check decides one request.
	Check(ctx context.Context, in *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error)
	// Report records one event.
	Report(ctx context.Context, in *pdpv1.ReportRequest) (*pdpv1.ReportResponse, error)
}

// Options configures NewHandler.
type Options struct {
	// Decisions serves POST /v1/check and POST /v1/report; when nil those
	// paths are not served (404), leaving health and metrics.
	Decisions DecisionServer
	// Ready reports readiness for GET /readyz: nil error means ready, an
	// error's text is the reason given with the 503. nil Ready is always
	// ready.
	Ready func(ctx context.Context) error
	// Metrics serves GET /metrics; nil leaves the path unserved.
	Metrics http.Handler
	// Logger receives the detail of internal errors and panics; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes is the largest request body; 0 means DefaultMaxBodyBytes.
	// Larger bodies get 413.
	MaxBodyBytes int64
	// RequestTimeout bounds each API call and readiness check; 0 means
	// DefaultRequestTimeout. A call past it gets 504.
	RequestTimeout time.Duration
	// TracerProvider, when set, traces every request with otelhttp.
	TracerProvider trace.TracerProvider
	// MeterProvider receives otelhttp's metrics when TracerProvider is set;
	// nil records none.
	MeterProvider metric.MeterProvider
	// Propagator extracts the caller's trace context; nil means W3C trace
	// context and baggage.
	Propagator propagation.TextMapPropagator
}

// NewHandler returns the handler of the HTTP port:
//
//   - POST /v1/check and POST /v1/report take the pdp.v1 request as
//     protojson (lowerCamelCase or proto field names; unknown fields are
//     refused) and answer 200 with the response as protojson
//     (lowerCamelCase, enums by name, default values included). Errors are
//     a JSON object {"code","message","field_violations"} with the HTTP
//     status HTTPStatusCode gives for the gRPC code, 413 for a body over
//     the limit, 408 for a body not received within the body timeout of
//     NewServer, 405 with Allow for another method, and 415 for a body
//     that does not parse and was not sent as JSON.
//   - GET /healthz answers 200 while the process runs.
//   - GET /readyz answers 200 when Options.Ready says so, else 503
//     with the reason.
//   - GET /metrics is Options.Metrics.
func NewHandler(opts Options) http.Handler {
	h := &httpHandler{
		logger:  orDiscard(opts.Logger),
		ready:   opts.Ready,
		maxBody: orDefault(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		timeout: orDefault(opts.RequestTimeout, DefaultRequestTimeout),
	}
	mux := http.NewServeMux()
	if d := opts.Decisions; d != nil {
		mux.Handle("/v1/check", serveRPC(h, func() *pdpv1.CheckRequest { return &pdpv1.CheckRequest{} }, d.Check))
		mux.Handle("/v1/report", serveRPC(h, func() *pdpv1.ReportRequest { return &pdpv1.ReportRequest{} }, d.Report))
	}
	mux.HandleFunc("/healthz", h.healthz)
	mux.HandleFunc("/readyz", h.readyz)
	if opts.Metrics != nil {
		metrics := opts.Metrics
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
			if allowMethods(w, r, http.MethodGet, http.MethodHead) {
				metrics.ServeHTTP(w, r)
			}
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, http.StatusNotFound, rpcstatus.ErrorBody{Code: "NOT_FOUND", Message: "no such path: " + r.URL.Path})
	})

	var handler http.Handler = h.recoverPanics(mux)
	if opts.TracerProvider != nil {
		mp := opts.MeterProvider
		if mp == nil {
			mp = metricnoop.NewMeterProvider()
		}
		prop := opts.Propagator
		if prop == nil {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		handler = otelhttp.NewHandler(handler, "pdp.http",
			otelhttp.WithTracerProvider(opts.TracerProvider),
			otelhttp.WithMeterProvider(mp),
			otelhttp.WithPropagators(prop),
			otelhttp.WithSpanNameFormatter(spanName),
		)
	}
	return handler
}

// spanName names a request's span by its route, keeping arbitrary paths
// out of span names.
func spanName(_ string, r *http.Request) string {
	switch p := r.URL.Path; p {
	case "/v1/check", "/v1/report", "/healthz", "/readyz", "/metrics":
		return r.Method + " " + p
	}
	return r.Method + " unknown route"
}

type httpHandler struct {
	logger  *slog.Logger
	ready   func(ctx context.Context) error
	maxBody int64
	timeout time.Duration
}

var (
	unmarshalJSON = protojson.UnmarshalOptions{}
	marshalJSON   = protojson.MarshalOptions{EmitDefaultValues: true}
)

// serveRPC adapts one unary method to POST with protojson bodies.
func serveRPC[Req, Resp proto.Message](h *httpHandler, newReq func() Req, call func(context.Context, Req) (Resp, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowMethods(w, r, http.MethodPost) {
			return
		}
		req := newReq()
		if !h.decode(w, r, req) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
		defer cancel()
		resp, err := call(ctx, req)
		if err != nil {
			h.writeError(ctx, w, r, err)
			return
		}
		body, err := marshalJSON.Marshal(resp)
		if err != nil {
			h.writeError(ctx, w, r, fmt.Errorf("encoding response: %w", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// decode reads the body into msg, answering the client itself on failure.
// An empty body is an empty message, whose validation names the required
// fields.
func (h *httpHandler) decode(w http.ResponseWriter, r *http.Request, msg proto.Message) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeErrorBody(w, http.StatusRequestEntityTooLarge, rpcstatus.ErrorBody{
				Code:    "RESOURCE_EXHAUSTED",
				Message: fmt.Sprintf("request body larger than %d bytes", h.maxBody),
			})
			return false
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The body deadline of NewServer passed: the client was
			// too slow or never sent what it declared.
			writeErrorBody(w, http.StatusRequestTimeout, rpcstatus.ErrorBody{Code: "DEADLINE_EXCEEDED", Message: "request body not received in time"})
			return false
		}
		writeErrorBody(w, http.StatusBadRequest, rpcstatus.ErrorBody{Code: "INVALID_ARGUMENT", Message: "could not read request body"})
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if err := unmarshalJSON.Unmarshal(body, msg); err != nil {
		if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
			writeErrorBody(w, http.StatusUnsupportedMediaType, rpcstatus.ErrorBody{
				Code:    "INVALID_ARGUMENT",
				Message: "request body must be JSON (Content-Type: application/json)",
			})
			return false
		}
		writeErrorBody(w, http.StatusBadRequest, rpcstatus.ErrorBody{
			Code:    "INVALID_ARGUMENT",
			Message: "malformed JSON body: " + strings.TrimPrefix(err.Error(), "proto: "),
		})
		return false
	}
	return true
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// writeError maps err with ToStatus, logging internal detail.
func (h *httpHandler) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	if rpcstatus.IsInternal(err) {
		h.logger.ErrorContext(ctx, "internal error", "http.path", r.URL.Path, "error", err.Error())
	}
	writeStatus(w, rpcstatus.ToStatus(err))
}

func (h *httpHandler) healthz(w http.ResponseWriter, r *http.Request) {
	if allowMethods(w, r, http.MethodGet, http.MethodHead) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

func (h *httpHandler) readyz(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if h.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
		defer cancel()
		if err := h.ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// allowMethods answers 405 with Allow unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeErrorBody(w, http.StatusMethodNotAllowed, rpcstatus.ErrorBody{
		Code:    "UNIMPLEMENTED",
		Message: fmt.Sprintf("method %s not allowed; use %s", r.Method, strings.Join(methods, " or ")),
	})
	return false
}

// recoverPanics turns a handler panic into a logged 500.
func (h *httpHandler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.logger.ErrorContext(r.Context(), "panic in HTTP handler",
				"http.path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeStatus(w, status.New(codes.Internal, rpcstatus.InternalMessage))
		}()
		next.ServeHTTP(w, r)
	})
}

// orDefault is v, or def when v is zero or negative.
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// orDiscard is l, or a logger that discards.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
