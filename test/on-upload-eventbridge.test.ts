/**
 * The same upload, announced by an S3 notification (URL-encoded key) and by
 * the bucket's EventBridge event (key as it is), through the real handler:
 * both reach the same object and the same result, and the second is a duplicate.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DirectResponse } from '../functions/on-upload';
import { BUCKET, labelHandler, lambdaContext, sqsEvent, startRig, TINY_PNG, type Rig } from './support/harness';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => rig?.close());
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
});

/** The EventBridge "Object Created" event S3 sends for an object. */
function objectCreated(key: string, etag: string, size: number): Record<string, unknown> {
  return {
    version: '0',
    id: 'c4b2b3b7-0000-4000-8000-000000000000',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${BUCKET}`],
    detail: { version: '0', bucket: { name: BUCKET }, object: { key, size, etag, sequencer: '00' }, reason: 'PutObject' },
  };
}

describe('the EventBridge trigger', () => {
  it('processes a key with a space and a plus from the EventBridge event, where the S3 notification encodes it', async () => {
    // Prepare
    const key = 'incoming/eb/a+b c.png';
    const notification = await rig.put(key, TINY_PNG);
    const { eTag, size } = notification.Records[0]!.s3.object;
    expect(notification.Records[0]!.s3.object.key).toBe('incoming/eb/a%2Bb+c.png');
    const handler = rig.handlerWith();

    // Act
    const fromEventBridge = (await handler(objectCreated(key, eTag, size), lambdaContext())) as DirectResponse;
    const fromNotification = (await handler(notification, lambdaContext())) as DirectResponse;

    // Assess
    expect(fromEventBridge.outcomes).toEqual([{ bucket: BUCKET, key, outcome: expect.objectContaining({ kind: 'written', resultKey: 'results/eb/a+b c.png.json' }) }]);
    expect(fromNotification.outcomes).toEqual([{ bucket: BUCKET, key, outcome: expect.objectContaining({ kind: 'skipped', reason: 'duplicate' }) }]);
    expect((await rig.result('results/eb/a+b c.png.json'))?.status).toBe('complete');
    expect(rig.model.requests).toHaveLength(5);
  });

  it('reads an EventBridge event wrapped in an SQS message, and treats a second delivery as a duplicate', async () => {
    const key = 'incoming/eb/queued 1.png';
    const n = await rig.put(key, TINY_PNG);
    const event = objectCreated(key, n.Records[0]!.s3.object.eTag, TINY_PNG.length);
    const handler = rig.handlerWith();

    const first = await handler(sqsEvent([JSON.stringify(event)]), lambdaContext());
    const again = (await handler(event, lambdaContext())) as DirectResponse;

    expect(first).toEqual({ batchItemFailures: [] });
    expect(again.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'duplicate' });
    expect(rig.model.requests).toHaveLength(5);
  });
});
