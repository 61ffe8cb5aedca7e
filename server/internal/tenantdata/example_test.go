package tenantdata_test

import (
	"fmt"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

func Example() {
	src := []byte(`
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 2h
    ip_allowlist: [203.0.113.0/24, 2001:db8::1]
  development: {}
`)
	p, err := tenantdata.Parse("acme.yaml", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := tenantdata.Validate(p); err != nil {
		fmt.Println(err)
		return
	}
	if err := tenantdata.CheckPlan(p); err != nil {
		fmt.Println(err)
		return
	}
	envs := tenantdata.Effective(p)["environments"].(map[string]any)
	prod, dev := envs["production"].(map[string]any), envs["development"].(map[string]any)
	fmt.Println("production inactivity_timeout_ns:", prod["inactivity_timeout_ns"])
	fmt.Println("production mfa mode:", prod["mfa"].(map[string]any)["mode"])
	fmt.Println("production ip_allowlist:", prod["ip_allowlist"])
	fmt.Println("development allow_direct_query:", dev["allow_direct_query"])
	// Output:
	// production inactivity_timeout_ns: 7200000000000
	// production mfa mode: all
	// production ip_allowlist: [203.0.113.0/24 2001:db8::1/128]
	// development allow_direct_query: true
}

func ExampleValidate() {
	p, _ := tenantdata.Parse("acme.yaml", []byte(`
tenant: acme
plan: enterprise
environments:
  production:
    inactivity_timeout: 30m
    ip_allowlist: [203.0.113.0/24, 10.0.0.0/8, 10.1.2.3/8]
`))
	err := tenantdata.Validate(p)
	for _, f := range fault.As(err).Fields {
		fmt.Printf("%s: %s\n", f.Field, f.Description)
	}
	// Output:
	// environments.production.inactivity_timeout: must be between 1h and 24h, not 30m
	// environments.production.ip_allowlist[2]: "10.1.2.3/8" has host bits set: write 10.0.0.0/8 for the network or 10.1.2.3/32 for the one address
}

func ExampleCheckPlan() {
	p, _ := tenantdata.Parse("acme.yaml", []byte(`
plan: paid
environments:
  production:
    key_isolation: true
    mfa: {mode: all}
`))
	fmt.Println(tenantdata.CheckPlan(p))
	// Output:
	// tenant policy exceeds its plan: environments.production.mfa: requires the enterprise plan (tenant is on paid)
}
