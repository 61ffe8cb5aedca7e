package telemetry

import (
	"strings"
	"testing"
)

func TestTheEnginesPathsAndTenantEnvironmentsAreExported(t *testing.T) {
	m, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	decided := int64(3)
	err = m.ObserveEngine(
		func() map[string]int64 { return map[string]int64{"specialised": decided, "explain": 1} },
		func() map[string]int { return map[string]int{"specialised": 2, "pending": 5} },
	)
	if err != nil {
		t.Fatal(err)
	}
	decided = 7 // read at collection, not at registration
	text := scrape(t, m.Handler())
	for _, want := range []string{
		`pdp_engine_decisions_total{path="specialised"} 7`,
		`pdp_engine_decisions_total{path="explain"} 1`,
		`pdp_engine_tenant_environments{state="specialised"} 2`,
		`pdp_engine_tenant_environments{state="pending"} 5`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
}

func TestTheResidualEvaluatorsAreExported(t *testing.T) {
	m, err := NewMetrics(MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	compiled := int64(2)
	err = m.ObserveEvaluators(func() map[string]int64 {
		return map[string]int64{"compiled": compiled, "topdown": 1, "compiled_error": 0}
	})
	if err != nil {
		t.Fatal(err)
	}
	compiled = 9 // read at collection, not at registration
	text := scrape(t, m.Handler())
	for _, want := range []string{
		`pdp_engine_residual_evaluations_total{evaluator="compiled"} 9`,
		`pdp_engine_residual_evaluations_total{evaluator="topdown"} 1`,
		`pdp_engine_residual_evaluations_total{evaluator="compiled_error"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s:\n%s", want, text)
		}
	}
}
