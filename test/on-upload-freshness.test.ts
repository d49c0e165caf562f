/**
 * Results that stay true, end to end: the real handler, the real adapters,
 * the local S3-compatible server and the OpenAI test server on loopback.
 * Over time and with unlucky deliveries a stored result is either current
 * and correct, or visibly retryable.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DirectResponse } from '../functions/on-upload';
import { BUCKET, labelHandler, lambdaContext, startRig, TINY_PNG, type Rig } from './support/harness';

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
