/**
 * The Powertools variables a function reads, parsed like the rest of its
 * environment (`env.ts`): a bad value stops start-up with a message naming
 * the variable.
 */
import * as z from 'zod';
import { parseEnvironment } from '../env';
import { METRICS_NAMESPACE } from './catalogue';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const telemetryEnvSchema = z.object({
  /** The `service` of every log line and metric: the stack sets its own name. */
  POWERTOOLS_SERVICE_NAME: z.string().trim().min(1).default('fieldlens'),
  POWERTOOLS_METRICS_NAMESPACE: z.string().trim().min(1).default(METRICS_NAMESPACE),
  /** Powertools' name for the log level; it wins over `LOG_LEVEL` when both are set. */
  POWERTOOLS_LOG_LEVEL: z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.enum(LEVELS, { error: `expected one of ${LEVELS.join(', ')} (any case)` }))
    .optional(),
  /** Share of invocations that log at debug level whatever the level, 0-1. */
  POWERTOOLS_LOGGER_SAMPLE_RATE: z.coerce
    .number({ error: 'expected a number from 0 to 1, such as 0.1 (one invocation in ten)' })
    .min(0, 'expected a number from 0 to 1, such as 0.1 (one invocation in ten)')
    .max(1, 'expected a number from 0 to 1, such as 0.1 (one invocation in ten)')
    .default(0),
  /** X-Ray tracing; the stack sets it with `-c tracing=true`. */
  POWERTOOLS_TRACE_ENABLED: z.enum(['true', 'false'], { error: 'expected true or false' }).default('false'),
});

/** Logging, metrics and tracing settings of a function. */
export interface TelemetryConfig {
  readonly serviceName: string;
  readonly namespace: string;
  /** `POWERTOOLS_LOG_LEVEL`, when set. */
  readonly logLevel?: (typeof LEVELS)[number];
  readonly sampleRate: number;
  readonly tracing: boolean;
}

/**
 * @throws {import('../core/errors').ConfigError} naming the bad variable.
 */
export function loadTelemetryConfig(env: Readonly<Record<string, string | undefined>>): TelemetryConfig {
  const e = parseEnvironment(telemetryEnvSchema, env);
  return Object.freeze({
    serviceName: e.POWERTOOLS_SERVICE_NAME,
    namespace: e.POWERTOOLS_METRICS_NAMESPACE,
    ...(e.POWERTOOLS_LOG_LEVEL ? { logLevel: e.POWERTOOLS_LOG_LEVEL } : {}),
    sampleRate: e.POWERTOOLS_LOGGER_SAMPLE_RATE,
    tracing: e.POWERTOOLS_TRACE_ENABLED === 'true',
  });
}
