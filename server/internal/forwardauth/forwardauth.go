// Package forwardauth serves /v1/forward-auth on the HTTP port, for
// nginx auth_request, Traefik ForwardAuth and Caddy forward_auth. The
// proxy sends (a copy of the headers of) each client request; the answer
// is 200 to let it through, 401 or 403 to refuse it.
//
// What is read, in order of preference:
//
//   - method: X-Original-Method (nginx), X-Forwarded-Method (Traefik,
//     Caddy), else the method of the forward-auth call itself (an nginx
//     subrequest keeps the client's method);
//   - URI: X-Original-URI (nginx), else X-Forwarded-Uri (Traefik, Caddy);
//     required. Host and scheme from X-Forwarded-Host and
//     X-Forwarded-Proto reach Rego in input.attributes.http;
//   - client IP: see ClientIP (X-Forwarded-For through --trusted-proxies);
//   - tenant, environment and action: the x-pdp-tenant, x-pdp-environment
//     and x-pdp-action headers (renamable), which the proxy sets per
//     location; without an action, "http.<lowercase method>" and the
//     resource is the path;
//   - identity: a bearer JWT (Authorization: Bearer) verified against
//     --jwks-file or --jwks-url when one is configured, plus the identity
//     headers of docs/api.md (Identity from a gateway) for what the token does not set (unless
//     --identity-headers=false). The proxy must set or clear those headers
//     itself: nginx passes client headers to the subrequest.
//
// Answers: 200 allow, 401 with the RFC 9470 WWW-Authenticate header for a
// challenge, 403 for a deny, each with X-PDP-Decision-Id and
// X-PDP-Risk-Score (and for 401/403 a small JSON body); 400 with field
// violations for malformed input; 401 with error="invalid_token" for a
// bearer token that fails verification; 503 when no policy is loaded, 504
// past the deadline. Every answer has Cache-Control: no-store.
package forwardauth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/pdp-dev/pdp/server/internal/bearer"
	"github.com/pdp-dev/pdp/server/internal/gateway"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// Path is where the handler is mounted on the HTTP port.
const Path = "/v1/forward-auth"

// DefaultTimeout bounds one forward-auth decision.
const DefaultTimeout = 5 * time.Second

// Options configures New.
type Options struct {
	// Gateway maps requests and shapes answers; required.
	Gateway *gateway.Gateway
	// Checker decides (the decision service); required.
	Checker gateway.Checker
	// TrustedProxies are the proxies whose X-Forwarded-For and X-Real-IP
	// are believed (--trusted-proxies).
	TrustedProxies []netip.Prefix
	// Logger receives internal errors and panics; nil discards.
	Logger *slog.Logger
	// Timeout bounds one decision; 0 means DefaultTimeout.
	Timeout time.Duration
	// TracerProvider, when set, traces each call with otelhttp (span
	// "forward-auth"), as the HTTP API is traced.
	TracerProvider trace.TracerProvider
	// MeterProvider receives otelhttp's metrics when TracerProvider is
	// set; nil records none.
	MeterProvider metric.MeterProvider
}

// Handler serves Path.
type Handler struct {
	traced  http.Handler
	gw      *gateway.Gateway
	checker gateway.Checker
	trusted []netip.Prefix
	logger  *slog.Logger
	timeout time.Duration
	// canonical holds the canonical form of the header names read and
	// written on every call, which net/http would otherwise make anew.
	canonical map[string]string
}

// New returns the forward-auth handler.
func New(opts Options) *Handler {
	h := &Handler{gw: opts.Gateway, checker: opts.Checker, trusted: opts.TrustedProxies, logger: opts.Logger, timeout: opts.Timeout}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	h.canonical = map[string]string{}
	names := []string{gateway.HeaderDecisionID, gateway.HeaderRiskScore, gateway.HeaderWWWAuthenticate, "Content-Type", "Cache-Control"}
	if h.gw != nil {
		names = append(names, h.gw.HeaderNames()...)
	}
	for _, n := range names {
		h.canonical[n] = http.CanonicalHeaderKey(n)
	}
	h.traced = http.HandlerFunc(h.serve)
	if opts.TracerProvider != nil {
		mp := opts.MeterProvider
		if mp == nil {
			mp = metricnoop.NewMeterProvider()
		}
		h.traced = otelhttp.NewHandler(h.traced, "forward-auth",
			otelhttp.WithTracerProvider(opts.TracerProvider),
			otelhttp.WithMeterProvider(mp),
			otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		)
	}
	return h
}

// Mount returns a handler that serves Path with h and everything else
// with next (the HTTP API).
func Mount(h *Handler, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	mux.Handle("/", next)
	return mux
}

// ServeHTTP answers one forward-auth call; any method is accepted, as the
// proxies use the client's.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.traced.ServeHTTP(w, r) }

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.logger.ErrorContext(r.Context(), "panic in forward-auth", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, code.Code_INTERNAL, rpcstatus.InternalMessage)
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	a, err := h.gw.Decide(ctx, h.checker, h.Input(r))
	if err != nil {
		if rpcstatus.IsInternal(err) {
			h.logger.ErrorContext(ctx, "forward-auth failed", "error", err.Error())
		}
		st := rpcstatus.ToStatus(err)
		writeError(w, rpcstatus.HTTPStatusCode(st.Code()), code.Code(st.Code()), st.Message())
		return
	}
	for _, kv := range a.Headers {
		w.Header()[h.canonicalKey(kv[0])] = []string{kv[1]}
	}
	w.Header()[h.canonicalKey("Cache-Control")] = []string{"no-store"}
	w.WriteHeader(a.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.Body)
	}
}

// Input maps a forward-auth call to the gateway's input.
func (h *Handler) Input(r *http.Request) gateway.Input {
	method, methodSrc := first(r.Header, "X-Original-Method", "X-Forwarded-Method")
	if method == "" {
		method, methodSrc = r.Method, "method of the forward-auth request"
	}
	uri, uriSrc := first(r.Header, "X-Original-URI", "X-Forwarded-Uri")
	if uri == "" {
		uriSrc = "header X-Original-URI or X-Forwarded-Uri"
	}
	ip, ipSrc := ClientIP(r.RemoteAddr, r.Header, h.trusted)
	in := gateway.Input{
		Method: method, MethodSource: methodSrc,
		URI: uri, URISource: uriSrc,
		Host:     r.Header.Get("X-Forwarded-Host"),
		Scheme:   r.Header.Get("X-Forwarded-Proto"),
		ClientIP: ip, ClientIPSource: ipSrc,
		Header: func(name string) string { return strings.Join(r.Header[h.canonicalKey(name)], ", ") },
	}
	in.BearerToken, _ = bearer.Token(r.Header.Get("Authorization"))
	return in
}

// canonicalKey is http.CanonicalHeaderKey(name).
func (h *Handler) canonicalKey(name string) string {
	if k, ok := h.canonical[name]; ok {
		return k
	}
	return http.CanonicalHeaderKey(name)
}

// first returns the first header of names that is set, and its source.
func first(h http.Header, names ...string) (value, source string) {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			return v, "header " + n
		}
	}
	return "", ""
}

// writeError answers a call that could not be decided.
func writeError(w http.ResponseWriter, status int, c code.Code, message string) {
	body, _ := json.Marshal(map[string]string{"code": c.String(), "message": message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
