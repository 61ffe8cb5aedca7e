package telemetry

import (
	"strings"
	"testing"
)

func TestDecisionLogDroppedCounter(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	for range 3 {
		m.RecordDecisionLogDropped()
	}
	text := scrape(t, m.Handler())
	if !strings.Contains(text, "pdp_decision_log_dropped_total 3\n") {
		t.Fatalf("exposition lacks pdp_decision_log_dropped_total 3:\n%s", text)
	}
}
