/**
 * Logs, metrics and traces of a function, built once per execution
 * environment with the runtime, and what a handler does with them once per
 * invocation: Lambda context into the logs, the cold-start metric, the
 * invocation's subsegment, a meter on the model, and one flush of the
 * invocation's metrics at its end, whatever became of it.
 */
import type { Context } from 'aws-lambda';
import { createEmfMetrics } from '../adapters/emf-metrics';
import { createJsonLogger, type LambdaLogger, type LogLevel } from '../adapters/logger';
import type { Clock, ModelClient } from '../core/ports';
import type { MetricRecord } from './catalogue';
import type { TokenPrices } from '../core/cost';
import { createModelMeter } from './model-meter';
import type { MetricsSink } from './summary';
import { loadTelemetryConfig } from './telemetry-config';
import { loadTracing, type Tracing } from './tracing';

/** A function's telemetry. */
export interface Telemetry {
  readonly logger: LambdaLogger;
  /** Where metric records go: EMF lines in Lambda, a collector in `npm start`. */
  readonly metrics: MetricsSink;
  /** Present with tracing on. */
  readonly tracing?: Tracing;
  /** Publishes the cold-start metric on the environment's first invocation. */
  captureColdStart(functionName?: string): void;
}

/** What a caller may put in place of the defaults. */
export interface TelemetryParts {
  /** Where log lines (and, unless `metrics` is given, EMF lines) go. @default standard output */
  readonly logWrite?: (line: string) => void;
  /** Overrides the level from the environment. */
  readonly logLevel?: LogLevel;
  /** Receives the metric records instead of the EMF writer. */
  readonly metrics?: MetricsSink;
}

/**
 * Telemetry from the Powertools variables (`telemetry-config.ts`).
 *
 * @param fallbackLevel the function's `LOG_LEVEL`, used when neither
 *   `parts.logLevel` nor `POWERTOOLS_LOG_LEVEL` is set.
 * @throws {import('../core/errors').ConfigError} naming a bad variable.
 */
export async function loadTelemetry(
  env: Readonly<Record<string, string | undefined>>,
  fallbackLevel: LogLevel,
  parts: TelemetryParts = {},
): Promise<Telemetry> {
  const config = loadTelemetryConfig(env);
  const tracing = await loadTracing({ enabled: config.tracing, serviceName: config.serviceName });
  const logger = createJsonLogger({
    level: parts.logLevel ?? config.logLevel ?? fallbackLevel,
    serviceName: config.serviceName,
    sampleRate: config.sampleRate,
    ...(parts.logWrite ? { write: parts.logWrite } : {}),
  });
  const emf = parts.metrics
    ? undefined
    : createEmfMetrics({ serviceName: config.serviceName, namespace: config.namespace, ...(parts.logWrite ? { write: parts.logWrite } : {}) });
  return {
    logger,
    metrics: parts.metrics ?? emf!,
    ...(tracing ? { tracing } : {}),
    captureColdStart: (functionName) => emf?.captureColdStart(functionName),
  };
}

/** One invocation's telemetry (see {@link startInvocation}). */
export interface InvocationTelemetry {
  /** `model`, counted into the invocation's metrics. */
  meter(model: ModelClient): ModelClient;
  /** Adds records to what the invocation publishes at its end. */
  record(records: readonly MetricRecord[]): void;
  /** Publishes everything recorded and the model meter's figures (with their cost at `prices`), and closes the subsegment. */
  end(prices?: TokenPrices): void;
}

/**
 * Starts an invocation's telemetry.
 *
 * @example
 * ```ts
 * const t = startInvocation(rt.telemetry, 'on-upload', context, rt.clock);
 * try { … t.record(outcomeMetrics(outcome)) … } finally { t.end() }
 * ```
 */
export function startInvocation(
  telemetry: Telemetry,
  handlerName: string,
  context: Partial<Pick<Context, 'awsRequestId' | 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>,
  clock: Pick<Clock, 'now'>,
): InvocationTelemetry {
  telemetry.logger.startInvocation(context);
  telemetry.captureColdStart(context.functionName);
  const endTrace = telemetry.tracing?.startInvocation(handlerName);
  const meter = createModelMeter(() => clock.now());
  const records: MetricRecord[] = [];
  let ended = false;
  return {
    meter: (model) => meter.wrap(model),
    record: (r) => void records.push(...r),
    end(prices) {
      if (ended) return;
      ended = true;
      try {
        telemetry.metrics.publish([...records, ...meter.records(prices)]);
      } finally {
        endTrace?.();
      }
    },
  };
}
