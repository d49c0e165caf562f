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
import { defaultCachePrefix, type ContentCacheSettings } from './core/content-cache';
import type { TokenPrices } from './core/cost';
import { ConfigError, FieldSetError } from './core/errors';
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from './core/fields';
import { keyPrefix, logLevel, parseEnvironment, refuseOverlappingPrefixes } from './env';

export const RESPONSE_FORMATS = ['json_schema', 'json_object', 'none'] as const;
/** `openai`: an OpenAI-compatible endpoint (the default); `bedrock`: Amazon Bedrock's Converse API. */
export const MODEL_PROVIDERS = ['openai', 'bedrock'] as const;
export type ModelProvider = (typeof MODEL_PROVIDERS)[number];
/** How Bedrock is asked for the answer object (see `adapters/bedrock-converse.ts`). */
export const STRUCTURED_OUTPUTS = ['tool', 'prompt'] as const;
export type StructuredOutput = (typeof STRUCTURED_OUTPUTS)[number];
/** A model id, an inference profile id, or the ARN of a foundation model, inference profile or provisioned model. */
const BEDROCK_MODEL_ID = /^(arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{0,12}:[a-z-]+\/)?[A-Za-z0-9][A-Za-z0-9.:_-]*$/;
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
  MODEL_PROVIDER: z.literal('openai', { error: `expected one of ${MODEL_PROVIDERS.join(', ')}` }).default('openai'),
  MODEL_ID: z.never({ error: 'read only with MODEL_PROVIDER=bedrock; an OpenAI-compatible endpoint takes MODEL_NAME' }).optional(),
  CONTENT_CACHE: z.enum(['on', 'off'], { error: 'expected "on" or "off"' }).default('on'),
  CONTENT_CACHE_PREFIX: z.string().refine((p) => p.endsWith('/'), 'expected a key prefix ending in "/"').optional(),
  MODEL_PRICE_INPUT_PER_MTOK: price(),
  MODEL_PRICE_CACHED_INPUT_PER_MTOK: price(),
  MODEL_PRICE_OUTPUT_PER_MTOK: price(),
  MODEL_PRICE_CURRENCY: z.string().trim().regex(/^[A-Za-z]{1,10}$/, 'expected a currency label such as USD').default('USD'),
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
  /** The DynamoDB table of the fleet gate (`core/fleet-gate.ts`); unset: each environment's own adaptive gate. */
  FLEET_GATE_TABLE: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'expected a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)')
    .optional(),
  /** The most requests the whole fleet sends at once: the endpoint's capacity C. */
  FLEET_GATE_CAPACITY: int(1, 5_000).optional(),
  /** How often an invocation waiting for a fleet slot looks again. */
  FLEET_GATE_POLL_MS: int(5, 5_000).default(25),
  /** The item the fleet shares; unset: one per endpoint and model, so fleets that ask the same endpoint through one table share it. */
  FLEET_GATE_KEY: z.string().min(1).max(1024).optional(),
});

const modelEnvSchema = pipelineEnvSchema.extend(endpointEnvSchema.shape);

// Amazon Bedrock (MODEL_PROVIDER=bedrock, see docs/bedrock.md): the model's identity is
// MODEL_ID; there is no URL and no key (the function's role signs), so those are refused.
const notWithBedrock = (what: string) =>
  z.never({ error: `not used with MODEL_PROVIDER=bedrock (${what}); unset it, or set MODEL_PROVIDER=openai` }).optional();

const bedrockPipelineEnvSchema = pipelineEnvSchema.extend({
  MODEL_PROVIDER: z.literal('bedrock'),
  MODEL_NAME: notWithBedrock('the model is MODEL_ID'),
  MODEL_ID: z
    .string({ error: 'expected the Bedrock model id or inference profile with MODEL_PROVIDER=bedrock' })
    .trim()
    .regex(BEDROCK_MODEL_ID, 'expected a Bedrock model id, inference profile id or ARN such as eu.amazon.nova-lite-v1:0'),
  MODEL_STRUCTURED_OUTPUT: z.enum(STRUCTURED_OUTPUTS, { error: `expected one of ${STRUCTURED_OUTPUTS.join(', ')}` }).default('tool'),
});

const bedrockModelEnvSchema = bedrockPipelineEnvSchema.extend({
  ...endpointEnvSchema.shape,
  MODEL_BASE_URL: notWithBedrock('the endpoint is the region\'s Bedrock Runtime'),
  MODEL_API_KEY: notWithBedrock("calls are signed with the function's IAM role"),
  MODEL_API_KEY_SECRET_ARN: notWithBedrock("calls are signed with the function's IAM role"),
  /** @default AWS_REGION */
  MODEL_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected an AWS region such as eu-west-1').optional(),
  AWS_REGION: z.string().optional(),
  MODEL_PROMPT_CACHE: z.stringbool({ error: 'expected true or false' }).default(false),
  /** The SDK reads it from process.env too; parsed so that tests and local runs can pass it in the env they give. */
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
});

/** True when the environment names Bedrock; every other value is checked by the OpenAI schema's enum. */
const isBedrock = (env: Readonly<Record<string, string | undefined>>): boolean => env.MODEL_PROVIDER === 'bedrock';

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
    /** The provider; `openai` unless `MODEL_PROVIDER=bedrock`. */
    readonly provider: ModelProvider;
    /** Recorded in every document: `MODEL_NAME`, or with Bedrock `MODEL_ID`. */
    readonly name: string;
    /** How the OpenAI-compatible endpoint is asked for JSON (not read with Bedrock). */
    readonly responseFormat: ResponseFormat;
    /** With Bedrock: a forced tool or the prompt alone. */
    readonly structuredOutput?: StructuredOutput;
    /** What decides the answers' shape, for the fingerprint: the response format, or `bedrock-tool` / `bedrock-prompt`. */
    readonly answerFormat: string;
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
  /** Where the content cache lives; absent when `CONTENT_CACHE=off`. */
  readonly contentCache?: ContentCacheSettings;
  /** Prices per million tokens; absent unless set. */
  readonly prices?: TokenPrices;
}

/** The typed configuration of a function that asks the model. */
export interface Config extends PipelineConfig {
  readonly model: PipelineConfig['model'] & {
    /** The endpoint's URL: the OpenAI-compatible base URL, or with Bedrock the runtime endpoint called. */
    readonly baseUrl: string;
    /** With Bedrock: the region of the calls (`MODEL_REGION`, else `AWS_REGION`). */
    readonly region?: string;
    /** With Bedrock: a cache point after the image. */
    readonly promptCache?: boolean;
    /** With Bedrock: a different endpoint (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`; local runs and tests). */
    readonly endpoint?: string;
    /** A literal key (local runs); in Lambda the stack sets `apiKeySecretArn` instead. */
    readonly apiKey?: string;
    readonly apiKeySecretArn?: string;
    readonly maxConcurrency: number;
    readonly timeoutMs: number;
    readonly maxRetries: number;
    readonly maxTokens: number;
    /** Ask the endpoint for token log-probabilities (`logprobs: true`). */
    readonly logprobs: boolean;
    /** One in-flight count for every environment (`FLEET_GATE_*`); absent: each environment's own adaptive gate. */
    readonly fleetGate?: FleetGateConfig;
  };
}

/** The fleet gate's store and limits (`core/fleet-gate.ts`). */
export interface FleetGateConfig {
  readonly table: string;
  /** The item's key: one per endpoint and model unless `FLEET_GATE_KEY` says otherwise. */
  readonly key: string;
  /** The most requests the fleet sends at once (the level never rises above it). */
  readonly capacity: number;
  readonly pollMs: number;
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
  const e = isBedrock(env) ? parseEnvironment(bedrockModelEnvSchema, env) : parseEnvironment(modelEnvSchema, env);
  refuseOverlappingPrefixes(e);
  const base = pipelineConfigFrom(e);
  return Object.freeze({
    ...base,
    model: Object.freeze({
      ...base.model,
      ...(e.MODEL_PROVIDER === 'bedrock' ? bedrockEndpointFrom(e) : { baseUrl: e.MODEL_BASE_URL }),
      ...(e.MODEL_API_KEY ? { apiKey: e.MODEL_API_KEY } : {}),
      ...(e.MODEL_API_KEY_SECRET_ARN ? { apiKeySecretArn: e.MODEL_API_KEY_SECRET_ARN } : {}),
      maxConcurrency: e.MODEL_MAX_CONCURRENCY ?? base.fields.length,
      timeoutMs: e.MODEL_TIMEOUT_MS,
      maxRetries: e.MODEL_MAX_RETRIES,
      maxTokens: e.MODEL_MAX_TOKENS,
      logprobs: e.MODEL_LOGPROBS === 'true',
      ...fleetGateFrom(e, base.model.name),
    }),
  });
}

type ModelEnv = z.infer<typeof modelEnvSchema> | z.infer<typeof bedrockModelEnvSchema>;

/** The fleet gate, when `FLEET_GATE_TABLE` is set; its capacity is then required. */
function fleetGateFrom(e: ModelEnv, modelName: string): { fleetGate?: FleetGateConfig } {
  if (e.FLEET_GATE_TABLE === undefined) {
    const stray = (['FLEET_GATE_CAPACITY', 'FLEET_GATE_KEY'] as const).find((k) => e[k] !== undefined);
    if (stray) throw new ConfigError(`invalid configuration:\n  ${stray}: read only with FLEET_GATE_TABLE, which is not set`);
    return {};
  }
  if (e.FLEET_GATE_CAPACITY === undefined) {
    throw new ConfigError(
      'invalid configuration:\n  FLEET_GATE_CAPACITY: expected the most requests the endpoint serves at once, since FLEET_GATE_TABLE is set (it is not set)',
    );
  }
  const endpoint = e.MODEL_PROVIDER === 'bedrock' ? `bedrock:${e.MODEL_REGION ?? e.AWS_REGION ?? ''}` : e.MODEL_BASE_URL;
  return {
    fleetGate: Object.freeze({
      table: e.FLEET_GATE_TABLE,
      key: e.FLEET_GATE_KEY ?? `endpoint#${endpoint}#${modelName}`,
      capacity: e.FLEET_GATE_CAPACITY,
      pollMs: e.FLEET_GATE_POLL_MS,
    }),
  };
}

/**
 * Parses the environment of a function that writes documents but asks no
 * model: the endpoint's variables are neither needed nor read.
 *
 * @throws {ConfigError} naming every bad variable and what it expected, or
 *   an input and output prefix that overlap in one bucket.
 */
export function loadPipelineConfig(env: Readonly<Record<string, string | undefined>>): PipelineConfig {
  const e = isBedrock(env) ? parseEnvironment(bedrockPipelineEnvSchema, env) : parseEnvironment(pipelineEnvSchema, env);
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

type PipelineEnv = z.infer<typeof pipelineEnvSchema> | z.infer<typeof bedrockPipelineEnvSchema>;

function pipelineConfigFrom(e: PipelineEnv): PipelineConfig {
  const fields = e.FIELDS === undefined ? DEFAULT_LABEL_FIELDS : fieldSetFromJson(e.FIELDS);
  const contentCache = contentCacheFrom(e);
  const prices = pricesFrom(e);
  return Object.freeze({
    model: modelIdentityFrom(e),
    fields,
    inputPrefix: e.INPUT_PREFIX,
    outputPrefix: e.OUTPUT_PREFIX,
    ...(e.OUTPUT_BUCKET ? { outputBucket: e.OUTPUT_BUCKET } : {}),
    maxImageBytes: e.MAX_IMAGE_BYTES,
    deadlineMarginMs: e.DEADLINE_MARGIN_MS,
    logLevel: e.LOG_LEVEL,
    reviewThreshold: e.REVIEW_CONFIDENCE_THRESHOLD,
    ...(contentCache ? { contentCache } : {}),
    ...(prices ? { prices } : {}),
  });
}

/**
 * The content cache's place. Its entries must never look like new images:
 * a prefix under the input prefix (and not under the output prefix, which
 * is never processed) would send every entry back through the pipeline.
 */
function contentCacheFrom(e: PipelineEnv): ContentCacheSettings | undefined {
  if (e.CONTENT_CACHE === 'off') return undefined;
  const prefix = e.CONTENT_CACHE_PREFIX ?? defaultCachePrefix(e.OUTPUT_PREFIX);
  // The cache lives in the results bucket: only when that is the bucket the
  // images arrive in (OUTPUT_BUCKET unset) can an entry be taken for an image.
  const underOutput = e.OUTPUT_PREFIX !== '' && prefix.startsWith(e.OUTPUT_PREFIX);
  if (prefix === '' || (e.OUTPUT_BUCKET === undefined && !underOutput && prefix.startsWith(e.INPUT_PREFIX))) {
    throw new ConfigError(
      `invalid configuration:\n  CONTENT_CACHE_PREFIX: expected a prefix outside INPUT_PREFIX "${e.INPUT_PREFIX}" (or under OUTPUT_PREFIX), ` +
        `so cache entries are never processed as images (got ${JSON.stringify(prefix)})`,
    );
  }
  return Object.freeze({ prefix });
}

/** Prices, when set: input and output go together; cached input defaults to input. */
function pricesFrom(e: PipelineEnv): TokenPrices | undefined {
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

/**
 * The model's identity: with Bedrock the model id (an inference profile is
 * its own identity: it may route to another model version than its base);
 * otherwise `MODEL_NAME`.
 */
function modelIdentityFrom(e: PipelineEnv): PipelineConfig['model'] {
  if (e.MODEL_PROVIDER === 'bedrock') {
    return Object.freeze({
      provider: 'bedrock',
      name: e.MODEL_ID,
      responseFormat: e.MODEL_RESPONSE_FORMAT,
      structuredOutput: e.MODEL_STRUCTURED_OUTPUT,
      answerFormat: `bedrock-${e.MODEL_STRUCTURED_OUTPUT}`,
    });
  }
  return Object.freeze({ provider: 'openai', name: e.MODEL_NAME, responseFormat: e.MODEL_RESPONSE_FORMAT, answerFormat: e.MODEL_RESPONSE_FORMAT });
}

/** Bedrock's endpoint: the region (the function's own by default) and the runtime URL called there. */
function bedrockEndpointFrom(e: z.infer<typeof bedrockModelEnvSchema>): Pick<Config['model'], 'baseUrl' | 'region' | 'promptCache' | 'endpoint'> {
  const region = e.MODEL_REGION ?? e.AWS_REGION;
  if (region === undefined) {
    throw new ConfigError('invalid configuration:\n  MODEL_REGION: expected the Bedrock region with MODEL_PROVIDER=bedrock (neither it nor AWS_REGION is set)');
  }
  return {
    baseUrl: e.AWS_ENDPOINT_URL_BEDROCK_RUNTIME ?? `https://bedrock-runtime.${region}.amazonaws.com`,
    region,
    promptCache: e.MODEL_PROMPT_CACHE,
    ...(e.AWS_ENDPOINT_URL_BEDROCK_RUNTIME ? { endpoint: e.AWS_ENDPOINT_URL_BEDROCK_RUNTIME } : {}),
  };
}
