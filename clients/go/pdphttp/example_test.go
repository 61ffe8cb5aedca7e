package pdphttp_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	"github.com/pdp-dev/pdp/clients/go/pdphttp"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func ExampleMiddleware() {
	// A fake PDP: admin pages need a recent second factor, deletes are
	// denied, everything else is allowed.
	fake, err := pdpfake.New(func(_ context.Context, req *pdpv1.CheckRequest) (*pdpv1.CheckResponse, error) {
		switch {
		case req.GetAction().GetResource() == "/admin":
			return pdpfake.Challenge(pdpfake.MFA(15 * time.Minute)), nil
		case req.GetAction().GetName() == "http.delete":
			return pdpfake.Deny("authz.role_forbidden"), nil
		default:
			return pdpfake.Allow(30 * time.Second), nil
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	client, err := pdpclient.New(fake.Addr(), pdpclient.WithInsecure(), pdpclient.WithTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	protect := pdphttp.Middleware(client,
		pdphttp.WithTenant("acme"),
		// Behind a load balancer in 10.0.0.0/8, read X-Forwarded-For.
		pdphttp.WithClientIP(pdphttp.ForwardedFor(netip.MustParsePrefix("10.0.0.0/8"))),
		pdphttp.WithIdentity(func(r *http.Request, req *pdpv1.CheckRequest) error {
			// Read the user your authentication middleware established.
			req.Subject = &pdpv1.Subject{Id: "alice", Roles: []string{"member"}, MfaEnrolled: true}
			return nil
		}),
	)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := pdpclient.FromContext(r.Context())
		fmt.Fprintf(w, "risk %.1f", d.RiskScore())
	})
	srv := httptest.NewServer(protect(app))
	defer srv.Close()

	for _, target := range []struct{ method, path string }{
		{http.MethodGet, "/docs"}, {http.MethodGet, "/admin"}, {http.MethodDelete, "/docs/1"},
	} {
		req, _ := http.NewRequest(target.method, srv.URL+target.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(fmt.Sprint(target.method, " ", target.path, " ", resp.StatusCode, " ",
			resp.Header.Get("WWW-Authenticate"))))
	}
	// Output:
	// GET /docs 200
	// GET /admin 401 Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=900
	// DELETE /docs/1 403
}
