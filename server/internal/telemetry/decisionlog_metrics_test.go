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

func TestDecisionLogLossCountersAreShownAtZeroFromTheStart(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	text := scrape(t, m.Handler())
	for _, want := range []string{"pdp_decision_log_dropped_total 0\n", "pdp_decision_log_failed_total 0\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("a fresh exposition lacks %q: an alert on losses cannot fire before the first one\n%s", want, text)
		}
	}
	m.RecordDecisionLogFailed()
	m.RecordDecisionLogFailed()
	if text := scrape(t, m.Handler()); !strings.Contains(text, "pdp_decision_log_failed_total 2\n") {
		t.Fatalf("exposition lacks pdp_decision_log_failed_total 2:\n%s", text)
	}
}
