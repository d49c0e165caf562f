import { describe, expect, it } from 'vitest';
import { ErrorCode, FieldlensError } from '../../functions/core/errors';
import { decodeS3Key, readEvent, unquote } from '../../functions/core/events';

/** One S3 record as S3 sends it (key URL-encoded). */
function anS3Record(
  overrides: { key?: string; bucket?: string; eventName?: string; eTag?: string; size?: number } = {},
): Record<string, unknown> {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'eu-west-1',
    eventTime: '2026-01-02T03:04:05.000Z',
    eventName: overrides.eventName ?? 'ObjectCreated:Put',
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'fieldlens',
      bucket: { name: overrides.bucket ?? 'labels', arn: 'arn:aws:s3:::labels' },
      object: {
        key: overrides.key ?? 'incoming/a.jpg',
        size: overrides.size ?? 1234,
        eTag: overrides.eTag ?? '0123456789abcdef',
        sequencer: '0A1B2C3D4E5F678901',
      },
    },
  };
}

function anS3Event(...records: Array<Record<string, unknown>>): { Records: Array<Record<string, unknown>> } {
  return { Records: records };
}

function anSqsMessage(messageId: string, body: unknown): Record<string, unknown> {
  return {
    messageId,
    receiptHandle: 'handle',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {},
    messageAttributes: {},
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:fieldlens',
    awsRegion: 'eu-west-1',
  };
}

describe('decodeS3Key', () => {
  it('turns + into a space', () => {
    expect(decodeS3Key('incoming/my+label.jpg')).toBe('incoming/my label.jpg');
  });

  it('turns %2B into a literal plus', () => {
    expect(decodeS3Key('incoming/a%2Bb.jpg')).toBe('incoming/a+b.jpg');
  });

  it('decodes UTF-8 escapes of Chinese characters', () => {
    expect(decodeS3Key('incoming/%E4%B9%99%E9%86%87.png')).toBe('incoming/乙醇.png');
  });

  it('keeps slashes, whether plain or escaped', () => {
    expect(decodeS3Key('incoming/2026/01/a.jpg')).toBe('incoming/2026/01/a.jpg');
    expect(decodeS3Key('incoming%2F2026%2Fa.jpg')).toBe('incoming/2026/a.jpg');
  });

  it('decodes a mix of spaces, pluses and escapes in one key', () => {
    expect(decodeS3Key('incoming/%E4%B9%99+label%2B1+%281%29.jpg')).toBe('incoming/乙 label+1 (1).jpg');
  });

  it('throws EVENT_INVALID for a broken escape', () => {
    expect(() => decodeS3Key('incoming/%E4%B9.jpg')).toThrow(
      expect.objectContaining({ code: ErrorCode.EVENT_INVALID }),
    );
  });
});

describe('readEvent: direct S3 notifications', () => {
  it('reads one item with every object-created record, keys decoded and ETags unquoted', () => {
    // Prepare
    const event = anS3Event(
      anS3Record({ key: 'incoming/%E4%B9%99+1.jpg', eTag: '"abc"', size: 10 }),
      anS3Record({ key: 'incoming/b.png', eventName: 'ObjectCreated:CompleteMultipartUpload' }),
    );

    // Act
    const items = readEvent(event);

    // Assess
    expect(items).toEqual([
      {
        records: [
          { bucket: 'labels', key: 'incoming/乙 1.jpg', etag: 'abc', size: 10, eventName: 'ObjectCreated:Put' },
          {
            bucket: 'labels',
            key: 'incoming/b.png',
            etag: '0123456789abcdef',
            size: 1234,
            eventName: 'ObjectCreated:CompleteMultipartUpload',
          },
        ],
      },
    ]);
    expect(items[0]!.messageId).toBeUndefined();
  });

  it('skips records that are not object-created', () => {
    const event = anS3Event(
      anS3Record({ eventName: 'ObjectRemoved:Delete', key: 'incoming/gone.jpg' }),
      anS3Record({ key: 'incoming/kept.jpg' }),
    );

    const items = readEvent(event);

    expect(items[0]!.records.map((r) => r.key)).toEqual(['incoming/kept.jpg']);
  });

  it('leaves out etag and size when S3 did not send them', () => {
    // Prepare
    const record = anS3Record();
    const object = (record.s3 as { object: Record<string, unknown> }).object;
    delete object.eTag;
    delete object.size;

    // Act
    const [item] = readEvent(anS3Event(record));

    // Assess
    expect(item!.records[0]).toEqual({ bucket: 'labels', key: 'incoming/a.jpg', eventName: 'ObjectCreated:Put' });
  });

  it('yields no records for the s3:TestEvent', () => {
    const event = { Service: 'Amazon S3', Event: 's3:TestEvent', Time: '2026-01-02T03:04:05.000Z', Bucket: 'labels' };

    expect(readEvent(event)).toEqual([{ records: [] }]);
  });

  it('throws EVENT_INVALID for an event that is not an S3 notification', () => {
    // Act
    const act = (): unknown => readEvent({ detail: 'something else' });

    // Assess
    expect(act).toThrow(FieldlensError);
    expect(act).toThrow(expect.objectContaining({ code: ErrorCode.EVENT_INVALID }));
  });

  it('throws EVENT_INVALID naming the record that lacks a bucket', () => {
    const record = anS3Record();
    delete (record.s3 as Record<string, unknown>).bucket;

    expect(() => readEvent(anS3Event(anS3Record(), record))).toThrow(/S3 record #1: s3\.bucket/);
  });

  it('throws EVENT_INVALID for null and non-objects', () => {
    expect(() => readEvent(null)).toThrow(expect.objectContaining({ code: ErrorCode.EVENT_INVALID }));
    expect(() => readEvent('Records')).toThrow(expect.objectContaining({ code: ErrorCode.EVENT_INVALID }));
  });
});

describe('readEvent: SQS-wrapped S3 notifications', () => {
  it('reads one item per message, keeping its messageId', () => {
    // Prepare
    const event = {
      Records: [
        anSqsMessage('m-1', anS3Event(anS3Record({ key: 'incoming/a.jpg' }))),
        anSqsMessage('m-2', anS3Event(anS3Record({ key: 'incoming/b+c.jpg' }), anS3Record({ key: 'incoming/d.jpg' }))),
      ],
    };

    // Act
    const items = readEvent(event);

    // Assess
    expect(items.map((i) => i.messageId)).toEqual(['m-1', 'm-2']);
    expect(items.map((i) => i.records.map((r) => r.key))).toEqual([
      ['incoming/a.jpg'],
      ['incoming/b c.jpg', 'incoming/d.jpg'],
    ]);
    expect(items.every((i) => i.error === undefined)).toBe(true);
  });

  it('yields no records for an s3:TestEvent inside a message', () => {
    const event = { Records: [anSqsMessage('m-1', { Service: 'Amazon S3', Event: 's3:TestEvent' })] };

    expect(readEvent(event)).toEqual([{ messageId: 'm-1', records: [] }]);
  });

  it('marks a message whose body is not JSON as failed, leaving the others intact', () => {
    // Prepare
    const event = {
      Records: [
        anSqsMessage('m-1', anS3Event(anS3Record({ key: 'incoming/a.jpg' }))),
        anSqsMessage('m-bad', 'this is not json'),
        anSqsMessage('m-3', anS3Event(anS3Record({ key: 'incoming/c.jpg' }))),
      ],
    };

    // Act
    const items = readEvent(event);

    // Assess
    expect(items).toHaveLength(3);
    expect(items[1]!.messageId).toBe('m-bad');
    expect(items[1]!.records).toEqual([]);
    expect(items[1]!.error).toBeInstanceOf(FieldlensError);
    expect(items[1]!.error!.code).toBe(ErrorCode.EVENT_INVALID);
    expect(items[0]!.records[0]!.key).toBe('incoming/a.jpg');
    expect(items[2]!.records[0]!.key).toBe('incoming/c.jpg');
  });

  it('marks a message whose body is JSON but not an S3 event as failed', () => {
    const event = { Records: [anSqsMessage('m-1', { hello: 'world' })] };

    const [item] = readEvent(event);

    expect(item!.error!.code).toBe(ErrorCode.EVENT_INVALID);
  });

  it('marks a message with a badly encoded key as failed', () => {
    const event = { Records: [anSqsMessage('m-1', anS3Event(anS3Record({ key: 'incoming/%ZZ.jpg' })))] };

    const [item] = readEvent(event);

    expect(item!.error!.code).toBe(ErrorCode.EVENT_INVALID);
  });
});

describe('unquote', () => {
  it('removes quotes and a weak-ETag prefix', () => {
    expect(unquote('"abc"')).toBe('abc');
    expect(unquote('W/"abc"')).toBe('abc');
    expect(unquote('abc-2')).toBe('abc-2');
  });
});

/** An EventBridge "Object Created" event as S3 sends it (key not URL-encoded). */
function anEventBridgeEvent(
  overrides: { key?: string; detailType?: string; etag?: string; size?: number; reason?: string } = {},
): Record<string, unknown> {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': overrides.detailType ?? 'Object Created',
    source: 'aws.s3',
    account: '123456789012',
    time: '2026-01-02T03:04:05Z',
    region: 'eu-west-1',
    resources: ['arn:aws:s3:::labels'],
    detail: {
      version: '0',
      bucket: { name: 'labels' },
      object: {
        key: overrides.key ?? 'incoming/a.jpg',
        size: overrides.size ?? 1234,
        etag: overrides.etag ?? '0123456789abcdef',
        sequencer: '0A1B2C3D4E5F678901',
      },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '123456789012',
      reason: overrides.reason ?? 'PutObject',
    },
  };
}

describe('readEvent: EventBridge Object Created events', () => {
  it('reads the bucket, the key as it is, the ETag and the size', () => {
    // Act
    const items = readEvent(anEventBridgeEvent({ etag: '"abc123"', size: 42 }));

    // Assess
    expect(items).toEqual([
      { records: [{ bucket: 'labels', key: 'incoming/a.jpg', etag: 'abc123', size: 42, eventName: 'ObjectCreated:PutObject' }] },
    ]);
  });

  it.each([
    ['a space stays a space', 'incoming/my label.jpg'],
    ['a plus stays a plus', 'incoming/a+b.jpg'],
    ['a percent sign is not an escape', 'incoming/100%25 off.jpg'],
    ['Chinese characters arrive as they are', 'incoming/乙醇.png'],
  ])('does not URL-decode the key: %s', (_name, key) => {
    const [item] = readEvent(anEventBridgeEvent({ key }));

    expect(item!.records[0]!.key).toBe(key);
  });

  it('decodes the same key differently from an S3 notification, which URL-encodes it', () => {
    // Prepare: the object "incoming/a+b c.jpg", as each source spells its key
    const notification = anS3Event(anS3Record({ key: 'incoming/a%2Bb+c.jpg' }));
    const eventBridge = anEventBridgeEvent({ key: 'incoming/a+b c.jpg' });

    // Act
    const fromNotification = readEvent(notification)[0]!.records[0]!.key;
    const fromEventBridge = readEvent(eventBridge)[0]!.records[0]!.key;

    // Assess
    expect(fromNotification).toBe('incoming/a+b c.jpg');
    expect(fromEventBridge).toBe('incoming/a+b c.jpg');
  });

  it('yields no records for other S3 detail types', () => {
    expect(readEvent(anEventBridgeEvent({ detailType: 'Object Deleted' }))).toEqual([{ records: [] }]);
  });

  it('reads an event wrapped in an SQS message, keeping its messageId', () => {
    // Act
    const items = readEvent({ Records: [anSqsMessage('m-1', anEventBridgeEvent({ key: 'incoming/x y.jpg' }))] });

    // Assess
    expect(items).toHaveLength(1);
    expect(items[0]!.messageId).toBe('m-1');
    expect(items[0]!.records[0]!.key).toBe('incoming/x y.jpg');
  });

  it('throws EVENT_INVALID naming what is missing from the detail', () => {
    const event = anEventBridgeEvent();
    delete (event.detail as Record<string, unknown>).bucket;

    expect(() => readEvent(event)).toThrow(/S3 EventBridge event: detail\.bucket/);
  });
});
