/**
 * The functions' environment, parsed once per cold start into typed, frozen
 * configs. A bad value stops start-up with a message that names the
 * variable and what it expected, rather than failing later inside a field
 * request.
 *
 * Three configs, by what a function does:
 * - {@link loadPipelineConfig}: every task that reads objects and writes
 *   documents (Prepare, Merge, RecordFailure): fields, prefixes, limits and
 *   the model's identity (its name is recorded in every document), but not
 *   the endpoint;
 * - {@link loadConfig}: that plus the model endpoint, for the functions that
 *   ask the model (on-upload, ExtractField);
 * - {@link loadStarterConfig}: the Step Functions starter.
 */
import * as z from 'zod';
import { defaultCachePrefix, type ContentCacheSettings } from './core/content-cache';
import type { TokenPrices } from './core/cost';
import { ConfigError, FieldSetError } from './core/errors';
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from './core/fields';
import { keyPrefix, logLevel, parseEnvironment } from './env';

export const RESPONSE_FORMATS = ['json_schema', 'json_object', 'none'] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];
export type LogLevel = z.infer<typeof logLevel>;

const MiB = 1024 * 1024;

/** A price per million tokens: a number ≥ 0, or unset. */
function price() {
  const message = 'expected a price per million tokens, a number ≥ 0 such as 0.15';
  return z.coerce.number({ error: message }).finite(message).nonnegative(message).optional();
}

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `expected a whole number from ${min} to ${max}` })
    .int(`expected a whole number from ${min} to ${max}`)
    .min(min, `expected a whole number from ${min} to ${max}`)
    .max(max, `expected a whole number from ${min} to ${max}`);

/** What every function that writes documents reads. */
const pipelineEnvSchema = z.object({
  MODEL_NAME: z.string({ error: 'expected the model name sent in each request' }).trim().min(1, 'expected a model name'),
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
  CONTENT_CACHE: z.enum(['on', 'off'], { error: 'expected "on" or "off"' }).default('on'),
  CONTENT_CACHE_PREFIX: z.string().refine((p) => p.endsWith('/'), 'expected a key prefix ending in "/"').optional(),
  MODEL_PRICE_INPUT_PER_MTOK: price(),
  MODEL_PRICE_CACHED_INPUT_PER_MTOK: price(),
  MODEL_PRICE_OUTPUT_PER_MTOK: price(),
  MODEL_PRICE_CURRENCY: z.string().trim().regex(/^[A-Za-z]{1,10}$/, 'expected a currency label such as USD').default('USD'),
});

/** What the functions that ask the model read besides. */
const endpointEnvSchema = z.object({
  MODEL_BASE_URL: z
    .url({ error: 'expected an http(s) URL such as http://10.0.0.5:8000/v1' })
    .refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL such as http://10.0.0.5:8000/v1'),
  MODEL_API_KEY: z.string().optional(),
  MODEL_API_KEY_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'expected a Secrets Manager secret ARN')
    .optional(),
  MODEL_MAX_CONCURRENCY: int(1, 1000).optional(),
  MODEL_TIMEOUT_MS: int(100, 900_000).default(60_000),
  MODEL_MAX_RETRIES: int(0, 10).default(3),
  MODEL_MAX_TOKENS: int(16, 32_768).default(1024),
});

const modelEnvSchema = pipelineEnvSchema.extend(endpointEnvSchema.shape);

const starterEnvSchema = z.object({
  STATE_MACHINE_ARN: z
    .string({ error: 'expected the ARN of the state machine to start' })
    .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/, 'expected a state machine ARN'),
  INPUT_PREFIX: keyPrefix('incoming/'),
  OUTPUT_PREFIX: keyPrefix('results/'),
  LOG_LEVEL: logLevel,
});

/** The typed configuration of a function that reads objects and writes documents. */
export interface PipelineConfig {
  readonly model: {
    readonly name: string;
    readonly responseFormat: ResponseFormat;
  };
  readonly fields: FieldSet;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  readonly outputBucket?: string;
  readonly maxImageBytes: number;
  readonly deadlineMarginMs: number;
  readonly logLevel: LogLevel;
  /** Where the content cache lives; absent when `CONTENT_CACHE=off`. */
  readonly contentCache?: ContentCacheSettings;
  /** Prices per million tokens; absent unless set. */
  readonly prices?: TokenPrices;
}

/** The typed configuration of a function that asks the model. */
export interface Config extends PipelineConfig {
  readonly model: PipelineConfig['model'] & {
    readonly baseUrl: string;
    /** A literal key (local runs); in Lambda the stack sets `apiKeySecretArn` instead. */
    readonly apiKey?: string;
    readonly apiKeySecretArn?: string;
    readonly maxConcurrency: number;
    readonly timeoutMs: number;
    readonly maxRetries: number;
    readonly maxTokens: number;
  };
}

/** The Step Functions starter's typed configuration. */
export interface StarterConfig {
  readonly stateMachineArn: string;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  readonly logLevel: LogLevel;
}

/**
 * Parses the environment of a function that asks the model. Call once per cold start.
 *
 * @throws {ConfigError} naming every bad variable and what it expected.
 * @example
 * ```ts
 * const config = loadConfig(process.env);
 * ```
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const e = parseEnvironment(modelEnvSchema, env);
  const base = pipelineConfigFrom(e);
  return Object.freeze({
    ...base,
    model: Object.freeze({
      ...base.model,
      baseUrl: e.MODEL_BASE_URL,
      ...(e.MODEL_API_KEY ? { apiKey: e.MODEL_API_KEY } : {}),
      ...(e.MODEL_API_KEY_SECRET_ARN ? { apiKeySecretArn: e.MODEL_API_KEY_SECRET_ARN } : {}),
      maxConcurrency: e.MODEL_MAX_CONCURRENCY ?? base.fields.length,
      timeoutMs: e.MODEL_TIMEOUT_MS,
      maxRetries: e.MODEL_MAX_RETRIES,
      maxTokens: e.MODEL_MAX_TOKENS,
    }),
  });
}

/**
 * Parses the environment of a function that writes documents but asks no
 * model: the endpoint's variables are neither needed nor read.
 *
 * @throws {ConfigError} naming every bad variable and what it expected.
 */
export function loadPipelineConfig(env: Readonly<Record<string, string | undefined>>): PipelineConfig {
  return pipelineConfigFrom(parseEnvironment(pipelineEnvSchema, env));
}

/**
 * Parses the starter's environment.
 *
 * @throws {ConfigError} naming every bad variable and what it expected.
 */
export function loadStarterConfig(env: Readonly<Record<string, string | undefined>>): StarterConfig {
  const e = parseEnvironment(starterEnvSchema, env);
  return Object.freeze({
    stateMachineArn: e.STATE_MACHINE_ARN,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    logLevel: e.LOG_LEVEL,
  });
}

function pipelineConfigFrom(e: z.infer<typeof pipelineEnvSchema>): PipelineConfig {
  const fields = e.FIELDS === undefined ? DEFAULT_LABEL_FIELDS : fieldSetFromJson(e.FIELDS);
  const contentCache = contentCacheFrom(e);
  const prices = pricesFrom(e);
  return Object.freeze({
    model: Object.freeze({ name: e.MODEL_NAME, responseFormat: e.MODEL_RESPONSE_FORMAT }),
    fields,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    ...(e.OUTPUT_BUCKET ? { outputBucket: e.OUTPUT_BUCKET } : {}),
    maxImageBytes: e.MAX_IMAGE_BYTES,
    deadlineMarginMs: e.DEADLINE_MARGIN_MS,
    logLevel: e.LOG_LEVEL,
    ...(contentCache ? { contentCache } : {}),
    ...(prices ? { prices } : {}),
  });
}

/**
 * The content cache's place. Its entries must never look like new images:
 * a prefix under the input prefix (and not under the output prefix, which
 * is never processed) would send every entry back through the pipeline.
 */
function contentCacheFrom(e: z.infer<typeof pipelineEnvSchema>): ContentCacheSettings | undefined {
  if (e.CONTENT_CACHE === 'off') return undefined;
  const prefix = e.CONTENT_CACHE_PREFIX ?? defaultCachePrefix(e.OUTPUT_PREFIX);
  const underOutput = e.OUTPUT_PREFIX !== '' && prefix.startsWith(e.OUTPUT_PREFIX);
  if (prefix === '' || (!underOutput && prefix.startsWith(e.INPUT_PREFIX))) {
    throw new ConfigError(
      `invalid configuration:\n  CONTENT_CACHE_PREFIX: expected a prefix outside INPUT_PREFIX "${e.INPUT_PREFIX}" (or under OUTPUT_PREFIX), ` +
        `so cache entries are never processed as images (got ${JSON.stringify(prefix)})`,
    );
  }
  return Object.freeze({ prefix });
}

/** Prices, when set: input and output go together; cached input defaults to input. */
function pricesFrom(e: z.infer<typeof pipelineEnvSchema>): TokenPrices | undefined {
  const input = e.MODEL_PRICE_INPUT_PER_MTOK;
  const output = e.MODEL_PRICE_OUTPUT_PER_MTOK;
  const cached = e.MODEL_PRICE_CACHED_INPUT_PER_MTOK;
  if (input === undefined && output === undefined && cached === undefined) return undefined;
  if (input === undefined || output === undefined) {
    const missing = input === undefined ? 'MODEL_PRICE_INPUT_PER_MTOK' : 'MODEL_PRICE_OUTPUT_PER_MTOK';
    throw new ConfigError(
      `invalid configuration:\n  ${missing}: expected a price per million tokens, since another MODEL_PRICE_* is set (it is not set)`,
    );
  }
  return Object.freeze({
    currency: e.MODEL_PRICE_CURRENCY,
    inputPerMillion: input,
    ...(cached !== undefined ? { cachedInputPerMillion: cached } : {}),
    outputPerMillion: output,
  });
}

function fieldSetFromJson(text: string): FieldSet {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`FIELDS: expected a JSON array of fields (${(err as Error).message})`, { cause: err });
  }
  try {
    return parseFieldSet(raw);
  } catch (err) {
    if (err instanceof FieldSetError) throw new ConfigError(`FIELDS: ${err.message}`, { cause: err });
    throw err;
  }
}
