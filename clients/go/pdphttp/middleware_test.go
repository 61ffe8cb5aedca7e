package pdphttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	"github.com/pdp-dev/pdp/clients/go/pdphttp"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// app is the protected handler: it echoes the decision from its context.
var app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	d, ok := pdpclient.FromContext(r.Context())
	if !ok {
		http.Error(w, "no decision in context", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "hello id=%s failedOpen=%t", d.ID(), d.FailedOpen())
})

// identity reads the user from a header, as an app's auth layer would.
func identity(r *http.Request, req *pdpv1.CheckRequest) error {
	user := r.Header.Get("X-Test-User")
	if user == "invalid" {
		return errors.New("bad token")
	}
	if user != "" {
		req.Subject = &pdpv1.Subject{Id: user, Roles: []string{"member"}}
	}
	return nil
}

// serve starts the middleware over a client of fake on a loopback server.
func serve(t *testing.T, fake *pdpfake.Server, clientOpts []pdpclient.Option, opts ...pdphttp.Option) *httptest.Server {
	t.Helper()
	c, err := pdpclient.New(fake.Addr(), append([]pdpclient.Option{pdpclient.WithInsecure(),
		pdpclient.WithTimeout(5 * time.Second), pdpclient.WithoutRetries()}, clientOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	opts = append([]pdphttp.Option{pdphttp.WithTenant("acme"), pdphttp.WithIdentity(identity)}, opts...)
	srv := httptest.NewServer(pdphttp.Middleware(c, opts...)(app))
	t.Cleanup(srv.Close)
	return srv
}

type result struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, srv *httptest.Server, method, path, user string) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestMiddlewareEnforces(t *testing.T) {
	t.Parallel()
	unavailable := func(context.Context, *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		return nil, status.Error(codes.Unavailable, "no policy loaded")
	}
	tests := []struct {
		name       string
		check      pdpfake.CheckFunc
		clientOpts []pdpclient.Option
		code       int
		header     map[string]string
		body       *pdphttp.ErrorBody
		text       string
	}{
		{
			name: "allow", check: pdpfake.Respond(pdpfake.Allow(0)), code: http.StatusOK,
			header: map[string]string{pdphttp.DecisionHeader: "fake-1"},
			text:   "hello id=fake-1 failedOpen=false",
		},
		{
			name: "challenge", check: pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(10 * time.Minute))),
			code: http.StatusUnauthorized,
			header: map[string]string{
				pdphttp.DecisionHeader: "fake-1",
				"WWW-Authenticate": `Bearer error="insufficient_user_authentication", ` +
					`error_description="multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=600`,
				"Content-Type":  "application/json",
				"Cache-Control": "no-store",
			},
			body: &pdphttp.ErrorBody{
				Error: "insufficient_user_authentication", Message: "multi-factor authentication required",
				DecisionID: "fake-1", ReasonCodes: []string{"authn.mfa_required"},
				StepUps: []json.RawMessage{json.RawMessage(`{"kind":"STEP_UP_MFA","maxAge":"600s","reasonCode":"authn.mfa_required"}`)},
			},
		},
		{
			name: "deny", check: pdpfake.Respond(pdpfake.Deny("network.ip_denied", "risk.deny")),
			code:   http.StatusForbidden,
			header: map[string]string{pdphttp.DecisionHeader: "fake-1", "WWW-Authenticate": "", "Content-Type": "application/json"},
			body: &pdphttp.ErrorBody{Error: "access_denied", Message: "the request is denied by policy",
				DecisionID: "fake-1", ReasonCodes: []string{"network.ip_denied", "risk.deny"}},
		},
		{
			name: "no decision fails closed", check: unavailable, code: http.StatusServiceUnavailable,
			header: map[string]string{pdphttp.DecisionHeader: ""},
			body: &pdphttp.ErrorBody{Error: "pdp_unavailable",
				Message: "the authorization service could not decide; try again later"},
		},
		{
			name: "fail open when asked", check: unavailable, code: http.StatusOK,
			clientOpts: []pdpclient.Option{pdpclient.WithFailOpen(pdpclient.FailOpenOnUnavailable)},
			header:     map[string]string{pdphttp.DecisionHeader: ""},
			text:       "hello id= failedOpen=true",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := pdpfake.Start(t, tt.check)
			got := get(t, serve(t, fake, tt.clientOpts), http.MethodGet, "/docs/1", "alice")
			if got.code != tt.code {
				t.Errorf("status %d; want %d (%s)", got.code, tt.code, got.body)
			}
			for k, want := range tt.header {
				if v := got.header.Get(k); v != want {
					t.Errorf("%s: %q; want %q", k, v, want)
				}
			}
			if tt.body != nil {
				var body pdphttp.ErrorBody
				if err := json.Unmarshal([]byte(got.body), &body); err != nil {
					t.Fatalf("body %q: %v", got.body, err)
				}
				compact(body.StepUps)
				if diff := cmp.Diff(*tt.body, body); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			} else if got.body != tt.text {
				t.Errorf("body %q; want %q", got.body, tt.text)
			}
		})
	}
}

// compact rewrites protojson's unstable spacing so bodies compare.
func compact(msgs []json.RawMessage) {
	for i, m := range msgs {
		var v any
		if json.Unmarshal(m, &v) == nil {
			msgs[i], _ = json.Marshal(v)
		}
	}
}

func TestMiddlewareBuildsRequest(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	srv := serve(t, fake, nil, pdphttp.WithEnvironment("staging"))
	get(t, srv, http.MethodPost, "/v1/things/7", "alice")
	get(t, srv, http.MethodDelete, "/", "")
	want := []*pdpv1.CheckRequest{
		{Tenant: "acme", Environment: "staging", Subject: &pdpv1.Subject{Id: "alice", Roles: []string{"member"}},
			Network: &pdpv1.Network{Ip: "127.0.0.1"}, Action: &pdpv1.Action{Name: "http.post", Resource: "/v1/things/7"}},
		{Tenant: "acme", Environment: "staging",
			Network: &pdpv1.Network{Ip: "127.0.0.1"}, Action: &pdpv1.Action{Name: "http.delete", Resource: "/"}},
	}
	if diff := cmp.Diff(want, fake.Checks(), protocmp.Transform()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestMiddlewareIdentityError(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, nil)
	got := get(t, serve(t, fake, nil), http.MethodGet, "/", "invalid")
	if got.code != http.StatusUnauthorized || got.header.Get("WWW-Authenticate") != "Bearer" ||
		!strings.Contains(got.body, `"error":"unauthenticated"`) || strings.Contains(got.body, "bad token") {
		t.Errorf("got %d %q %s", got.code, got.header.Get("WWW-Authenticate"), got.body)
	}
	if n := fake.CheckCount(); n != 0 {
		t.Errorf("the PDP was asked %d times", n)
	}
}

func TestMiddlewareOptions(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(time.Minute))))
	srv := serve(t, fake, nil,
		pdphttp.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }),
		pdphttp.WithTenantFunc(func(r *http.Request) string { return strings.Split(r.Host, ":")[0] }),
		pdphttp.WithAction(func(r *http.Request) *pdpv1.Action { return &pdpv1.Action{Name: "api.read"} }),
		pdphttp.WithClientIP(func(*http.Request) string { return "" }),
		pdphttp.WithChallengeHandler(func(w http.ResponseWriter, r *http.Request, d *pdpclient.Decision) {
			http.Redirect(w, r, "/step-up?decision="+d.ID(), http.StatusSeeOther)
		}),
	)
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	if got := get(t, srv, http.MethodGet, "/healthz", ""); got.code != http.StatusInternalServerError {
		// The app reports a missing decision: the check was skipped.
		t.Errorf("skipped path: %d %s", got.code, got.body)
	}
	got := get(t, srv, http.MethodGet, "/x", "alice")
	if got.code != http.StatusSeeOther || got.header.Get("Location") != "/step-up?decision=fake-1" {
		t.Errorf("challenge handler: %d %q", got.code, got.header.Get("Location"))
	}
	want := []*pdpv1.CheckRequest{{Tenant: "127.0.0.1", Subject: &pdpv1.Subject{Id: "alice", Roles: []string{"member"}},
		Action: &pdpv1.Action{Name: "api.read"}}}
	if diff := cmp.Diff(want, fake.Checks(), protocmp.Transform()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

func TestMiddlewareCustomACR(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(time.Minute))))
	srv := serve(t, fake, nil, pdphttp.WithACRValues(pdpclient.ACRValues{pdpv1.StepUpKind_STEP_UP_MFA: "phr"}))
	got := get(t, srv, http.MethodGet, "/", "alice")
	if h := got.header.Get("WWW-Authenticate"); !strings.Contains(h, `acr_values="phr", max_age=60`) {
		t.Errorf("WWW-Authenticate %q", h)
	}
}

// nilChecker returns neither a decision nor an error.
type nilChecker struct{}

func (nilChecker) Check(context.Context, *pdpv1.CheckRequest) (*pdpclient.Decision, error) {
	return nil, nil
}

func TestMiddlewareNilDecisionFailsClosed(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	pdphttp.Middleware(nilChecker{})(app).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d; want 503", rec.Code)
	}
}

func TestMiddlewareConcurrentWithCache(t *testing.T) {
	t.Parallel()
	fake := pdpfake.Start(t, func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		if req.GetSubject().GetId() == "mallory" {
			return pdpfake.Deny("incident.user_suspended"), nil
		}
		return pdpfake.Allow(time.Minute), nil
	})
	srv := serve(t, fake, nil)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			user, want := "alice", http.StatusOK
			if i%4 == 0 {
				user, want = "mallory", http.StatusForbidden
			}
			if got := get(t, srv, http.MethodGet, "/docs", user); got.code != want {
				t.Errorf("%s: %d; want %d", user, got.code, want)
			}
		})
	}
	wg.Wait()
	// alice's allow is cached; mallory's denies (no ttl) are not, though
	// identical checks in flight together are sent once.
	if n := fake.CheckCount(); n < 2 || n > 11 {
		t.Errorf("the PDP was asked %d times; want 1 for alice and 1 to 10 for mallory", n)
	}
}
