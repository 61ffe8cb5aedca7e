package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scrape fetches the handler's text exposition.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("scrape status %d", w.Code)
	}
	b, err := io.ReadAll(w.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// series returns the distinct names of the pdp_ samples of an exposition.
func series(text string) []string {
	var names []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if strings.HasPrefix(name, "pdp_") && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })

	m.RecordDecision("allow", 40*time.Microsecond)
	m.RecordDecision("allow", 2*time.Millisecond)
	m.RecordDecision("deny", 300*time.Millisecond)
	m.RecordDecision("challenge", 5*time.Second)
	m.RecordReload(true)
	m.RecordReload(false)
	m.RecordBatchItems(7)
	m.RecordReport("login_failed")
	text := scrape(t, m.Handler())

	want := []string{
		"pdp_batch_check_items_total",
		"pdp_check_duration_seconds_bucket",
		"pdp_check_duration_seconds_count",
		"pdp_check_duration_seconds_sum",
		"pdp_decision_log_dropped_total", // shown at 0 before any loss
		"pdp_decision_log_failed_total",
		"pdp_decisions_total",
		"pdp_policy_reloads_total",
		"pdp_report_events_total",
	}
	if diff := cmp.Diff(want, series(text)); diff != "" {
		t.Errorf("series names (-want +got):\n%s\n%s", diff, text)
	}
	for _, line := range []string{
		`pdp_decisions_total{decision="allow"} 2`,
		`pdp_decisions_total{decision="deny"} 1`,
		`pdp_decisions_total{decision="challenge"} 1`,
		`pdp_policy_reloads_total{result="ok"} 1`,
		`pdp_policy_reloads_total{result="error"} 1`,
		`pdp_batch_check_items_total 7`,
		`pdp_report_events_total{event="login_failed"} 1`,
		`pdp_check_duration_seconds_bucket{le="1e-05"} 0`,
		`pdp_check_duration_seconds_bucket{le="5e-05"} 1`,
		`pdp_check_duration_seconds_bucket{le="0.0025"} 2`,
		`pdp_check_duration_seconds_bucket{le="0.5"} 3`,
		`pdp_check_duration_seconds_bucket{le="1"} 3`,
		`pdp_check_duration_seconds_bucket{le="+Inf"} 4`,
		`pdp_check_duration_seconds_count 4`,
		"# TYPE pdp_check_duration_seconds histogram",
		"# TYPE pdp_decisions_total counter",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q:\n%s", line, text)
		}
	}
	for _, noise := range []string{"otel_scope", "target_info"} {
		if strings.Contains(text, noise) {
			t.Errorf("exposition contains %s:\n%s", noise, text)
		}
	}
}

func TestMetricsRuntimeCollectors(t *testing.T) {
	t.Parallel()
	m, err := NewMetrics(MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	m.RecordDecision("surprise", time.Millisecond)
	text := scrape(t, m.Handler())
	for _, want := range []string{"go_goroutines ", `pdp_decisions_total{decision="other"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestMetricsAreIndependent(t *testing.T) {
	t.Parallel()
	a, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	a.RecordBatchItems(3)
	if strings.Contains(scrape(t, b.Handler()), "pdp_batch_check_items_total") {
		t.Error("a recording on one Metrics shows on another: shared global state")
	}
}
