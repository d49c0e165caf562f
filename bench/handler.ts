/**
 * The real on-upload handler, wired by `functions/runtime.ts` with three
 * parts of the benchmark's own: a connection pool it closes afterwards
 * (never the process-wide one), a store that times every S3 call, and
 * warnings on stderr so they cannot mix with the tables.
 *
 * No local servers are imported here: the memory benchmark runs this module
 * alone in a child process, and its peak RSS must be the handler's own.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Pool } from 'undici';
import type { PromptLayout } from '../functions/adapters/openai-chat';
import type { Config } from '../functions/config';
import { slowestField, type ResultDocument } from '../functions/core/document';
import type { FieldSet } from '../functions/core/fields';
import type { ModelClient, ObjectStore } from '../functions/core/ports';
import { createModelClient } from '../functions/model-client';
import { createOnUploadHandler, type DirectResponse, type OnUploadHandler } from '../functions/on-upload';
import { loadModelRuntime } from '../functions/runtime';
import type { MetricsSink } from '../functions/telemetry/summary';
import { s3Times, TimingObjectStore, type S3Times } from './timing-store';

/** The model endpoint: the test server, or a real one from `MODEL_BASE_URL`. */
export interface ModelEndpoint {
  readonly baseUrl: string;
  readonly name: string;
  readonly apiKey?: string;
  /** `MODEL_RESPONSE_FORMAT`; unset keeps the function's default. */
  readonly responseFormat?: string;
}

export interface BenchHandlerOptions {
  readonly s3: S3Client;
  readonly model: ModelEndpoint;
  readonly fields: FieldSet;
  /** `MODEL_MAX_CONCURRENCY`; unset keeps the function's default (the number of fields). */
  readonly maxConcurrency?: number;
  /** `MAX_IMAGE_BYTES`; unset keeps the function's default. */
  readonly maxImageBytes?: number;
  /** The Lambda timeout the invocation pretends to have. @default 900 000 (Lambda's maximum) */
  readonly timeoutMs?: number;
  /** More function environment (e.g. `MODEL_TIMEOUT_MS`), set over the values above. */
  readonly env?: Readonly<Record<string, string>>;
  /** Wraps the store, under the timing store (the soak fails result writes this way). */
  readonly decorateStore?: (store: ObjectStore) => ObjectStore;
  /** Wraps the model client (the soak records which invocation made each request). */
  readonly decorateModel?: (model: ModelClient) => ModelClient;
  /** Where the handler's log lines go. @default standard error */
  readonly logWrite?: (line: string) => void;
  /** Receives the handler's metric records (the soak prints their summary). @default dropped */
  readonly metrics?: MetricsSink;
  /**
   * The content cache (`CONTENT_CACHE`). Off unless asked: the benchmark
   * sends the same image many times to measure the model requests.
   * @default false
   */
  readonly contentCache?: boolean;
  /** The request layout; unset: the client's default, built as the function builds it. */
  readonly promptLayout?: PromptLayout;
  /** The fleet gate's DynamoDB client (with `FLEET_GATE_*` in `env`). */
  readonly dynamoDbClient?: DynamoDBClient;
}

/** One image through the handler. */
export interface Invocation {
  /** Handler wall time: event in → result written. */
  readonly wallMs: number;
  readonly document: ResultDocument;
  readonly s3: S3Times;
}

export interface BenchHandler {
  readonly config: Config;
  /** The handler itself, for a caller that passes its own context and handles its failures (the soak). */
  readonly handler: OnUploadHandler;
  /** Runs the handler on one S3 event and returns the document it wrote. */
  invoke(event: unknown): Promise<Invocation>;
  close(): Promise<void>;
}

/** The function's environment for these options, as the stack would set it. */
export function functionEnv(o: BenchHandlerOptions): Record<string, string> {
  return {
    MODEL_BASE_URL: o.model.baseUrl,
    MODEL_NAME: o.model.name,
    ...(o.model.apiKey ? { MODEL_API_KEY: o.model.apiKey } : {}),
    ...(o.model.responseFormat ? { MODEL_RESPONSE_FORMAT: o.model.responseFormat } : {}),
    ...(o.maxConcurrency !== undefined ? { MODEL_MAX_CONCURRENCY: String(o.maxConcurrency) } : {}),
    ...(o.maxImageBytes !== undefined ? { MAX_IMAGE_BYTES: String(o.maxImageBytes) } : {}),
    FIELDS: JSON.stringify(o.fields),
    CONTENT_CACHE: o.contentCache ? 'on' : 'off',
    LOG_LEVEL: 'warn',
    ...o.env,
  };
}

/**
 * Builds a handler over `createOnUploadHandler`, configured through
 * `loadConfig` exactly as in Lambda.
 */
export async function createBenchHandler(o: BenchHandlerOptions): Promise<BenchHandler> {
  let pool: Pool | undefined;
  let store: TimingObjectStore | undefined;
  const runtime = await loadModelRuntime(
    functionEnv(o),
    (config) => {
      pool = new Pool(new URL(config.model.baseUrl).origin, { connections: config.model.maxConcurrency, keepAliveTimeout: 30_000 });
      const model = createModelClient(config, { dispatcher: pool, ...(o.promptLayout ? { promptLayout: o.promptLayout } : {}) });
      return o.decorateModel ? model.then(o.decorateModel) : model;
    },
    {
      s3Client: o.s3,
      decorateStore: (s) => (store = new TimingObjectStore(o.decorateStore ? o.decorateStore(s) : s)),
      logWrite: o.logWrite ?? ((line) => void process.stderr.write(line)),
      // Records are still derived (their cost is part of every invocation); no EMF line is printed.
      metrics: o.metrics ?? { publish: () => undefined },
      ...(o.dynamoDbClient ? { dynamoDbClient: o.dynamoDbClient } : {}),
    },
  );
  const { config } = runtime;
  const handler = createOnUploadHandler(() => Promise.resolve(runtime));
  const timeoutMs = o.timeoutMs ?? 900_000;

  return {
    config,
    handler,
    async invoke(event) {
      store!.take();
      const end = Date.now() + timeoutMs;
      const context = { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => Math.max(0, end - Date.now()) };
      const started = performance.now();
      const response = (await handler(event, context)) as DirectResponse;
      const wallMs = performance.now() - started;
      const outcome = response.outcomes[0]?.outcome;
      if (!outcome || outcome.kind !== 'written') {
        throw new Error(`expected the handler to write a result, got ${JSON.stringify(outcome ?? response)}`);
      }
      return { wallMs, document: outcome.document, s3: s3Times(store!.take()) };
    },
    close: async () => pool?.close(),
  };
}

/** The slowest field's own latency in a document (its `fieldResults` latencyMs), 0 when it has none. */
export function slowestFieldMs(doc: ResultDocument): number {
  return slowestField(doc)?.latencyMs ?? 0;
}
