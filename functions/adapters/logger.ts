/**
 * Structured logs: one JSON line per event on stdout, which Lambda ships to
 * CloudWatch as is. Callers pass keys, outcomes and timings; image bytes and
 * the API key never reach a logger.
 */
import type { Logger } from '../core/ports';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  readonly level?: LogLevel;
  /** Where lines go. @default process.stdout */
  readonly write?: (line: string) => void;
  /** Keys added to every line. */
  readonly base?: Record<string, unknown>;
}

/**
 * @example
 * ```ts
 * const log = createJsonLogger({ level: 'info' }).child({ requestId });
 * log.info('result written', { key, status: 'complete', durationMs: 1234 });
 * ```
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const base = options.base ?? {};
  const emit = (level: LogLevel, message: string, data?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...data }, replacer)}\n`);
  };
  return {
    debug: (m, d) => emit('debug', m, d),
    info: (m, d) => emit('info', m, d),
    warn: (m, d) => emit('warn', m, d),
    error: (m, d) => emit('error', m, d),
    child: (data) => createJsonLogger({ ...options, base: { ...base, ...data } }),
  };
}

/** Errors become their code and message; buffers are never written out. */
function replacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify hands the replacer what toJSON returned (Buffer and
  // FieldlensError have one); the holder still has the original.
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Error) {
    return { name: raw.name, message: raw.message, ...((raw as { code?: unknown }).code ? { code: (raw as { code?: unknown }).code } : {}) };
  }
  if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) return `<${raw.byteLength} bytes>`;
  if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') return '<bytes>';
  return value;
}
