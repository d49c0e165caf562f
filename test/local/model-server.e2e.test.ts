/**
 * The local model end to end with real PP-OCRv4: a Chinese and two English
 * sample labels, every default field asked at once over HTTP, then through
 * the real client and fan-out, then through the real `on-upload` handler
 * and s3rver; the answers compared with the labels' expected values. One
 * server for the file, so the models load once and each image is read once
 * (OCR takes 2-3 s per image on 2 cores).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSharedPools, OpenAIChatClient } from '../../functions/adapters/openai-chat';
import { createS3Client } from '../../functions/adapters/s3-store';
import { answerJsonSchema, SYSTEM_PROMPT } from '../../functions/core/answer';
import { systemClock } from '../../functions/core/clock';
import { extractFields } from '../../functions/core/extract';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { prepareImage } from '../../functions/core/image';
import { createLimit } from '../../functions/core/limit';
import type { Logger } from '../../functions/core/ports';
import { resultDocumentSchema } from '../../functions/core/document';
import type { ResultDocument } from '../../functions/core/document';
import { createModelClient } from '../../functions/model-client';
import { createOnUploadHandler } from '../../functions/on-upload';
import { loadModelRuntime } from '../../functions/runtime';
import { s3ObjectCreatedEvent, startLocalS3 } from '../../local/s3-server';
import { startLocalModelServer } from '../../local/model-server/server';
import type { LocalModelServer } from '../../local/model-server/server';

const sample = (id: string) => ({
  png: readFileSync(new URL(`../../samples/${id}.png`, import.meta.url)),
  expected: JSON.parse(readFileSync(new URL(`../../samples/${id}.expected.json`, import.meta.url), 'utf8')) as Record<string, unknown>,
});

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

let server: LocalModelServer;
beforeAll(async () => {
  server = await startLocalModelServer();
});
afterAll(async () => {
  await closeSharedPools();
  await server?.close();
});

async function askAllFields(png: Buffer): Promise<Record<string, unknown>> {
  const url = `data:image/png;base64,${png.toString('base64')}`;
  const replies = await Promise.all(
    DEFAULT_LABEL_FIELDS.map(async (field) => {
      const res = await fetch(`${server.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: server.modelName,
          temperature: 0,
          max_tokens: 1024,
          messages: [
            { role: 'system', content: SYSTEM_PROMPT },
            { role: 'user', content: [{ type: 'text', text: field.prompt }, { type: 'image_url', image_url: { url } }] },
          ],
          response_format: {
            type: 'json_schema',
            json_schema: { name: field.name, schema: answerJsonSchema(field), strict: true },
          },
        }),
      });
      expect(res.status).toBe(200);
      const completion = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
      expect(completion.choices[0]!.finish_reason).toBe('stop');
      return [field.name, JSON.parse(completion.choices[0]!.message.content).value] as const;
    }),
  );
  return Object.fromEntries(replies);
}

describe('local model server with real OCR', () => {
  it('reads a Chinese GB 15258 label: every field as printed, pictograms inferred', { timeout: 60_000 }, async () => {
    const { png, expected } = sample('zh-methanol');
    const runsBefore = server.stats().ocrRuns;
    expect(await askAllFields(png)).toEqual(expected);
    // Five questions, one OCR run.
    expect(server.stats().ocrRuns - runsBefore).toBe(1);
  });

  it('reads an English GHS label: wrapped statements reassembled', { timeout: 60_000 }, async () => {
    const { png, expected } = sample('en-sodium-hydroxide');
    expect(await askAllFields(png)).toEqual(expected);
  });

  it('reads a run-on English label: spaces OCR dropped put back, statements split at codes and headings, both phones from one line', { timeout: 60_000 }, async () => {
    // Without word spacing PP-OCRv4 reads "POOLCHLORINE", "Do NOTinduce" and "EYES:Rinse" here.
    const { png, expected } = sample('en-sodium-hypochlorite');
    expect(await askAllFields(png)).toEqual(expected);
  });

  it('answers the real model client and fan-out with valid values for every field', { timeout: 60_000 }, async () => {
    const { png, expected } = sample('zh-methanol');
    const deadline = AbortSignal.timeout(50_000);
    const outcomes = await extractFields({
      image: prepareImage(png, 'image/png'),
      fields: DEFAULT_LABEL_FIELDS,
      model: new OpenAIChatClient({ baseUrl: server.baseUrl, model: server.modelName }),
      deadline,
      deadlineAt: Date.now() + 50_000,
      limit: createLimit(DEFAULT_LABEL_FIELDS.length),
      timeoutMs: 30_000,
      maxRetries: 0,
      maxTokens: 1024,
      clock: systemClock,
      logger: silent,
    });
    expect(outcomes.map((o) => [o.name, o.result.status, o.result.attempts])).toEqual(
      DEFAULT_LABEL_FIELDS.map((f) => [f.name, 'ok', 1]),
    );
    expect(Object.fromEntries(outcomes.map((o) => [o.name, o.value]))).toEqual(expected);
    for (const o of outcomes) expect(o.result.usage?.promptTokens).toBeGreaterThan(0);
  });
});

describe('the on-upload handler with the local model and s3rver', () => {
  it('turns a Chinese and an English label in the bucket into complete documents', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fieldlens-local-model-'));
    const s3 = await startLocalS3({ directory: dir, buckets: ['labels'] });
    const client = createS3Client(
      {},
      {
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      },
    );
    try {
      const runtime = loadModelRuntime(
        { MODEL_BASE_URL: server.baseUrl, MODEL_NAME: server.modelName, DEADLINE_MARGIN_MS: '1000', LOG_LEVEL: 'error' },
        createModelClient,
        { s3Client: client, logWrite: () => {} },
      );
      const handler = createOnUploadHandler(() => runtime);
      const ids = ['zh-methanol', 'en-sodium-hydroxide'];
      const records = [];
      for (const id of ids) {
        const body = sample(id).png;
        const key = `incoming/samples/${id}.png`;
        const out = await client.send(new PutObjectCommand({ Bucket: 'labels', Key: key, Body: body, ContentType: 'image/png' }));
        records.push(...s3ObjectCreatedEvent({ bucket: 'labels', key, size: body.length, etag: out.ETag ?? '' }).Records);
      }
      const end = Date.now() + 80_000;
      await handler({ Records: records }, { awsRequestId: 'e2e', getRemainingTimeInMillis: () => end - Date.now() });

      for (const id of ids) {
        const out = await client.send(new GetObjectCommand({ Bucket: 'labels', Key: `results/samples/${id}.png.json` }));
        const doc = JSON.parse(await out.Body!.transformToString()) as ResultDocument;
        expect(resultDocumentSchema.safeParse(doc).success).toBe(true);
        expect(doc.status).toBe('complete');
        expect(doc.model).toEqual({ name: server.modelName });
        expect(doc.fields).toEqual(sample(id).expected);
      }
    } finally {
      client.destroy();
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
