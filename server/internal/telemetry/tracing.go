package telemetry

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName names the server in traces.
const DefaultServiceName = "pdp"

// TracingOptions configures NewTracerProvider. The zero value gives a
// provider that exports nothing but still creates spans, so trace context
// flows through the server.
type TracingOptions struct {
	// ServiceName is the service.name resource attribute; empty means
	// DefaultServiceName.
	ServiceName string
	// ServiceVersion is the service.version resource attribute, if set.
	ServiceVersion string
	// Exporter receives finished spans in batches. It takes precedence over
	// OTLPEndpoint.
	Exporter sdktrace.SpanExporter
	// OTLPEndpoint is the host:port of an OTLP/gRPC collector to export to;
	// empty exports nothing (unless Exporter is set).
	OTLPEndpoint string
	// OTLPInsecure sends to OTLPEndpoint without TLS.
	OTLPInsecure bool
	// SampleRatio is the fraction, in [0, 1], of root requests (those
	// without a sampled caller) that are sampled. A request whose caller
	// sent a trace context follows the caller's decision. 0 samples only
	// what callers sample.
	SampleRatio float64
}

// NewTracerProvider returns an SDK tracer provider, parent-based sampled,
// and the function that flushes and stops it.
func NewTracerProvider(ctx context.Context, opts TracingOptions) (trace.TracerProvider, func(context.Context) error, error) {
	if opts.SampleRatio < 0 || opts.SampleRatio > 1 {
		return nil, nil, fmt.Errorf("telemetry: sample ratio %g is outside [0, 1]", opts.SampleRatio)
	}
	name := opts.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", opts.ServiceVersion))
	}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
	}
	exporter := opts.Exporter
	if exporter == nil && opts.OTLPEndpoint != "" {
		clientOpts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(opts.OTLPEndpoint)}
		if opts.OTLPInsecure {
			clientOpts = append(clientOpts, otlptracegrpc.WithInsecure())
		}
		var err error
		if exporter, err = otlptracegrpc.New(ctx, clientOpts...); err != nil {
			return nil, nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", opts.OTLPEndpoint, err)
		}
	}
	if exporter != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exporter))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	shutdown := func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return errors.Join(errors.New("telemetry: stopping tracer provider"), err)
		}
		return nil
	}
	return tp, shutdown, nil
}
