/** What happens to a build's trace when it ends: a Chrome trace file when asked for, OTLP when configured. */
import { errorMessage } from '../errors.js';
import { writeChromeTrace } from './chrome.js';
import type { Tracer } from './tracer.js';

/** Whether spans should go out over OTLP (the general or the traces-only endpoint variable, as the OTel SDKs read them). */
export function otlpConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Writes `file` (Chrome/Perfetto JSON) if given and sends the spans over OTLP if configured. A trace is never worth
 * a failed build: failures go to `warn`.
 */
export async function finishTrace(tracer: Tracer, options: { file?: string; warn: (message: string) => void; attributes?: Record<string, string> }): Promise<void> {
  if (options.file) {
    await writeChromeTrace(tracer, options.file).catch((err: unknown) => options.warn(`--trace ${options.file}: cannot write the trace: ${errorMessage(err)}`));
  }
  if (otlpConfigured()) {
    try {
      const { exportOtlp } = await import('./otlp.js');
      await exportOtlp(tracer, options.attributes);
    } catch (err) {
      options.warn(`sending the build trace over OTLP failed: ${errorMessage(err)}`);
    }
  }
}
