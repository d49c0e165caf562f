/**
 * Structured logs through Powertools for AWS Lambda's Logger: one JSON line
 * per event on stdout, which Lambda ships to CloudWatch as is, in the
 * format Powertools users query (`level`, `message`, `timestamp`,
 * `service`, `cold_start`, `function_request_id`, `xray_trace_id`, …).
 *
 * The core's `Logger` port stays what it was; this adapter puts Powertools
 * behind it. One Powertools instance per execution environment carries the
 * Lambda context (`addContext`) and the sampling decision; a child adds
 * keys (the object's bucket and key, the field) without a new instance.
 *
 * Callers pass keys, outcomes and timings; image bytes and the API key never
 * reach a logger, and as a second line of defence buffers are written as
 * their size and errors as their name, message and code (never a cause).
 */
import { Logger as PowertoolsLogger, type LogItem } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';
import type { Context } from 'aws-lambda';
import type { Logger } from '../core/ports';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface JsonLoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  readonly level?: LogLevel;
  /** Where lines go (each ends in a newline). @default standard output, as Powertools writes it */
  readonly write?: (line: string) => void;
  /** Keys added to every line. */
  readonly base?: Record<string, unknown>;
  /** The `service` of every line. @default POWERTOOLS_SERVICE_NAME, else `fieldlens` */
  readonly serviceName?: string;
  /**
   * Share of invocations whose debug lines are written whatever the level
   * (Powertools' `sampleRateValue`, `POWERTOOLS_LOGGER_SAMPLE_RATE`), 0-1.
   * @default 0
   */
  readonly sampleRate?: number;
}

/** The logger of a runtime: the port, and the Powertools calls the handlers make once per invocation. */
export interface LambdaLogger extends Logger {
  /**
   * Adds the invocation's Lambda context to every line (`function_request_id`,
   * `cold_start`, …) and draws the invocation's debug-sampling decision anew.
   */
  startInvocation(context: Partial<Pick<Context, 'awsRequestId' | 'functionName' | 'invokedFunctionArn' | 'memoryLimitInMB' | 'functionVersion'>>): void;
}

/**
 * A Powertools Logger that writes each line through `write` (tests and
 * local runs collect them) instead of its own console.
 */
class LineLogger extends PowertoolsLogger {
  /**
   * Powertools may print while its constructor runs (the sampling notice),
   * before a field of this class exists: the writer of the instance being
   * built waits here.
   */
  static #constructing: ((line: string) => void) | undefined;
  #write: ((line: string) => void) | undefined;

  constructor(write: (line: string) => void, options: ConstructorOptions) {
    LineLogger.#constructing = write;
    try {
      super(options);
    } finally {
      LineLogger.#constructing = undefined;
    }
    this.#write = write;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    const write = (#write in this ? this.#write : undefined) ?? LineLogger.#constructing;
    write?.(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }

  protected override createLogger(options?: ConstructorOptions): PowertoolsLogger {
    return new LineLogger(this.#write!, options ?? {});
  }
}

/**
 * @example
 * ```ts
 * const log = createJsonLogger({ level: 'info' });
 * log.startInvocation(context);
 * log.child({ bucket, key }).info('result written', { status: 'complete', durationMs: 1234 });
 * ```
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): LambdaLogger {
  const powertoolsOptions: ConstructorOptions = {
    logLevel: (options.level ?? 'info').toUpperCase() as ConstructorOptions['logLevel'],
    serviceName: options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'fieldlens',
    ...(options.sampleRate !== undefined ? { sampleRateValue: options.sampleRate } : {}),
  };
  const root = options.write ? new LineLogger(options.write, powertoolsOptions) : new PowertoolsLogger(powertoolsOptions);
  const port = (base: Record<string, unknown>): Logger => {
    const emit = (level: LogLevel) => (message: string, data?: Record<string, unknown>) => {
      root[level](message, clean({ ...base, ...data }) as Record<string, unknown>);
    };
    return {
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      child: (data) => port({ ...base, ...data }),
    };
  };
  return {
    ...port(options.base ?? {}),
    startInvocation(context) {
      root.addContext(context as Context);
      root.refreshSampleRateCalculation();
    },
  };
}

/** Keys Powertools owns on every line; a caller's key of that name is kept as `<key>_`. */
const RESERVED = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp']);

/**
 * What may be written of a value: errors as `{name, message, code}`,
 * buffers as their size, reserved top-level keys renamed; at most 8 levels deep.
 */
function clean(value: unknown, depth = 0, top = true): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code ? { code } : {}) };
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => clean(v, depth + 1, false));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[top && RESERVED.has(k) ? `${k}_` : k] = clean(v, depth + 1, false);
  return out;
}
