package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const (
	enginePathsName      = "pdp.engine.decisions"
	engineEnvsName       = "pdp.engine.tenant_environments"
	engineEvaluatorsName = "pdp.engine.residual_evaluations"
)

// ObserveEngine exports, at each collection, what paths reports (the
// engine's decisions by path: specialised, or the reason the whole
// library decided) and what environments reports (the serving policy
// set's tenant environments by state). See docs/performance.md.
func (m *Metrics) ObserveEngine(paths func() map[string]int64, environments func() map[string]int) error {
	meter := m.provider.Meter("github.com/pdp-dev/pdp/server")
	decisions, err := meter.Int64ObservableCounter(enginePathsName,
		metric.WithDescription("Decisions by evaluation path: specialised (the tenant environment's residual), or why the whole library decided (explain, unknown_tenant_environment, pending, unspecialisable, disabled)."))
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", enginePathsName, err)
	}
	envs, err := meter.Int64ObservableGauge(engineEnvsName,
		metric.WithDescription("Tenant environments of the serving policy set by state: specialised, pending, unspecialisable or disabled."))
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", engineEnvsName, err)
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for path, n := range paths() {
			o.ObserveInt64(decisions, n, metric.WithAttributes(attribute.String("path", path)))
		}
		for state, n := range environments() {
			o.ObserveInt64(envs, int64(n), metric.WithAttributes(attribute.String("state", state)))
		}
		return nil
	}, decisions, envs)
	if err != nil {
		return fmt.Errorf("telemetry: engine callback: %w", err)
	}
	return nil
}

// ObserveEvaluators exports, at each collection, what evaluators reports:
// the specialised decisions by how their residual was evaluated (compiled,
// topdown, compiled_error). See docs/performance.md.
func (m *Metrics) ObserveEvaluators(evaluators func() map[string]int64) error {
	meter := m.provider.Meter("github.com/pdp-dev/pdp/server")
	counter, err := meter.Int64ObservableCounter(engineEvaluatorsName,
		metric.WithDescription("Specialised decisions by how the residual was evaluated: compiled, topdown (the compiler refused the residual) or compiled_error (the compiled evaluation failed and topdown decided)."))
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", engineEvaluatorsName, err)
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for evaluator, n := range evaluators() {
			o.ObserveInt64(counter, n, metric.WithAttributes(attribute.String("evaluator", evaluator)))
		}
		return nil
	}, counter)
	if err != nil {
		return fmt.Errorf("telemetry: evaluators callback: %w", err)
	}
	return nil
}
