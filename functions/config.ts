/**
 * The Lambda environment, parsed once into a typed, frozen config.
 *
 * A bad value stops start-up with a message that names the variable and
 * what it expected, rather than failing later inside a field request.
 */
import * as z from 'zod';
import { ConfigError, FieldSetError } from './core/errors';
import { keyPrefix, logLevel, parseEnvironment } from './env';
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from './core/fields';

export const RESPONSE_FORMATS = ['json_schema', 'json_object', 'none'] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];

const MiB = 1024 * 1024;

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `expected a whole number from ${min} to ${max}` })
    .int(`expected a whole number from ${min} to ${max}`)
    .min(min, `expected a whole number from ${min} to ${max}`)
    .max(max, `expected a whole number from ${min} to ${max}`);

const envSchema = z.object({
  MODEL_BASE_URL: z
    .url({ error: 'expected an http(s) URL such as http://10.0.0.5:8000/v1' })
    .refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL such as http://10.0.0.5:8000/v1'),
  MODEL_NAME: z.string({ error: 'expected the model name sent in each request' }).trim().min(1, 'expected a model name'),
  MODEL_API_KEY: z.string().optional(),
  MODEL_API_KEY_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'expected a Secrets Manager secret ARN')
    .optional(),
  MODEL_MAX_CONCURRENCY: int(1, 1000).optional(),
  MODEL_TIMEOUT_MS: int(100, 900_000).default(60_000),
  MODEL_MAX_RETRIES: int(0, 10).default(3),
  MODEL_MAX_TOKENS: int(16, 32_768).default(1024),
  MODEL_RESPONSE_FORMAT: z
    .enum(RESPONSE_FORMATS, { error: `expected one of ${RESPONSE_FORMATS.join(', ')}` })
    .default('json_schema'),
  FIELDS: z.string().optional(),
  INPUT_PREFIX: keyPrefix('incoming/'),
  OUTPUT_PREFIX: keyPrefix('results/'),
  OUTPUT_BUCKET: z.string().min(3).optional(),
  MAX_IMAGE_BYTES: int(1, 100 * MiB).default(20 * MiB),
  /** Time kept back from the Lambda's remaining time to write the result. */
  DEADLINE_MARGIN_MS: int(0, 600_000).default(5_000),
  LOG_LEVEL: logLevel,
});

/** The typed configuration every handler receives. */
export interface Config {
  readonly model: {
    readonly baseUrl: string;
    readonly name: string;
    /** A literal key (local runs); in Lambda the stack sets `apiKeySecretArn` instead. */
    readonly apiKey?: string;
    readonly apiKeySecretArn?: string;
    readonly maxConcurrency: number;
    readonly timeoutMs: number;
    readonly maxRetries: number;
    readonly maxTokens: number;
    readonly responseFormat: ResponseFormat;
  };
  readonly fields: FieldSet;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  readonly outputBucket?: string;
  readonly maxImageBytes: number;
  readonly deadlineMarginMs: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * Parses the environment. Call once per cold start.
 *
 * @throws {ConfigError} naming every bad variable and what it expected.
 * @example
 * ```ts
 * const config = loadConfig(process.env);
 * ```
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const e = parseEnvironment(envSchema, env);

  let fields: FieldSet = DEFAULT_LABEL_FIELDS;
  if (e.FIELDS !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(e.FIELDS);
    } catch (err) {
      throw new ConfigError(`FIELDS: expected a JSON array of fields (${(err as Error).message})`, { cause: err });
    }
    try {
      fields = parseFieldSet(raw);
    } catch (err) {
      if (err instanceof FieldSetError) throw new ConfigError(`FIELDS: ${err.message}`, { cause: err });
      throw err;
    }
  }

  return Object.freeze({
    model: Object.freeze({
      baseUrl: e.MODEL_BASE_URL,
      name: e.MODEL_NAME,
      ...(e.MODEL_API_KEY ? { apiKey: e.MODEL_API_KEY } : {}),
      ...(e.MODEL_API_KEY_SECRET_ARN ? { apiKeySecretArn: e.MODEL_API_KEY_SECRET_ARN } : {}),
      maxConcurrency: e.MODEL_MAX_CONCURRENCY ?? fields.length,
      timeoutMs: e.MODEL_TIMEOUT_MS,
      maxRetries: e.MODEL_MAX_RETRIES,
      maxTokens: e.MODEL_MAX_TOKENS,
      responseFormat: e.MODEL_RESPONSE_FORMAT,
    }),
    fields,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    ...(e.OUTPUT_BUCKET ? { outputBucket: e.OUTPUT_BUCKET } : {}),
    maxImageBytes: e.MAX_IMAGE_BYTES,
    deadlineMarginMs: e.DEADLINE_MARGIN_MS,
    logLevel: e.LOG_LEVEL,
  });
}
