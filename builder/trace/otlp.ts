/**
 * The same spans over OpenTelemetry (OTLP/HTTP, JSON), as BuildKit sends its own when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set. Spans are replayed after the build with their recorded times and parents, so the hot path only appends
 * records; the exporter (and its endpoint, headers and timeout settings) comes from the @opentelemetry packages,
 * which read the standard OTEL_EXPORTER_OTLP_* variables themselves. Loaded only when the variable is set.
 */
import { ROOT_CONTEXT, SpanKind, trace, type HrTime, type Span as OtelSpan } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanRecord, Tracer } from './tracer.js';

function hrTime(us: number): HrTime {
  return [Math.floor(us / 1e6), Math.round(us % 1e6) * 1000];
}

/** Sends every span of `tracer` to the OTLP endpoint; resolves when they were delivered (or the exporter gave up). */
export async function exportOtlp(tracer: Tracer, attributes: Record<string, string> = {}): Promise<void> {
  const spans = [...tracer.finish()].sort((a, b) => a.startUs - b.startUs || a.id - b.id);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'builder', ...attributes }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { maxExportBatchSize: 512, maxQueueSize: Math.max(2048, spans.length) })],
  });
  const otelTracer = provider.getTracer('builder');
  const started = new Map<number, OtelSpan>();
  const byId = new Map<number, SpanRecord>(spans.map((span) => [span.id, span]));
  // Parents start first (sorted by start time); a parent that is missing (never ended) makes its children roots.
  for (const span of spans) {
    const parent = span.parentId !== undefined ? started.get(span.parentId) : undefined;
    const context = parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
    const otelSpan = otelTracer.startSpan(span.name, {
      kind: SpanKind.INTERNAL, startTime: hrTime(span.startUs), attributes: { ...span.args, 'builder.category': span.cat, 'builder.track': tracer.tracks.get(span.track) ?? String(span.track) },
    }, context);
    started.set(span.id, otelSpan);
  }
  for (const [id, otelSpan] of started) {
    const span = byId.get(id)!;
    otelSpan.end(hrTime(span.startUs + span.durUs));
  }
  try {
    await provider.forceFlush();
  } finally {
    await provider.shutdown();
  }
}
