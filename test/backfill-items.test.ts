/**
 * The backfill's item handler end to end: the real handler and adapters, a
 * real S3-compatible server and a real OpenAI-compatible server on loopback.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_FIELDS } from '../functions/core/fields';
import { ErrorCode } from '../functions/core/errors';
import { createHash } from 'node:crypto';
import { backfillHandlerFor, batchesOf, listedObjects } from './support/backfill-rig';
import { BUCKET, labelHandler, lambdaContext, startRig, distinctPng, type Rig } from './support/harness';
import { startOpenAITestServer } from './support/openai-test-server';
import { emfMetrics, sumOf } from './support/emf';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoDbClient } from '../functions/adapters/dynamodb-fleet-store';
import { DYNAMODB_TEST_CONFIG, startDynamoDb } from './support/dynamodb-server';

let rig: Rig;
const closers: Array<() => Promise<void>> = [];
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  for (const c of closers) await c();
  await rig?.close();
});
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
});

function handlerWith(env: Record<string, string> = {}) {
  const { handler, close } = backfillHandlerFor(rig, env);
  closers.push(close);
  return handler;
}

/** An endpoint that serves 2 requests at once and refuses the rest (429, retry-after-ms 10), closed after the file. */
async function twoAtATime() {
  const server = await startOpenAITestServer({
    capacity: 2,
    overCapacity: 'reject',
    retryAfterMs: 10,
    defaultLatencyMs: 20,
    handler: () => ({ kind: 'answer', value: 'an answer' }),
  });
  closers.push(() => server.close());
  return server;
}

/** Puts `count` images under `prefix` and lists them as the ItemReader would. */
async function imagesUnder(prefix: string, count: number) {
  for (let i = 0; i < count; i++) await rig.put(`${prefix}${i}.png`, distinctPng(`${prefix}${i}`));
  return listedObjects(rig.client, prefix);
}

describe('a backfill batch', () => {
  it('computes every object of the batch that has no result, then a second run asks the model nothing', async () => {
    // Prepare
    const listed = await imagesUnder('incoming/first/', 4);
    const [batch] = batchesOf(listed, 10);
    const handler = handlerWith();

    // Act
    const first = await handler(batch, lambdaContext());
    const requestsAfterFirst = rig.model.requests.length;
    const second = await handler(batch, lambdaContext());

    // Assess
    expect(first.Items).toEqual([]);
    expect(first.tally).toMatchObject({ items: 4, outcomes: { 'written:complete': 4 }, modelCalls: 4 * DEFAULT_LABEL_FIELDS.length });
    expect(requestsAfterFirst).toBe(4 * DEFAULT_LABEL_FIELDS.length);
    for (let i = 0; i < 4; i++) expect((await rig.result(`results/first/${i}.png.json`))?.status).toBe('complete');
    expect(second.tally).toEqual({ items: 4, outcomes: { current: 4 }, modelCalls: 0, failures: [] });
    expect(rig.model.requests.length).toBe(requestsAfterFirst);
  });

  it('publishes each computed object\'s metrics as an upload does: documents, fields, latencies', async () => {
    // Prepare
    const listed = await imagesUnder('incoming/metrics/', 2);
    const [batch] = batchesOf(listed, 10);
    const handler = handlerWith();
    rig.logLines.length = 0;

    // Act
    await handler(batch, lambdaContext());

    // Assess
    const metrics = emfMetrics(rig.logLines);
    const fields = DEFAULT_LABEL_FIELDS.length;
    expect(sumOf(metrics, 'Documents', { status: 'complete' })).toBe(2);
    expect(sumOf(metrics, 'Fields', { outcome: 'ok' })).toBe(2 * fields);
    expect(metrics.filter((m) => m.name === 'FieldLatency').flatMap((m) => m.values)).toHaveLength(2 * fields);
    expect(metrics.filter((m) => m.name === 'SlowestFieldLatency').flatMap((m) => m.values)).toHaveLength(2);
    expect(sumOf(metrics, 'ModelRequests')).toBe(2 * fields);
  });

  it('recomputes results a changed field set made stale, and leaves them with --only missing', async () => {
    // Prepare
    const listed = await imagesUnder('incoming/stale/', 2);
    const [batch] = batchesOf(listed, 10);
    await handlerWith()(batch, lambdaContext());
    const twoFields = JSON.stringify([
      { name: 'name', prompt: 'The product name on the label.', type: 'string' },
      { name: 'tag', prompt: 'The signal word and GHS pictogram codes.', type: 'string[]' },
    ]);
    const changed = handlerWith({ FIELDS: twoFields });
    rig.model.reset();

    // Act
    const onlyMissing = await changed(batchesOf(listed, 10, { only: 'missing' })[0], lambdaContext());
    const requestsWithOnlyMissing = rig.model.requests.length;
    const all = await changed(batch, lambdaContext());

    // Assess
    expect(onlyMissing.tally.outcomes).toEqual({ 'not-selected:stale': 2 });
    expect(requestsWithOnlyMissing).toBe(0);
    expect(all.tally.outcomes).toEqual({ 'written:complete': 2 });
    expect(rig.model.requests.length).toBe(2 * 2);
    const doc = await rig.result('results/stale/0.png.json');
    expect(Object.keys(doc!.fields)).toEqual(['name', 'tag']);
  });

  it('asks a retryable document’s failed field again, and only that one, with --only retryable', async () => {
    // Prepare: suppliers fails for a passing reason on the first run
    const listed = await imagesUnder('incoming/retry/', 1);
    rig.model.setHandler(labelHandler({ suppliers: () => ({ kind: 'status', status: 503 }) }));
    const handler = handlerWith({ MODEL_MAX_RETRIES: '0' });
    const first = await handler(batchesOf(listed, 10)[0], lambdaContext());
    rig.model.reset();
    rig.model.setHandler(labelHandler());

    // Act
    const second = await handler(batchesOf(listed, 10, { only: 'retryable' })[0], lambdaContext());

    // Assess
    expect(first.tally.outcomes).toEqual({ 'written:partial:retryable': 1 });
    expect(second.tally.outcomes).toEqual({ 'written:complete': 1 });
    expect(rig.model.requests.map((r) => r.field)).toEqual(['suppliers']);
    expect((await rig.result('results/retry/0.png.json'))?.runs).toBe(2);
  });

  it('in a dry run counts what it would compute and the calls, writing and asking nothing', async () => {
    // Prepare
    const listed = await imagesUnder('incoming/dry/', 3);

    // Act
    const out = await handlerWith()(batchesOf(listed, 10, { dryRun: true })[0], lambdaContext());

    // Assess
    expect(out.tally).toMatchObject({ items: 3, outcomes: { 'would-compute:missing': 3 }, modelCalls: 3 * DEFAULT_LABEL_FIELDS.length });
    expect(rig.model.requests).toHaveLength(0);
    expect(await rig.result('results/dry/0.png.json')).toBeUndefined();
  });

  it('keeps items outside the run’s prefix and under the output prefix out, as an upload would', async () => {
    const out = await handlerWith()(
      batchesOf([{ Key: 'results/x.png.json', ETag: '"e"', Size: 1 }, { Key: 'elsewhere/x.png', ETag: '"e"', Size: 1 }], 10)[0],
      lambdaContext(),
    );

    expect(out.tally.outcomes).toEqual({ 'skipped:under-output-prefix': 1, 'skipped:outside-input-prefix': 1 });
  });

  it('fails the batch as a whole only when every one of its objects failed', async () => {
    // Prepare: results go to a bucket that does not exist, so no lease and no document can be written
    const listed = await imagesUnder('incoming/broken/', 2);
    const handler = handlerWith({ OUTPUT_BUCKET: 'no-such-bucket' });

    // Act
    const act = handler(batchesOf(listed, 10)[0], lambdaContext());

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'BackfillBatchError', code: ErrorCode.BACKFILL_BATCH_FAILED });
    await expect(act).rejects.toThrow(/every item of the batch failed \(2\); the first, incoming\/broken\/0\.png/);
  });

  it('refuses an event that is not a batch, naming what is wrong', async () => {
    await expect(handlerWith()({ Items: 'nope', BatchInput: { bucket: BUCKET } }, lambdaContext())).rejects.toMatchObject({
      code: ErrorCode.EVENT_INVALID,
      message: expect.stringContaining('backfill batch: Items'),
    });
  });
});

describe('a backfill batch against an endpoint that throttles', () => {
  it('sends fewer requests into a full endpoint as the batch goes on: the in-flight limit learns from its 429s', async () => {
    // Prepare: an endpoint serving 2 requests at once and refusing the rest; 8 fields under a cap of 8
    const throttling = await twoAtATime();
    const fields = JSON.stringify(Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`, prompt: `Question ${i} about the label.`, type: 'string' })));
    const handler = handlerWith({ MODEL_BASE_URL: throttling.baseUrl, MODEL_MAX_CONCURRENCY: '8', FIELDS: fields });
    const images = [0, 1, 2].map((i) => distinctPng(`incoming/aimd/${i}`));
    for (const [i, png] of images.entries()) await rig.put(`incoming/aimd/${i}.png`, png);
    const [batch] = batchesOf(await listedObjects(rig.client, 'incoming/aimd/'), 10);

    // Act
    const out = await handler(batch, lambdaContext());

    // Assess: the first image sent all 8 into a 2-request endpoint (6 refused
    // at once); the limit it learnt made the next images send fewer. A plain
    // limit of 8 would have had 6 refused for each.
    expect(out.tally.outcomes).toEqual({ 'written:complete': 3 });
    const sha = (png: Buffer) => createHash('sha256').update(png.toString('base64')).digest('hex');
    const refusedFor = (png: Buffer) => throttling.requests.filter((r) => r.rejectedByCapacity && r.imageSha256 === sha(png)).length;
    const [first, second, third] = images.map(refusedFor);
    expect(first).toBeGreaterThanOrEqual(6);
    expect(second).toBeLessThan(first!);
    expect(third).toBeLessThan(first!);
  });
});

describe('backfill batches with the fleet gate', () => {
  it('keeps two environments\' batches to what the endpoint serves, and leaves no slot held', async () => {
    // Prepare: an endpoint serving 2 at once and refusing the rest; the gate is told 8; two environments, 4 fields each
    const throttling = await twoAtATime();
    const dynamo = await startDynamoDb();
    closers.push(() => dynamo.close());
    await dynamo.createTable('backfill-fleet');
    const clients = await Promise.all([0, 1].map(() => createDynamoDbClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }, DYNAMODB_TEST_CONFIG)));
    closers.push(async () => clients.forEach((c) => c.destroy()));
    const fields = JSON.stringify(Array.from({ length: 4 }, (_, i) => ({ name: `f${i}`, prompt: `Question ${i} about the label.`, type: 'string' })));
    const env = { MODEL_BASE_URL: throttling.baseUrl, FIELDS: fields, FLEET_GATE_TABLE: 'backfill-fleet', FLEET_GATE_CAPACITY: '8', FLEET_GATE_POLL_MS: '10' };
    const handlers = clients.map((dynamoDbClient) => {
      const { handler, close } = backfillHandlerFor(rig, env, { dynamoDbClient });
      closers.push(close);
      return handler;
    });
    const batches = batchesOf(await imagesUnder('incoming/fleet-backfill/', 6), 3);

    // Act: the two batches at once, one per environment
    const outs = await Promise.all(batches.map((batch, i) => handlers[i]!(batch, lambdaContext(60_000, `batch-${i}`))));

    // Assess
    expect(outs.map((o) => o.tally.outcomes)).toEqual([{ 'written:complete': 3 }, { 'written:complete': 3 }]);
    expect(throttling.maxServing).toBeLessThanOrEqual(2);
    const item = await clients[0]!.send(
      new GetItemCommand({ TableName: 'backfill-fleet', Key: { pk: { S: `endpoint#${throttling.baseUrl}#test-model` } } }),
    );
    expect(item.Item?.holders?.M).toEqual({});
    expect(Number(item.Item?.epoch?.N)).toBeGreaterThanOrEqual(1);
  });
});
