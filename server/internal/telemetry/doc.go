// Package telemetry sets up the server's OpenTelemetry metrics, exported in
// the Prometheus format on the handler Metrics.Handler returns, and its
// tracer provider. Nothing here touches the global OpenTelemetry or
// Prometheus state: every provider and registry is created, passed down and
// shut down explicitly.
package telemetry
