package pdpclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"

	"github.com/pdp-dev/pdp/clients/go/pdpclient"
	"github.com/pdp-dev/pdp/clients/go/pdpfake"
	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	failOpen := false // read by the predicate; the checks run one at a time
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	fake := pdpfake.Start(t, pdpfake.Respond(pdpfake.Allow(time.Minute)))
	c := newClient(t, fake, pdpclient.WithMeterProvider(mp), pdpclient.WithoutRetries(),
		pdpclient.WithFailOpen(func(error) bool { return failOpen }))
	ctx := context.Background()
	mustCheck := func(user string) {
		t.Helper()
		_, _ = c.Check(ctx, request(user))
	}
	mustCheck("alice") // allow, miss
	mustCheck("alice") // allow, hit
	fake.SetCheck(pdpfake.Respond(pdpfake.Challenge(pdpfake.MFA(time.Minute))))
	mustCheck("bob") // challenge, miss
	fake.SetCheck(pdpfake.Respond(pdpfake.Deny("authz.role_forbidden")))
	mustCheck("carol") // deny, miss
	fake.SetCheck(failing(100, codes.Unavailable, nil))
	mustCheck("dave") // fail closed, miss
	failOpen = true
	mustCheck("erin") // fail open, miss
	if _, err := c.Report(ctx, &pdpv1.ReportRequest{Tenant: "acme", Event: pdpv1.Event_EVENT_ACTIVITY}); err != nil {
		t.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var histogramCount uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range data.DataPoints {
					got[m.Name+labels(p.Attributes)] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range data.DataPoints {
					histogramCount += p.Count
				}
				if m.Unit != "s" {
					t.Errorf("%s unit %q", m.Name, m.Unit)
				}
			}
		}
	}
	want := map[string]int64{
		"pdp.client.decisions{cached=false,outcome=allow}":       1,
		"pdp.client.decisions{cached=true,outcome=allow}":        1,
		"pdp.client.decisions{cached=false,outcome=challenge}":   1,
		"pdp.client.decisions{cached=false,outcome=deny}":        1,
		"pdp.client.decisions{cached=false,outcome=fail_closed}": 1,
		"pdp.client.decisions{cached=false,outcome=fail_open}":   1,
		"pdp.client.cache.hits{}":                                1,
		"pdp.client.cache.misses{}":                              5,
		"pdp.client.fail_open{code=Unavailable}":                 1,
		"pdp.client.reports{code=OK}":                            1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if histogramCount != 6 {
		t.Errorf("pdp.client.check.duration count = %d; want 6", histogramCount)
	}
}

// labels formats an attribute set as {k=v,...} in key order.
func labels(s attribute.Set) string {
	out := "{"
	for i, kv := range s.ToSlice() {
		if i > 0 {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.Emit()
	}
	return out + "}"
}
