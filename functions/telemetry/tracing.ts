/**
 * X-Ray tracing, on when the stack is deployed with tracing: each
 * invocation a subsegment, each model request and each S3 call a
 * subsegment beneath it (`adapters/xray-tracing.ts`, over Powertools for
 * AWS Lambda's Tracer).
 *
 * The tracer brings the X-Ray SDK, about 125 kB of minified code; most
 * deployments never trace, so it is left out of their bundle. The stack
 * bundles every function with `FIELDLENS_BUNDLE_TRACER` defined as `true`
 * or `false` (esbuild `define`); with `false` the import below is dead code
 * and esbuild drops it and everything it would pull in. Unbundled (tests,
 * `npm start`) the constant is not defined and the tracer is there.
 */
import { ConfigError } from '../core/errors';
import type { ModelClient } from '../core/ports';

/** Set by the stack's bundler: whether this bundle carries the tracer. */
declare const FIELDLENS_BUNDLE_TRACER: boolean | undefined;

/** What the runtime and the handlers ask of the tracer. */
export interface Tracing {
  /** An AWS SDK v3 client whose every call is a subsegment. */
  captureClient<T>(client: T): T;
  /** `model`, with every request a subsegment (`### model request`) annotated with the field and, on failure, the error code. */
  traceModel(model: ModelClient): ModelClient;
  /** Opens the invocation's subsegment (`## <handler>`, cold start and service annotated); call the result to close it. */
  startInvocation(handlerName: string): () => void;
}

/** Tracing settings, as the function's environment gives them. */
export interface TracingSettings {
  /** `POWERTOOLS_TRACE_ENABLED=true`: the stack sets it with tracing on. */
  readonly enabled: boolean;
  /** The `Service` annotation. */
  readonly serviceName: string;
}

/**
 * The tracer, or `undefined` with tracing off.
 *
 * @throws {ConfigError} when tracing is on in a bundle built without the
 *   tracer (deploy with `-c tracing=true`, which builds both together).
 */
export async function loadTracing(settings: TracingSettings): Promise<Tracing | undefined> {
  if (!settings.enabled) return undefined;
  if (typeof FIELDLENS_BUNDLE_TRACER === 'undefined' || FIELDLENS_BUNDLE_TRACER) {
    const { createXrayTracing } = await import('../adapters/xray-tracing');
    return createXrayTracing(settings.serviceName);
  }
  throw new ConfigError(
    'POWERTOOLS_TRACE_ENABLED is true but this bundle was built without the tracer; deploy with -c tracing=true, which turns tracing on and bundles the tracer',
  );
}
