/**
 * A direct-mode rig for integration tests: a real S3-compatible server and a
 * real OpenAI-compatible test server on loopback, and the real handler wired
 * to them through the real adapters.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'undici';
import { createS3Client } from '../../functions/adapters/s3-store';
import type { ResultDocument } from '../../functions/core/document';
import { createModelClient } from '../../functions/model-client';
import { createOnUploadHandler, type HandlerContext, type OnUploadHandler } from '../../functions/on-upload';
import { loadModelRuntime, once, type ModelClientFactory, type RuntimeParts } from '../../functions/runtime';
import { s3ObjectCreatedEvent, startLocalS3, type LocalS3, type S3NotificationEvent } from '../../local/s3-server';
import {
  answerByField,
  startOpenAITestServer,
  type Behaviour,
  type OpenAITestServer,
  type RecordedRequest,
  type TestServerOptions,
} from './openai-test-server';

/** A 1×1 PNG: the smallest real image. */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

/**
 * A PNG whose bytes are its own (trailing bytes after IEND, which decoders
 * ignore): the content cache keys on the bytes, so images meant to be
 * answered by the model each need different ones.
 */
export const distinctPng = (tag: string): Buffer => Buffer.concat([TINY_PNG, Buffer.from(tag)]);

export const BUCKET = 'labels';

/** The model's answers for a label, as the direct and Step Functions tests expect them back. */
export const LABEL_ANSWERS = {
  name: '乙醇',
  tag: ['危险', 'GHS02'],
  risk_notice: ['H225 高度易燃液体和蒸气'],
  pre_notice: ['P210 远离热源、热表面、火花、明火和其他点火源。禁止吸烟。'],
  suppliers: { name: '示例化工有限公司', address: '上海市', phone: '021-12345678', emergency_phone: '0532-83889090' },
};

/** Answers the label set, except for `overrides` keyed by field (called per attempt). */
export function labelHandler(overrides: Record<string, (req: RecordedRequest) => Behaviour> = {}, latencyMs = 0) {
  const base = answerByField(LABEL_ANSWERS, { latencyMs });
  return (req: RecordedRequest): Behaviour | Promise<Behaviour> =>
    req.field && overrides[req.field] ? overrides[req.field]!(req) : base(req);
}

/** Credentials and endpoint for the local server; never real AWS. */
export function localS3Env(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  };
}

export interface Rig {
  readonly s3: LocalS3;
  readonly model: OpenAITestServer;
  readonly client: S3Client;
  readonly logLines: string[];
  /** Rebuilds the handler with extra environment (FIELDS, MODEL_TIMEOUT_MS, …). */
  handlerWith(env?: Record<string, string>, parts?: Pick<RuntimeParts, 'dynamoDbClient'>): OnUploadHandler;
  /** Uploads an object and returns the real-S3-shaped event for it. */
  put(key: string, body: Buffer | string, contentType?: string): Promise<S3NotificationEvent>;
  /** Reads a result document, or `undefined` when there is none. */
  result(key: string, bucket?: string): Promise<ResultDocument | undefined>;
  close(): Promise<void>;
}

/** A Lambda context with `remainingMs` left. */
export function lambdaContext(remainingMs = 60_000, requestId = 'req-1'): HandlerContext {
  const end = Date.now() + remainingMs;
  return { awsRequestId: requestId, getRemainingTimeInMillis: () => end - Date.now() };
}

export async function startRig(options: { model?: TestServerOptions; buckets?: string[] } = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'fieldlens-test-'));
  const s3 = await startLocalS3({ directory: dir, buckets: options.buckets ?? [BUCKET] });
  const model = await startOpenAITestServer(options.model);
  const env = localS3Env(s3.endpoint);
  const client = createS3Client(env, {
    region: env.AWS_REGION,
    endpoint: s3.endpoint,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const pools: Pool[] = [];
  const logLines: string[] = [];

  // Each handler gets its own pool, so `close` can end every connection.
  const pooledModel: ModelClientFactory = (config) => {
    const pool = new Pool(new URL(config.model.baseUrl).origin, { connections: config.model.maxConcurrency });
    pools.push(pool);
    return createModelClient(config, { dispatcher: pool });
  };
  const handlerWith = (extra: Record<string, string> = {}, parts: Pick<RuntimeParts, 'dynamoDbClient'> = {}): OnUploadHandler => {
    // The tests upload the same few images under many keys; the content
    // cache would answer them from each other, so it is on only where asked.
    const env = {
      MODEL_BASE_URL: model.baseUrl,
      MODEL_NAME: 'test-model',
      DEADLINE_MARGIN_MS: '500',
      LOG_LEVEL: 'debug',
      CONTENT_CACHE: 'off',
      ...extra,
    };
    return createOnUploadHandler(
      once(() => loadModelRuntime(env, pooledModel, { ...parts, s3Client: client, logWrite: (l) => void logLines.push(l) })),
    );
  };

  return {
    s3,
    model,
    client,
    logLines,
    handlerWith,
    async put(key, body, contentType = 'image/png') {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      const out = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes, ContentType: contentType }));
      return s3ObjectCreatedEvent({ bucket: BUCKET, key, size: bytes.length, etag: out.ETag ?? '' });
    },
    async result(key, bucket = BUCKET) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return JSON.parse(await out.Body!.transformToString()) as ResultDocument;
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    async close() {
      await Promise.all(pools.map((p) => p.destroy()));
      await model.close();
      await s3.close();
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Wraps S3 events into an SQS event, one message each. */
export function sqsEvent(bodies: Array<S3NotificationEvent | string>): unknown {
  return {
    Records: bodies.map((b, i) => ({
      messageId: `msg-${i}`,
      receiptHandle: `rh-${i}`,
      body: typeof b === 'string' ? b : JSON.stringify(b),
      attributes: {},
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:fieldlens-input',
      awsRegion: 'us-east-1',
    })),
  };
}
