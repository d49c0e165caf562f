/**
 * The one wiring: config → clients → store → logger, built once per
 * execution environment (cold start) and reused by every invocation. The
 * handlers, `npm start`, eval, the benchmark and the test harnesses all
 * build their runtime here; they differ only in the {@link RuntimeParts}
 * they pass (a loopback S3 client, where log lines go, a timing store).
 *
 * The model client is not built here but by a factory the caller passes
 * (`functions/model-client.ts`), so the functions that never ask the model
 * (Prepare, Merge, RecordFailure, the starter) neither need the endpoint's
 * variables nor bundle its HTTP client.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { createDynamoDbClient, DynamoDbFleetStore } from './adapters/dynamodb-fleet-store';
import { createS3Client, S3ObjectStore } from './adapters/s3-store';
import { createSfnClient, SfnExecutionStarter } from './adapters/sfn-starter';
import {
  loadConfig,
  loadPipelineConfig,
  loadStarterConfig,
  type Config,
  type LogLevel,
  type PipelineConfig,
  type StarterConfig,
} from './config';
import { systemClock } from './core/clock';
import { configFingerprint } from './core/fingerprint';
import type { Clock, ExecutionStarter, Logger, ModelClient, ObjectStore } from './core/ports';
import type { ModelSettings, PipelineSettings } from './core/settings';
import { createRequestGates, type RequestGates } from './request-gates';
import type { MetricsSink } from './telemetry/summary';
import { loadTelemetry, type Telemetry } from './telemetry/telemetry';

type Env = Readonly<Record<string, string | undefined>>;

/** What a caller may put in place of the real parts. */
export interface RuntimeParts {
  /** The S3 client. @default one built from the environment (`AWS_ENDPOINT_URL_S3` honoured) */
  readonly s3Client?: S3Client;
  /** Wraps the store (the benchmark times every S3 call this way). */
  readonly decorateStore?: (store: ObjectStore) => ObjectStore;
  /** Where log lines go. @default standard output */
  readonly logWrite?: (line: string) => void;
  /** Overrides `LOG_LEVEL`. */
  readonly logLevel?: LogLevel;
  /** Receives the metric records. @default EMF lines, written where log lines go */
  readonly metrics?: MetricsSink;
  readonly clock?: Clock;
  /** The fleet gate's DynamoDB client. @default one built from the environment (`AWS_ENDPOINT_URL_DYNAMODB` honoured) */
  readonly dynamoDbClient?: DynamoDBClient;
}

/** Everything a task that writes documents but asks no model needs. */
export interface Runtime {
  readonly config: PipelineConfig;
  /** The core's view of the config. */
  readonly settings: PipelineSettings;
  /** Recorded in every document. */
  readonly modelName: string;
  readonly store: ObjectStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Logs, metrics and traces (Powertools), once per cold start. */
  readonly telemetry: Telemetry;
}

/** Everything a function that asks the model needs. */
export interface ModelRuntime extends Runtime {
  readonly config: Config;
  readonly model: ModelClient;
  readonly modelSettings: ModelSettings;
  /** Each invocation's request gate, over what this environment learnt (`request-gates.ts`). */
  readonly gates: RequestGates;
}

/**
 * The starter's runtime: it reads result metadata (one HEAD per record, to
 * tell a duplicate from work) but no image, and asks no model. It needs
 * the pipeline's settings for the configuration fingerprint, not the
 * endpoint.
 */
export interface StarterRuntime {
  readonly config: StarterConfig;
  /** The core's view of the pipeline's config: prefixes, output bucket, fingerprint. */
  readonly settings: PipelineSettings;
  readonly store: ObjectStore;
  readonly starter: ExecutionStarter;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
}

/** Builds the model client from the config (see `functions/model-client.ts`). */
export type ModelClientFactory = (config: Config) => Promise<ModelClient>;

/**
 * The runtime of a task that asks no model.
 *
 * @throws {import('./core/errors').ConfigError} naming the bad variable.
 */
export async function loadRuntime(env: Env, parts: RuntimeParts = {}): Promise<Runtime> {
  const config = loadPipelineConfig(env);
  return buildRuntime(config, env, parts, await loadTelemetry(env, config.logLevel, parts));
}

/**
 * The runtime of a function that asks the model.
 *
 * @throws {import('./core/errors').ConfigError} naming the bad variable.
 * @example
 * ```ts
 * export const handler = createOnUploadHandler(once(() => loadModelRuntime(process.env, createModelClient)));
 * ```
 */
export async function loadModelRuntime(env: Env, createModel: ModelClientFactory, parts: RuntimeParts = {}): Promise<ModelRuntime> {
  const config = loadConfig(env);
  const telemetry = await loadTelemetry(env, config.logLevel, parts);
  const model = await createModel(config);
  const runtime = buildRuntime(config, env, parts, telemetry);
  const fleet = config.model.fleetGate;
  const fleetStore = fleet
    ? new DynamoDbFleetStore({ client: parts.dynamoDbClient ?? (await createDynamoDbClient(env)), table: fleet.table, key: fleet.key, cap: fleet.capacity })
    : undefined;
  return {
    ...runtime,
    config,
    // With tracing on, every request is a subsegment.
    model: telemetry.tracing ? telemetry.tracing.traceModel(model) : model,
    modelSettings: modelSettingsFrom(config),
    gates: createRequestGates(config, runtime.clock, fleetStore),
  };
}

/**
 * The starter's runtime: the state machine to start, and the pipeline's
 * config (fields, model name and response format, prefixes, output bucket)
 * for the result check. `sfnClient` is for tests.
 *
 * @throws {import('./core/errors').ConfigError} naming the bad variable.
 */
export async function loadStarterRuntime(
  env: Env,
  parts: RuntimeParts & { readonly sfnClient?: SFNClient } = {},
): Promise<StarterRuntime> {
  const config = loadStarterConfig(env);
  const telemetry = await loadTelemetry(env, config.logLevel, parts);
  const { settings, store, logger } = buildRuntime(loadPipelineConfig(env), env, parts, telemetry);
  return {
    config,
    settings,
    store,
    starter: new SfnExecutionStarter(parts.sfnClient ?? (await createSfnClient()), config.stateMachineArn),
    logger,
    telemetry,
  };
}

/** The model settings the core runs with, from the config: built here and nowhere else. */
export function modelSettingsFrom(config: Config): ModelSettings {
  return { timeoutMs: config.model.timeoutMs, maxRetries: config.model.maxRetries, maxTokens: config.model.maxTokens };
}

function buildRuntime(config: PipelineConfig, env: Env, parts: RuntimeParts, telemetry: Telemetry): Runtime {
  const client = parts.s3Client ?? createS3Client(env);
  // With tracing on, every S3 call is a subsegment.
  const s3 = new S3ObjectStore(telemetry.tracing ? telemetry.tracing.captureClient(client) : client);
  return {
    config,
    settings: {
      fields: config.fields,
      inputPrefix: config.inputPrefix,
      outputPrefix: config.outputPrefix,
      ...(config.outputBucket ? { outputBucket: config.outputBucket } : {}),
      maxImageBytes: config.maxImageBytes,
      fingerprint: configFingerprint({
        fields: config.fields,
        modelName: config.model.name,
        // With Bedrock, `bedrock-tool` or `bedrock-prompt`: the way the answer is asked for.
        responseFormat: config.model.answerFormat,
      }),
      reviewThreshold: config.reviewThreshold,
      ...(config.contentCache ? { contentCache: config.contentCache } : {}),
      ...(config.prices ? { prices: config.prices } : {}),
    },
    modelName: config.model.name,
    store: parts.decorateStore ? parts.decorateStore(s3) : s3,
    clock: parts.clock ?? systemClock,
    logger: telemetry.logger,
    telemetry,
  };
}

/** Memoises an async factory for the life of the execution environment (see `core/once.ts`). */
export { once } from './core/once';
