package console

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// ContentSecurityPolicy is sent with every console response: scripts,
// styles, images and calls from this origin only, nothing inline, no
// plugins, no framing, forms post nowhere else.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// Options configures New.
type Options struct {
	// Conn reaches the gRPC server the JSON door calls: one built with the
	// gRPC port's guards and serving the same services. Required.
	Conn grpc.ClientConnInterface
	// MaxBodyBytes bounds a call's JSON body (default 4 MiB).
	MaxBodyBytes int64
	// Timeout bounds a call (default 30s).
	Timeout time.Duration
	// Logger hears about responses that could not be encoded; nil discards.
	Logger *slog.Logger
	// LoopbackHostsOnly makes the JSON door answer only requests
	// addressed to a loopback host (127.0.0.0/8, ::1, localhost). Set it
	// when the server runs without API keys: the port is then on loopback,
	// and a page whose name an attacker resolves to 127.0.0.1 (DNS
	// rebinding) is same-origin to the browser but names its own host.
	LoopbackHostsOnly bool
}

// Handler serves the console's pages and its JSON door.
type Handler struct {
	files http.Handler
	door  *door
	plans []byte // plans.json: the plans and the least plan of each setting
}

// New returns the console.
func New(opts Options) (*Handler, error) {
	if opts.Conn == nil {
		return nil, errors.New("console: a connection to the admin API is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := newDoor(opts)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	plans, err := planTable()
	if err != nil {
		return nil, err
	}
	return &Handler{files: http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(sub)), door: d, plans: plans}, nil
}

// ServeHTTP serves everything under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if strings.HasPrefix(r.URL.Path, apiPrefix) {
		h.door.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == Prefix+"plans.json" {
		writeBody(w, http.StatusOK, h.plans)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The pages change with the binary: revalidate, never serve stale.
	hd.Set("Cache-Control", "no-cache")
	h.files.ServeHTTP(w, r)
}

// Mount serves the console under Prefix (and redirects /console to it)
// and everything else with next. It belongs outside the HTTP port's
// authentication middleware: the pages are public, and every call of the
// JSON door is authenticated by the gRPC guard it is made through.
func Mount(h *Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == strings.TrimSuffix(Prefix, "/"):
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, Prefix):
			h.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// planTable is plans.json: the plans in order and, for every setting of
// an environment, the least plan it needs, from the table PutTenantPolicy
// checks against, so that the page disables what the server would refuse.
func planTable() ([]byte, error) {
	fields := map[string]string{}
	fds := (&pdpv1.SecurityPolicy{}).ProtoReflect().Descriptor().Fields()
	for i := range fds.Len() {
		name := string(fds.Get(i).Name())
		fields[name] = tenantdata.RequiredPlan(name)
	}
	return json.Marshal(map[string]any{
		"plans":  []string{tenantdata.PlanFree, tenantdata.PlanPaid, tenantdata.PlanEnterprise},
		"fields": fields,
	})
}
