package authn

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/bearer"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// HTTPMiddleware authenticates and authorizes each request by HTTPRule
// and puts the caller in its context. The key is taken from the
// X-PDP-Api-Key header, else from "Authorization: Bearer"; whichever
// header carried a valid key is removed before next runs, so handlers
// (forward-auth reading a user's bearer token) never see it. A refusal is
// 401 (with WWW-Authenticate) or 403 and a JSON error body
// {"code","message"} like the rest of the HTTP API.
func (a *Authenticator) HTTPMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.loopbackOnly && rebindable(r.URL.Path) && !LoopbackHost(r.Host) {
			a.refuse(w, r, fault.New(fault.PermissionDenied, "without API keys pdp answers only requests addressed to a loopback host "+
				"(127.0.0.1, ::1, localhost): a page whose name resolves to 127.0.0.1 must not call it (DNS rebinding)"))
			return
		}
		cred, header := httpCredential(r)
		c, err := a.check(cred, HTTPRule(r.URL.Path, a.metricsPublic), r.Method+" "+r.URL.Path)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		// Without keys nothing was a key: Authorization stays for the
		// handler (forward-auth verifies the user's bearer JWT).
		if header != "" && a.Enabled() {
			r = r.Clone(r.Context())
			r.Header.Del(header)
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// WriteSETError answers a refused Security Event Token as RFC 8935
// section 2.3 says: 400 with {"err": code, "description": description}.
func WriteSETError(w http.ResponseWriter, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"err": code, "description": description})
}

// httpCredential reads the key and the verified client certificate, and
// names the header the key came in.
func httpCredential(r *http.Request) (cred credential, header string) {
	if v := strings.TrimSpace(r.Header.Get(APIKeyHeader)); v != "" {
		cred.key, cred.present, header = v, true, APIKeyHeader
	} else if v := r.Header.Get("Authorization"); v != "" {
		if cred.key, cred.present = bearer.Token(v); cred.present {
			header = "Authorization"
		}
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cred.cert = r.TLS.VerifiedChains[0][0]
	}
	return cred, header
}

// refuse answers 401 or 403 and logs the refusal without credentials.
// Below SSFPathPrefix the answer is RFC 8935's: 400 with err
// authentication_failed or access_denied.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusForbidden, "PERMISSION_DENIED"
	msg := err.Error()
	if fe := fault.As(err); fe != nil {
		msg = fe.Message
		if fe.Code == fault.Unauthenticated {
			status, code = http.StatusUnauthorized, "UNAUTHENTICATED"
		}
	}
	if strings.HasPrefix(r.URL.Path, SSFPathPrefix) {
		errCode := "access_denied"
		if status == http.StatusUnauthorized {
			errCode = "authentication_failed"
		}
		a.logger.InfoContext(r.Context(), "HTTP call refused",
			"http.method", r.Method, "http.path", r.URL.Path, "peer", r.RemoteAddr, "code", errCode, "reason", msg)
		WriteSETError(w, errCode, msg)
		return
	}
	if status == http.StatusUnauthorized {
		challenge := `Bearer realm="pdp"`
		if msg == msgInvalid {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	a.logger.InfoContext(r.Context(), "HTTP call refused",
		"http.method", r.Method, "http.path", r.URL.Path, "peer", r.RemoteAddr, "code", code, "reason", msg)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"code": code, "message": msg})
}

// rebindable reports whether a path must be addressed to a loopback host
// under Options.LoopbackHostsOnly. Without keys the port is on loopback, and
// a browser treats a page of the attacker's name, resolved to 127.0.0.1,
// as same-origin with it: that page could send Checks and Reports
// (Reports change what the server remembers of users) unless the Host
// header, which still names the attacker's host, is checked. Health and
// readiness change nothing, and forward-auth is called by a proxy that
// passes the public Host of the request it authorizes.
func rebindable(path string) bool {
	switch {
	case path == "/healthz", path == "/readyz", path == "/v1/forward-auth", strings.HasPrefix(path, "/v1/forward-auth/"):
		return false
	}
	return true
}

// LoopbackHost reports whether a request's Host names a loopback address
// or localhost.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
