/**
 * The direct mode end to end with `MODEL_PROVIDER=bedrock`: the real handler,
 * the real model-client factory and Converse adapter, a real S3-compatible
 * server and a Converse test server on loopback (the SDK pointed at it by
 * `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { createBedrockRuntimeClient } from '../functions/adapters/bedrock-converse';
import { createS3Client } from '../functions/adapters/s3-store';
import { resultDocumentSchema, type ResultDocument } from '../functions/core/document';
import { DEFAULT_LABEL_FIELDS } from '../functions/core/fields';
import { createModelClient } from '../functions/model-client';
import { createOnUploadHandler, type OnUploadHandler } from '../functions/on-upload';
import { loadModelRuntime, once, type ModelClientFactory } from '../functions/runtime';
import { s3ObjectCreatedEvent, startLocalS3, type LocalS3 } from '../local/s3-server';
import { answerByField, startBedrockTestServer, type BedrockTestServer } from './support/bedrock-test-server';
import { BUCKET, LABEL_ANSWERS, lambdaContext, localS3Env, distinctPng } from './support/harness';

const MODEL_ID = 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0';
const PROMPTS = Object.fromEntries(DEFAULT_LABEL_FIELDS.map((f) => [f.prompt, f.name]));

let dir: string;
let s3: LocalS3;
let client: S3Client;
let bedrock: BedrockTestServer;
const sdks: BedrockRuntimeClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldlens-bedrock-'));
  s3 = await startLocalS3({ directory: dir, buckets: [BUCKET] });
  client = createS3Client(localS3Env(s3.endpoint), {
    region: 'us-east-1',
    endpoint: s3.endpoint,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  bedrock = await startBedrockTestServer({ prompts: PROMPTS, capacity: 2 });
});
afterAll(async () => {
  for (const sdk of sdks) sdk.destroy();
  await bedrock?.close();
  await s3?.close();
  client?.destroy();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  bedrock.reset();
  bedrock.setHandler(answerByField(LABEL_ANSWERS, { latencyMs: 20 }));
});

/** The real on-upload handler with Bedrock, signed with static fake credentials that never leave loopback. */
function bedrockHandler(extra: Record<string, string> = {}): OnUploadHandler {
  const env = {
    ...localS3Env(s3.endpoint),
    MODEL_PROVIDER: 'bedrock',
    MODEL_ID,
    MODEL_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
    DEADLINE_MARGIN_MS: '500',
    LOG_LEVEL: 'error',
    ...extra,
  };
  // The config's own endpoint and region; static credentials in place of the role's (the env given is not process.env).
  const factory: ModelClientFactory = async (config) => {
    const sdk = await createBedrockRuntimeClient({
      region: config.model.region!,
      endpoint: config.model.endpoint!,
      credentials: { accessKeyId: 'AKIDFIELDLENSTEST', secretAccessKey: 'fieldlens-test-secret' },
    });
    sdks.push(sdk);
    return createModelClient(config, { bedrockClient: sdk });
  };
  return createOnUploadHandler(once(() => loadModelRuntime(env, factory, { s3Client: client, logWrite: () => {} })));
}

async function put(key: string) {
  const body = distinctPng(key);
  const out = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'image/png' }));
  return s3ObjectCreatedEvent({ bucket: BUCKET, key, size: body.length, etag: out.ETag ?? '' });
}

async function result(key: string): Promise<ResultDocument> {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as ResultDocument;
}

describe('the on-upload handler with MODEL_PROVIDER=bedrock', () => {
  it('asks every field over Converse and writes a complete document named for the model id', async () => {
    // Prepare
    const event = await put('incoming/b/a.png');

    // Act
    await bedrockHandler({ MODEL_MAX_CONCURRENCY: '2' })(event, lambdaContext());

    // Assess
    const doc = await result('results/b/a.png.json');
    expect(resultDocumentSchema.safeParse(doc).success).toBe(true);
    expect(doc.status, JSON.stringify(doc.fieldResults).slice(0, 600)).toBe("complete");
    expect(doc.model.name).toBe(MODEL_ID);
    expect(doc.fields).toEqual(LABEL_ANSWERS);
    expect(bedrock.requests.map((r) => r.field).sort()).toEqual(DEFAULT_LABEL_FIELDS.map((f) => f.name).sort());
    expect(bedrock.requests.every((r) => r.modelId === MODEL_ID)).toBe(true);
  });

  it('puts a cache point after the image when MODEL_PROMPT_CACHE is set', async () => {
    // Prepare
    const event = await put('incoming/b/cache.png');

    // Act
    await bedrockHandler({ MODEL_PROMPT_CACHE: 'true', MODEL_MAX_CONCURRENCY: '1' })(event, lambdaContext());

    // Assess
    const doc = await result('results/b/cache.png.json');
    expect(doc.status, JSON.stringify(doc.fieldResults).slice(0, 600)).toBe("complete");
    for (const r of bedrock.requests) {
      const kinds = (r.body.messages[0].content as object[]).map((b) => Object.keys(b)[0]);
      expect(kinds).toEqual(['image', 'cachePoint', 'text']);
    }
  });

  it('completes when more fields are in flight than the endpoint serves: the throttles are retried', async () => {
    // Prepare: 5 fields at once against a capacity of 2.
    const event = await put('incoming/b/throttled.png');

    // Act
    await bedrockHandler({ MODEL_MAX_CONCURRENCY: '5', MODEL_MAX_RETRIES: '10' })(event, lambdaContext(120_000));

    // Assess
    const doc = await result('results/b/throttled.png.json');
    expect(doc.status, JSON.stringify(doc.fieldResults).slice(0, 600)).toBe("complete");
    expect(bedrock.rejected).toBeGreaterThan(0);
    expect(bedrock.maxServing).toBeLessThanOrEqual(2);
  });
});
