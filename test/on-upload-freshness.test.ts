/**
 * Results that stay true, end to end: the real handler, the real adapters,
 * the local S3-compatible server and the OpenAI test server on loopback.
 * Over time and with unlucky deliveries a stored result is either current
 * and correct, or visibly retryable.
 */
import { createHash } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DirectResponse } from '../functions/on-upload';
import { BUCKET, LABEL_ANSWERS, labelHandler, lambdaContext, startRig, TINY_PNG, type Rig } from './support/harness';
import { answerByField, type RecordedRequest } from './support/openai-test-server';

/** How the test server names an image: the sha-256 of its base64 text. */
const imageId = (bytes: Buffer) => createHash('sha256').update(bytes.toString('base64')).digest('hex');

/** A promise and its resolve. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => rig?.close());
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
  rig.logLines.length = 0;
});

const CUSTOM_FIELDS = JSON.stringify([
  { name: 'name', type: 'string', prompt: 'What is the product name?' },
  { name: 'tag', type: 'string[]', prompt: 'List the signal word and pictogram codes.' },
]);

describe('a result knows what produced it', () => {
  it('records the configuration fingerprint in the document and beside source-etag in the metadata', async () => {
    // Prepare
    const event = await rig.put('incoming/fp/a.png', TINY_PNG);

    // Act
    await rig.handlerWith()(event, lambdaContext());

    // Assess
    const doc = (await rig.result('results/fp/a.png.json'))!;
    expect(doc.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const head = await rig.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'results/fp/a.png.json' }));
    expect(head.Metadata).toMatchObject({
      'source-etag': doc.source.etag,
      'config-fingerprint': doc.fingerprint,
      'result-state': 'final',
      'result-runs': '1',
    });
  });

  it('recomputes the same object when FIELDS or MODEL_NAME change, and asks nothing again for the same config', async () => {
    // Prepare
    const event = await rig.put('incoming/fp/b.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const first = (await rig.result('results/fp/b.png.json'))!;
    rig.model.reset();

    // Act
    const sameAgain = (await rig.handlerWith()(event, lambdaContext())) as DirectResponse;
    const callsForSame = rig.model.requests.length;
    await rig.handlerWith({ FIELDS: CUSTOM_FIELDS })(event, lambdaContext());
    const callsForNewFields = rig.model.requests.length - callsForSame;
    const afterFields = (await rig.result('results/fp/b.png.json'))!;
    await rig.handlerWith({ FIELDS: CUSTOM_FIELDS, MODEL_NAME: 'another-model' })(event, lambdaContext());
    const callsForNewModel = rig.model.requests.length - callsForSame - callsForNewFields;

    // Assess
    expect(sameAgain.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'duplicate' });
    expect(callsForSame).toBe(0);
    expect(callsForNewFields).toBe(2);
    expect(Object.keys(afterFields.fields)).toEqual(['name', 'tag']);
    expect(afterFields.fingerprint).not.toBe(first.fingerprint);
    expect(callsForNewModel).toBe(2);
    expect((await rig.result('results/fp/b.png.json'))!.model.name).toBe('another-model');
  });
});

describe('a failure for a passing reason is not final', () => {
  it('writes a retryable partial document, and the next delivery asks only the failed field', async () => {
    // Prepare: pre_notice answers 503 until the server is told otherwise
    let down = true;
    rig.model.setHandler(labelHandler({ pre_notice: () => (down ? { kind: 'status', status: 503 } : { kind: 'answer', value: ['P210'] }) }));
    const event = await rig.put('incoming/retry/a.png', TINY_PNG);
    const handler = rig.handlerWith({ MODEL_MAX_RETRIES: '0' });
    await handler(event, lambdaContext());
    const first = (await rig.result('results/retry/a.png.json'))!;
    const callsBefore = rig.model.requests.length;

    // Act: the endpoint recovers; the same event is delivered again (a retry or a redrive)
    down = false;
    const again = (await handler(event, lambdaContext())) as DirectResponse;

    // Assess
    expect(first).toMatchObject({ status: 'partial', retryable: true, runs: 1 });
    expect(first.fieldResults.pre_notice!.error!.code).toBe('MODEL_SERVER_ERROR');
    const retried = rig.model.requests.slice(callsBefore);
    expect(retried.map((r) => r.field)).toEqual(['pre_notice']);
    expect(again.outcomes[0]!.outcome).toMatchObject({ kind: 'written', kept: ['name', 'tag', 'risk_notice', 'suppliers'] });
    const second = (await rig.result('results/retry/a.png.json'))!;
    expect(second).toMatchObject({ status: 'complete', retryable: false, runs: 2, fields: { pre_notice: ['P210'] } });
    expect(second.fieldResults.name).toEqual(first.fieldResults.name);
  });

  it('fails the invocation after writing a failed retryable document, so Lambda retries it', async () => {
    // Prepare: every field times out at the endpoint
    rig.model.setHandler(() => ({ kind: 'status', status: 500 }));
    const event = await rig.put('incoming/retry/b.png', TINY_PNG);

    // Act
    const act = rig.handlerWith({ MODEL_MAX_RETRIES: '0' })(event, lambdaContext());

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RESULT_RETRYABLE' });
    const doc = (await rig.result('results/retry/b.png.json'))!;
    expect(doc).toMatchObject({ status: 'failed', retryable: true });
  });

  it('keeps a permanent failure final: the same event asks nothing again', async () => {
    rig.model.setHandler(() => ({ kind: 'status', status: 400 }));
    const event = await rig.put('incoming/retry/c.png', TINY_PNG);
    const handler = rig.handlerWith();
    await handler(event, lambdaContext());
    const calls = rig.model.requests.length;

    const again = (await handler(event, lambdaContext())) as DirectResponse;

    expect((await rig.result('results/retry/c.png.json'))!).toMatchObject({ status: 'failed', retryable: false });
    expect(again.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'duplicate' });
    expect(rig.model.requests).toHaveLength(calls);
  });
});

describe('a newer image’s result is never overwritten (local S3 with conditional writes)', () => {
  const V2 = Buffer.concat([TINY_PNG, Buffer.from([0x00])]);
  const answers = answerByField(LABEL_ANSWERS);

  /** Holds every request for `slow` until `held.open()`; answers the rest at once. */
  const holding = (slow: Buffer, held: { promise: Promise<void> }) => async (req: RecordedRequest) => {
    if (req.imageSha256 === imageId(slow)) await held.promise;
    return answers(req);
  };

  it('keeps the newer version’s document when the older version’s invocation finishes last', async () => {
    // Prepare: version 1's model answers are held back
    const held = gate();
    rig.model.setHandler(holding(TINY_PNG, held));
    const v1Event = await rig.put('incoming/race/a.png', TINY_PNG);
    const v1 = rig.handlerWith()(v1Event, lambdaContext());
    await new Promise((r) => setTimeout(r, 200));
    const v2Event = await rig.put('incoming/race/a.png', V2);
    await rig.handlerWith()(v2Event, lambdaContext(60_000, 'req-v2'));

    // Act
    held.open();
    const late = (await v1) as DirectResponse;

    // Assess
    expect(late.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'superseded' });
    const doc = (await rig.result('results/race/a.png.json'))!;
    expect(doc.source.etag).toBe(v2Event.Records[0]!.s3.object.eTag);
    expect(doc.source.bytes).toBe(V2.length);
  });

  it('writes the newer version’s document over the older one when the newer finishes last', async () => {
    // Prepare: version 2's model answers are held back; version 1 finishes first
    const held = gate();
    rig.model.setHandler(holding(V2, held));
    const v1Event = await rig.put('incoming/race/b.png', TINY_PNG);
    await rig.handlerWith()(v1Event, lambdaContext());
    const v2Event = await rig.put('incoming/race/b.png', V2);
    const v2 = rig.handlerWith()(v2Event, lambdaContext(60_000, 'req-v2'));

    // Act
    await new Promise((r) => setTimeout(r, 200));
    held.open();
    await v2;

    // Assess
    const doc = (await rig.result('results/race/b.png.json'))!;
    expect(doc.source.etag).toBe(v2Event.Records[0]!.s3.object.eTag);
  });
});

describe('a duplicate in flight costs nothing (local S3 with conditional writes)', () => {
  it('lets the second of two concurrent deliveries do nothing, and logs why', async () => {
    // Prepare: the first delivery's answers are held while the second arrives
    const held = gate();
    const answers = answerByField(LABEL_ANSWERS);
    rig.model.setHandler(async (req) => {
      await held.promise;
      return answers(req);
    });
    const event = await rig.put('incoming/inflight/a.png', TINY_PNG);
    const first = rig.handlerWith()(event, lambdaContext(60_000, 'req-first'));
    await new Promise((r) => setTimeout(r, 200));

    // Act
    const second = (await rig.handlerWith()(event, lambdaContext(60_000, 'req-second'))) as DirectResponse;
    held.open();
    await first;

    // Assess
    expect(second.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'in-flight' });
    expect(rig.model.requests).toHaveLength(5);
    const lines = rig.logLines.map((l) => JSON.parse(l) as { message: string; requestId?: string; leaseOwner?: string });
    expect(lines).toContainEqual(
      expect.objectContaining({ requestId: 'req-second', leaseOwner: 'req-first', message: expect.stringMatching(/another invocation is working/) }),
    );
    expect((await rig.result('results/inflight/a.png.json'))!.status).toBe('complete');
  });
});

describe('input edges', () => {
  it('writes a rejected INPUT_KEY_INVALID document at the fallback key for a key whose result key would pass 1,024 bytes', async () => {
    // Prepare: a 1,021-byte source key is fine for S3, but its result key
    // (4 bytes longer) is not. Segments stay under 255 bytes for the local
    // server's file system.
    const key = `incoming/${`${'k'.repeat(250)}/`.repeat(4)}aaaa.png`;
    expect(Buffer.byteLength(key)).toBe(1_021);
    const event = await rig.put(key, TINY_PNG);

    // Act
    const res = (await rig.handlerWith()(event, lambdaContext())) as DirectResponse;

    // Assess
    const outcome = res.outcomes[0]!.outcome;
    expect(outcome).toMatchObject({ kind: 'written', resultKey: expect.stringMatching(/^results\/\.fieldlens\/rejected-keys\/[0-9a-f]{64}\.json$/) });
    const doc = (await rig.result((outcome as { resultKey: string }).resultKey))!;
    expect(doc).toMatchObject({ status: 'rejected', source: { key }, error: { code: 'INPUT_KEY_INVALID' } });
    expect(rig.model.requests).toHaveLength(0);
  });
});
