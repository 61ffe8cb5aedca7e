package authzen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Checker decides one request: the server's decision service, which
// fills in the caller, refuses a caller that may not ask for the tenant,
// logs the decision and counts it. A deny or a challenge is a decision,
// not an error.
type Checker interface {
	Check(ctx context.Context, req *decision.Request) (*decision.Decision, error)
}

// Paths of the API, relative to a PDP's base URL.
const (
	PathEvaluation     = "/access/v1/evaluation"
	PathEvaluations    = "/access/v1/evaluations"
	PathSearchSubject  = "/access/v1/search/subject"
	PathSearchResource = "/access/v1/search/resource"
	PathSearchAction   = "/access/v1/search/action"
	// PathMetadata is the well-known metadata of the default tenant;
	// PathMetadata + "/tenants/{tenant}" is a tenant's.
	PathMetadata = "/.well-known/authzen-configuration"
	// TenantPrefix starts the paths of one tenant: /tenants/{tenant}/access/v1/...
	TenantPrefix = "/tenants/"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultTimeout      = 5 * time.Second
)

// Options configures a Handler.
type Options struct {
	// Checker decides evaluations; required.
	Checker Checker
	// Searcher decides the candidates of a search. It must be the same
	// decision service without incident response: asking who could
	// delete users must not suspend everyone who cannot. Nil searches
	// with Checker.
	Searcher Checker
	// Directory lists the candidates of searches; nil serves no search
	// endpoint (404) and leaves them out of the metadata.
	Directory Directory
	// Scope refuses a caller that may not ask for a tenant (a pep key
	// scoped to other tenants) before anything is decided: 403 for the
	// whole call. Nil allows every tenant.
	Scope func(ctx context.Context, tenant string) error
	// DefaultTenant is served by the paths without /tenants/{tenant};
	// empty answers them 404.
	DefaultTenant string
	// PublicURL is the base URL clients reach the server at (behind a
	// proxy); empty derives it from each request's Host and TLS.
	PublicURL string
	// ACR maps a step-up kind to the acr value of its step-up obligation;
	// nil means DefaultACR. A kind without a value is a custom obligation.
	ACR map[string]string
	// MaxBodyBytes is the largest request body; 0 means
	// DefaultMaxBodyBytes. Larger bodies get 413.
	MaxBodyBytes int64
	// Timeout bounds one call; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of requests without context.time; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives internal errors and panics; nil discards.
	Logger *slog.Logger
	// TracerProvider, when set, traces each call with otelhttp.
	TracerProvider trace.TracerProvider
	// MeterProvider receives otelhttp's metrics when TracerProvider is
	// set; nil records none.
	MeterProvider metric.MeterProvider
	// Propagator extracts the caller's trace context; nil means W3C.
	Propagator propagation.TextMapPropagator
}

// Handler serves the API. Create it with New.
type Handler struct {
	opts    Options
	checker Checker
	search  Checker
	logger  *slog.Logger
	now     func() time.Time
	public  *url.URL
}

// New returns a Handler, or an error for a missing Checker or a malformed
// PublicURL.
func New(opts Options) (*Handler, error) {
	if opts.Checker == nil {
		return nil, errors.New("authzen: Options.Checker is required")
	}
	h := &Handler{opts: opts, checker: opts.Checker, search: opts.Searcher, logger: opts.Logger, now: opts.Now}
	if h.search == nil {
		h.search = opts.Checker
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.opts.Timeout <= 0 {
		h.opts.Timeout = DefaultTimeout
	}
	if opts.PublicURL != "" {
		u, err := ParsePublicURL(opts.PublicURL)
		if err != nil {
			return nil, err
		}
		h.public = u
	}
	if opts.DefaultTenant != "" && !decision.ValidName(opts.DefaultTenant) {
		return nil, fmt.Errorf("authzen: default tenant %q is not a tenant name", opts.DefaultTenant)
	}
	return h, nil
}

// ParsePublicURL checks a public base URL: absolute http or https, no
// query or fragment. The trailing slash is dropped.
func ParsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("public URL %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("public URL %q: must be an absolute http or https URL", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("public URL %q: must have no query, fragment or user", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Owns reports whether path is one of the API's: the handler answers it
// (with 404 for a malformed tenant path) and nothing else should.
func Owns(path string) bool {
	return strings.HasPrefix(path, "/access/v1/") || path == PathMetadata ||
		strings.HasPrefix(path, PathMetadata+"/") ||
		strings.HasPrefix(path, TenantPrefix) && strings.Contains(path, "/access/v1/")
}

// Mount serves the API's paths with h and every other path with next.
// X-Request-ID is echoed on every answer of the API's paths, including
// refusals by handlers that next wraps around h, when Mount is outermost.
func Mount(h *Handler, next http.Handler) http.Handler {
	api := h.traced()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Owns(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// EchoRequestID copies the request's X-Request-ID onto the response of the
// API's paths, as the specification requires of every answer; put it
// outside the authentication middleware so that refusals carry it too.
func EchoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Request-ID"); id != "" && Owns(r.URL.Path) {
			w.Header().Set("X-Request-ID", id)
		}
		next.ServeHTTP(w, r)
	})
}

// traced wraps h in otelhttp when tracing is on.
func (h *Handler) traced() http.Handler {
	var handler http.Handler = EchoRequestID(h)
	if h.opts.TracerProvider == nil {
		return handler
	}
	mp := h.opts.MeterProvider
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	prop := h.opts.Propagator
	if prop == nil {
		prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return otelhttp.NewHandler(handler, "pdp.authzen",
		otelhttp.WithTracerProvider(h.opts.TracerProvider),
		otelhttp.WithMeterProvider(mp),
		otelhttp.WithPropagators(prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			_, op, _ := route(r.URL.Path)
			if op == "" {
				return r.Method + " unknown route"
			}
			return r.Method + " " + op
		}),
	)
}

// route splits a path into its tenant ("" for the default tenant's paths)
// and its operation (PathEvaluation, ..., PathMetadata); ok is false for
// a path the API does not have.
func route(path string) (tenant, op string, ok bool) {
	if rest, found := strings.CutPrefix(path, PathMetadata); found {
		if rest == "" {
			return "", PathMetadata, true
		}
		t, found := strings.CutPrefix(rest, TenantPrefix)
		if !found || t == "" || strings.Contains(t, "/") {
			return "", "", false
		}
		return t, PathMetadata, true
	}
	if rest, found := strings.CutPrefix(path, TenantPrefix); found {
		t, sub, found := strings.Cut(rest, "/")
		if !found || t == "" {
			return "", "", false
		}
		tenant, path = t, "/"+sub
	}
	switch path {
	case PathEvaluation, PathEvaluations, PathSearchSubject, PathSearchResource, PathSearchAction:
		return tenant, path, true
	}
	return "", "", false
}

// ServeHTTP answers one call of the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.logger.ErrorContext(r.Context(), "panic in AuthZEN handler",
				"http.path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	tenant, op, ok := route(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		return
	}
	explicit := tenant != ""
	if !explicit {
		tenant = h.opts.DefaultTenant
		if tenant == "" {
			writeError(w, http.StatusNotFound, "no default AuthZEN tenant: the server was started without --authzen-tenant; "+
				"use /tenants/{tenant}"+op+" (metadata: "+PathMetadata+"/tenants/{tenant})")
			return
		}
	}
	if !decision.ValidName(tenant) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such tenant %q: a tenant name is 1 to 63 lowercase letters, digits, '-' or '_'", tenant))
		return
	}
	if op == PathMetadata {
		if allowMethods(w, r, http.MethodGet, http.MethodHead) {
			h.metadata(w, r, tenant, explicit)
		}
		return
	}
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	search := op == PathSearchSubject || op == PathSearchResource || op == PathSearchAction
	if search && h.opts.Directory == nil {
		writeError(w, http.StatusNotFound, "search is not served")
		return
	}
	body, ok := h.read(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	if h.opts.Scope != nil {
		if err := h.opts.Scope(ctx, tenant); err != nil {
			h.writeFault(ctx, w, r, err)
			return
		}
	}
	m := mapping{tenant: tenant, now: h.now()}
	var (
		resp any
		err  error
	)
	switch op {
	case PathEvaluation:
		resp, err = h.evaluation(ctx, m, body)
	case PathEvaluations:
		resp, err = h.evaluations(ctx, m, body)
	case PathSearchSubject:
		resp, err = h.searchSubjects(ctx, m, body)
	case PathSearchResource:
		resp, err = h.searchResources(ctx, m, body)
	case PathSearchAction:
		resp, err = h.searchActions(ctx, m, body)
	}
	if err != nil {
		h.writeFault(ctx, w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// evaluation decides one Access Evaluation request.
func (h *Handler) evaluation(ctx context.Context, m mapping, body []byte) (any, error) {
	var in evaluation
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return h.decide(ctx, m, in)
}

// decide maps one evaluation, decides it and builds its answer.
func (h *Handler) decide(ctx context.Context, m mapping, in evaluation) (Decision, error) {
	req, supported, err := m.request(in, optional{})
	if err != nil {
		return Decision{}, err
	}
	d, err := h.checker.Check(ctx, req)
	if err != nil {
		return Decision{}, err
	}
	if d == nil {
		return Decision{}, errors.New("the decision service returned neither a decision nor an error")
	}
	return answer(req, d, supported, h.opts.ACR), nil
}

// The evaluation semantics of an Access Evaluations request.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

type evaluationsRequest struct {
	evaluation
	Evaluations []evaluation   `json:"evaluations"`
	Options     map[string]any `json:"options"`
}

type evaluationsResponse struct {
	Evaluations []Decision `json:"evaluations"`
}

// evaluations decides an Access Evaluations request: the items in order,
// each with the top-level defaults, an item that cannot be decided being
// decision false with context.error; without items, the request is one
// evaluation.
func (h *Handler) evaluations(ctx context.Context, m mapping, body []byte) (any, error) {
	var in evaluationsRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	semantic := ExecuteAll
	if v, present := in.Options["evaluations_semantic"]; present {
		s, _ := v.(string)
		switch s {
		case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
			semantic = s
		default:
			return nil, fault.Invalid(fault.FieldViolation{Field: "options.evaluations_semantic",
				Description: "must be execute_all, deny_on_first_deny or permit_on_first_permit"})
		}
	}
	if len(in.Evaluations) == 0 {
		return h.decide(ctx, m, in.evaluation)
	}
	if len(in.Evaluations) > MaxEvaluations {
		return nil, fault.Invalid(fault.FieldViolation{Field: "evaluations", Description: fmt.Sprintf("at most %d evaluations are allowed", MaxEvaluations)})
	}
	out := evaluationsResponse{Evaluations: make([]Decision, 0, len(in.Evaluations))}
	for _, item := range in.Evaluations {
		if err := ctx.Err(); err != nil {
			return nil, fault.Wrap(err, fault.DeadlineExceeded, "deadline exceeded")
		}
		d, err := h.decide(ctx, m, item.withDefaults(in.evaluation))
		if err != nil {
			d = h.itemError(ctx, err)
		}
		out.Evaluations = append(out.Evaluations, d)
		if semantic == DenyOnFirstDeny && !d.Decision || semantic == PermitOnFirstPermit && d.Decision {
			break
		}
	}
	return out, nil
}

// itemError is the answer of an item that could not be decided:
// decision false, with the status and message the whole call would have
// had.
func (h *Handler) itemError(ctx context.Context, err error) Decision {
	status, msg := h.statusOf(ctx, err)
	return Decision{Decision: false, Context: map[string]any{"error": map[string]any{"status": status, "message": msg}}}
}

// metadata answers the PDP metadata of a tenant: explicit is false for
// the default tenant's document, whose PDP is the base URL itself.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request, tenant string, explicit bool) {
	base := h.baseURL(r)
	if explicit {
		base += TenantPrefix + tenant
	}
	md := Metadata{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + PathEvaluation,
		AccessEvaluationsEndpoint: base + PathEvaluations,
		ObligationsSupported:      ObligationsSupported,
	}
	if h.opts.Directory != nil {
		md.SearchSubjectEndpoint = base + PathSearchSubject
		md.SearchResourceEndpoint = base + PathSearchResource
		md.SearchActionEndpoint = base + PathSearchAction
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	if h.public == nil {
		// The document depends on the Host the client used.
		w.Header().Set("Vary", "Host")
	}
	writeJSON(w, http.StatusOK, md)
}

// Metadata is the PDP metadata document. It has no capabilities: that
// parameter lists URNs of the AuthZEN PDP Capabilities registry, which
// registers none this server implements, and a parameter without values
// is omitted.
type Metadata struct {
	PolicyDecisionPoint       string   `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string   `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string   `json:"access_evaluations_endpoint,omitempty"`
	SearchSubjectEndpoint     string   `json:"search_subject_endpoint,omitempty"`
	SearchResourceEndpoint    string   `json:"search_resource_endpoint,omitempty"`
	SearchActionEndpoint      string   `json:"search_action_endpoint,omitempty"`
	ObligationsSupported      []string `json:"obligations_supported,omitempty"`
}

// baseURL is PublicURL, or the scheme and Host the request came with.
func (h *Handler) baseURL(r *http.Request) string {
	if h.public != nil {
		return h.public.String()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// read reads the body, answering the client itself on failure.
func (h *Handler) read(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, "request body must be JSON (Content-Type: application/json)")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", h.opts.MaxBodyBytes))
		case errors.Is(err, os.ErrDeadlineExceeded):
			writeError(w, http.StatusRequestTimeout, "request body not received in time")
		default:
			writeError(w, http.StatusBadRequest, "could not read request body")
		}
		return nil, false
	}
	return body, true
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decode parses a JSON object body, ignoring unknown fields as the
// specification requires; anything else is InvalidArgument.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fault.New(fault.InvalidArgument, "request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return fault.Invalid(fault.FieldViolation{Field: typeErr.Field, Description: "must be " + jsonKind(typeErr.Type.Kind().String())})
		}
		return fault.New(fault.InvalidArgument, "malformed JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	}
	return "a number"
}

// statusOf maps an error to the HTTP status and message of an answer,
// logging internal detail.
func (h *Handler) statusOf(ctx context.Context, err error) (int, string) {
	fe := fault.As(err)
	switch fe.Code {
	case fault.InvalidArgument:
		return http.StatusBadRequest, fe.Error()
	case fault.Unauthenticated:
		return http.StatusUnauthorized, fe.Message
	case fault.PermissionDenied:
		return http.StatusForbidden, fe.Message
	case fault.NotFound:
		return http.StatusNotFound, fe.Message
	case fault.DeadlineExceeded:
		return http.StatusGatewayTimeout, "deadline exceeded"
	case fault.Unavailable:
		return http.StatusServiceUnavailable, fe.Message
	case fault.ResourceExhausted:
		return http.StatusTooManyRequests, fe.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, "deadline exceeded"
	}
	h.logger.ErrorContext(ctx, "AuthZEN call failed", "error", err.Error())
	return http.StatusInternalServerError, "internal error"
}

// writeFault answers err.
func (h *Handler) writeFault(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	status, msg := h.statusOf(ctx, err)
	writeError(w, status, msg)
}

// writeError answers an error: the specification's body is "an error
// message string", here a JSON string.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`"internal error"`)
	}
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// allowMethods answers 405 with Allow unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, strings.Join(methods, " or ")))
	return false
}
