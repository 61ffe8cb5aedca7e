package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTracerProviderSampling(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp, shutdown, err := NewTracerProvider(t.Context(), TracingOptions{Exporter: exp, ServiceVersion: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	tracer := tp.Tracer("test")

	// A root span is not sampled at ratio 0.
	_, root := tracer.Start(t.Context(), "root")
	root.End()
	if root.SpanContext().IsSampled() {
		t.Error("root span sampled at ratio 0")
	}

	// A span whose remote parent is sampled is sampled too.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1},
		SpanID:     trace.SpanID{2},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	_, child := tracer.Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "child")
	child.End()
	if !child.SpanContext().IsSampled() || child.SpanContext().TraceID() != parent.TraceID() {
		t.Error("child of a sampled remote parent is not sampled in the parent's trace")
	}

	// The in-memory exporter forgets its spans on shutdown: flush, read,
	// then shut down.
	if err := tp.(*sdktrace.TracerProvider).ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(spans) != 1 || spans[0].Name != "child" {
		t.Fatalf("exported %d spans, want the child only", len(spans))
	}
	res := spans[0].Resource.Attributes()
	want := map[string]string{"service.name": DefaultServiceName, "service.version": "v1.2.3"}
	for _, kv := range res {
		if w, ok := want[string(kv.Key)]; ok && kv.Value.AsString() == w {
			delete(want, string(kv.Key))
		}
	}
	if len(want) > 0 {
		t.Errorf("resource lacks %v: %v", want, res)
	}
}

func TestTracerProviderFullSamplingWithoutExporter(t *testing.T) {
	t.Parallel()
	tp, shutdown, err := NewTracerProvider(t.Context(), TracingOptions{SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = shutdown(context.Background()) }()
	_, span := tp.Tracer("test").Start(t.Context(), "root")
	defer span.End()
	if !span.SpanContext().IsValid() || !span.SpanContext().IsSampled() {
		t.Error("want a valid, sampled root span at ratio 1")
	}
	if _, ok := tp.(*sdktrace.TracerProvider); !ok {
		t.Errorf("provider is %T, want the SDK provider", tp)
	}
}

func TestTracerProviderRejectsBadRatio(t *testing.T) {
	t.Parallel()
	if _, _, err := NewTracerProvider(t.Context(), TracingOptions{SampleRatio: 1.5}); err == nil {
		t.Error("ratio 1.5 accepted")
	}
}
