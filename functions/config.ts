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
 *
 * {@link validateEnvironment} runs the same parsing and cross-checks without
 * keeping the result: the stack calls it at synth, so it refuses exactly
 * what a function would refuse at start-up, with the same message.
 */
import * as z from 'zod';
import { ConfigError, FieldSetError } from './core/errors';
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from './core/fields';
import { keyPrefix, logLevel, parseEnvironment, refuseOverlappingPrefixes } from './env';

export const RESPONSE_FORMATS = ['json_schema', 'json_object', 'none'] as const;
export type ResponseFormat = (typeof RESPONSE_FORMATS)[number];
export type LogLevel = z.infer<typeof logLevel>;

const MiB = 1024 * 1024;

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
  /** Unset: the bucket each image came from (the stack leaves it unset when the buckets are one). */
  OUTPUT_BUCKET: z.string().min(3).optional(),
  MAX_IMAGE_BYTES: int(1, 100 * MiB).default(20 * MiB),
  /** Time kept back from the Lambda's remaining time to write the result. */
  DEADLINE_MARGIN_MS: int(0, 600_000).default(5_000),
  LOG_LEVEL: logLevel,
  /** Below this a field's confidence flags its document for review. */
  REVIEW_CONFIDENCE_THRESHOLD: z.coerce
    .number({ error: 'expected a number from 0 to 1' })
    .min(0, 'expected a number from 0 to 1')
    .max(1, 'expected a number from 0 to 1')
    .default(0.8),
});

/** What the functions that ask the model read besides. */
const endpointEnvSchema = z.object({
  MODEL_BASE_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as http://10.0.0.5:8000/v1' }),
  MODEL_API_KEY: z.string().optional(),
  MODEL_API_KEY_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'expected a Secrets Manager secret ARN')
    .optional(),
  MODEL_MAX_CONCURRENCY: int(1, 1000).optional(),
  MODEL_TIMEOUT_MS: int(100, 900_000).default(60_000),
  MODEL_MAX_RETRIES: int(0, 10).default(3),
  MODEL_MAX_TOKENS: int(16, 32_768).default(1024),
  /** Ask for token log-probabilities (each field's confidence). */
  MODEL_LOGPROBS: z.enum(['true', 'false'], { error: 'expected true or false' }).default('false'),
});

const modelEnvSchema = pipelineEnvSchema.extend(endpointEnvSchema.shape);

const starterEnvSchema = z.object({
  STATE_MACHINE_ARN: z
    .string({ error: 'expected the ARN of the state machine to start' })
    .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/, 'expected a state machine ARN'),
  INPUT_PREFIX: keyPrefix('incoming/'),
  OUTPUT_PREFIX: keyPrefix('results/'),
  /** Read only to tell whether the prefixes share a bucket (see {@link refuseOverlappingPrefixes}). */
  OUTPUT_BUCKET: z.string().min(3).optional(),
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
  /** Where results go; unset: the bucket each image came from. */
  readonly outputBucket?: string;
  readonly maxImageBytes: number;
  readonly deadlineMarginMs: number;
  readonly logLevel: LogLevel;
  /** Below this a field's confidence flags its document for review. */
  readonly reviewThreshold: number;
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
    /** Ask the endpoint for token log-probabilities (`logprobs: true`). */
    readonly logprobs: boolean;
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
 * @throws {ConfigError} naming every bad variable and what it expected, or
 *   an input and output prefix that overlap in one bucket.
 * @example
 * ```ts
 * const config = loadConfig(process.env);
 * ```
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const e = parseEnvironment(modelEnvSchema, env);
  refuseOverlappingPrefixes(e);
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
      logprobs: e.MODEL_LOGPROBS === 'true',
    }),
  });
}

/**
 * Parses the environment of a function that writes documents but asks no
 * model: the endpoint's variables are neither needed nor read.
 *
 * @throws {ConfigError} naming every bad variable and what it expected, or
 *   an input and output prefix that overlap in one bucket.
 */
export function loadPipelineConfig(env: Readonly<Record<string, string | undefined>>): PipelineConfig {
  const e = parseEnvironment(pipelineEnvSchema, env);
  refuseOverlappingPrefixes(e);
  return pipelineConfigFrom(e);
}

/**
 * Parses the starter's environment.
 *
 * @throws {ConfigError} naming every bad variable and what it expected, or
 *   an input and output prefix that overlap in one bucket.
 */
export function loadStarterConfig(env: Readonly<Record<string, string | undefined>>): StarterConfig {
  const e = parseEnvironment(starterEnvSchema, env);
  refuseOverlappingPrefixes(e);
  return Object.freeze({
    stateMachineArn: e.STATE_MACHINE_ARN,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    logLevel: e.LOG_LEVEL,
  });
}

/** Which of the three configs a function reads. */
export type FunctionKind = 'model' | 'pipeline' | 'starter';

const LOADERS: Readonly<Record<FunctionKind, (env: Readonly<Record<string, string | undefined>>) => unknown>> = Object.freeze({
  model: loadConfig,
  pipeline: loadPipelineConfig,
  starter: loadStarterConfig,
});

/**
 * Checks an environment the way the function of that kind checks its own at
 * start-up (the same schema, the same cross-checks, the same message),
 * without keeping the config. The stack calls it at synth.
 *
 * @param kind `model` for the functions that ask the model ({@link loadConfig}),
 *   `pipeline` for those that only write documents ({@link loadPipelineConfig}),
 *   `starter` for the Step Functions starter ({@link loadStarterConfig}).
 * @throws {ConfigError} exactly as that function's loader would.
 * @example
 * ```ts
 * validateEnvironment('model', { MODEL_BASE_URL: 'https://models.example.com/v1', MODEL_NAME: 'qwen', MODEL_MAX_RETRIES: '20' });
 * // ConfigError: invalid configuration:
 * //   MODEL_MAX_RETRIES: expected a whole number from 0 to 10 (got "20")
 * ```
 */
export function validateEnvironment(kind: FunctionKind, env: Readonly<Record<string, string | undefined>>): void {
  const load = LOADERS[kind];
  if (!load) throw new TypeError(`expected kind to be one of ${Object.keys(LOADERS).join(', ')}, got ${JSON.stringify(kind)}`);
  load(env);
}

function pipelineConfigFrom(e: z.infer<typeof pipelineEnvSchema>): PipelineConfig {
  const fields = e.FIELDS === undefined ? DEFAULT_LABEL_FIELDS : fieldSetFromJson(e.FIELDS);
  return Object.freeze({
    model: Object.freeze({ name: e.MODEL_NAME, responseFormat: e.MODEL_RESPONSE_FORMAT }),
    fields,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    ...(e.OUTPUT_BUCKET ? { outputBucket: e.OUTPUT_BUCKET } : {}),
    maxImageBytes: e.MAX_IMAGE_BYTES,
    deadlineMarginMs: e.DEADLINE_MARGIN_MS,
    logLevel: e.LOG_LEVEL,
    reviewThreshold: e.REVIEW_CONFIDENCE_THRESHOLD,
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
