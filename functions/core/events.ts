/**
 * Reading the events that start fieldlens: S3 event notifications and the
 * bucket's EventBridge "Object Created" events, each delivered directly or
 * wrapped in SQS messages. Pure: no SDK types, tolerant of the fields S3
 * adds over time, strict about the ones we use.
 *
 * The two shapes differ where it matters: an S3 notification URL-encodes
 * the key (`+` for a space), an EventBridge event carries it as it is.
 */
import * as z from 'zod';
import { ErrorCode, FieldlensError } from './errors';

/** One object-created record, key decoded. */
export interface S3ObjectEvent {
  readonly bucket: string;
  /** Decoded key (S3 sends it URL-encoded with `+` for a space). */
  readonly key: string;
  /** ETag from the event, quotes removed, when S3 sent one. */
  readonly etag?: string;
  /** Size from the event, when S3 sent one. */
  readonly size?: number;
  readonly eventName: string;
}

/** A batch item: the SQS message id it came from, if any, and its records. */
export interface EventItem {
  /** Set for SQS-wrapped events: reported back on failure for a partial batch response. */
  readonly messageId?: string;
  readonly records: readonly S3ObjectEvent[];
  /** Set when this SQS message's body is not a usable S3 event (it is reported as failed). */
  readonly error?: FieldlensError;
}

const s3RecordSchema = z.looseObject({
  eventSource: z.string().optional(),
  eventName: z.string(),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      eTag: z.string().optional(),
    }),
  }),
});
const s3EventSchema = z.looseObject({ Records: z.array(z.unknown()) });

/** The EventBridge events S3 sends for a bucket with EventBridge notifications on. */
const eventBridgeSchema = z.looseObject({
  source: z.literal('aws.s3'),
  'detail-type': z.string(),
  detail: z.looseObject({
    bucket: z.looseObject({ name: z.string().min(1) }),
    object: z.looseObject({
      key: z.string().min(1),
      size: z.number().int().nonnegative().optional(),
      etag: z.string().optional(),
      sequencer: z.string().optional(),
    }),
    reason: z.string().optional(),
  }),
});

/** The EventBridge detail type of a new object; the others (deleted, restored, …) are not ours. */
export const EVENTBRIDGE_OBJECT_CREATED = 'Object Created';

/**
 * Decodes a key as S3 event notifications encode it: form-URL-encoding, so
 * `+` is a space and a literal plus arrives as `%2B`.
 */
export function decodeS3Key(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch (err) {
    throw new FieldlensError(ErrorCode.EVENT_INVALID, `object key is not valid URL encoding: ${encoded}`, {
      cause: err,
    });
  }
}

/**
 * Splits an incoming event into items: one per SQS message, or one for a
 * direct S3 notification or EventBridge event. The `s3:TestEvent` S3 sends
 * when a notification is configured, records that are not object-created
 * and EventBridge events of another detail type yield no records.
 *
 * @throws {FieldlensError} `EVENT_INVALID` for a direct event of unknown shape.
 */
export function readEvent(event: unknown): EventItem[] {
  if (isSqsEvent(event)) {
    // One bad message must not sink the batch: it is reported as failed on
    // its own and ends in the queue's dead-letter queue.
    return event.Records.map((m) => {
      try {
        return { messageId: m.messageId, records: readS3Body(m.body) };
      } catch (err) {
        const error =
          err instanceof FieldlensError ? err : new FieldlensError(ErrorCode.EVENT_INVALID, String(err), { cause: err });
        return { messageId: m.messageId, records: [], error };
      }
    });
  }
  return [{ records: readS3Notification(event) }];
}

function isSqsEvent(event: unknown): event is { Records: Array<{ messageId: string; body: string }> } {
  const records = (event as { Records?: unknown })?.Records;
  return (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((r) => (r as { eventSource?: unknown })?.eventSource === 'aws:sqs')
  );
}

function readS3Body(body: string): S3ObjectEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new FieldlensError(ErrorCode.EVENT_INVALID, 'SQS message body is not JSON', { cause: err });
  }
  return readS3Notification(parsed);
}

function readS3Notification(event: unknown): S3ObjectEvent[] {
  if ((event as { source?: unknown })?.source === 'aws.s3') return readEventBridgeEvent(event);
  if ((event as { Event?: unknown })?.Event === 's3:TestEvent') return [];
  const outer = s3EventSchema.safeParse(event);
  if (!outer.success) {
    throw new FieldlensError(ErrorCode.EVENT_INVALID, 'neither an S3 event notification (no "Records" array) nor an S3 EventBridge event (source "aws.s3")');
  }
  const out: S3ObjectEvent[] = [];
  outer.data.Records.forEach((raw, i) => {
    const r = s3RecordSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new FieldlensError(
        ErrorCode.EVENT_INVALID,
        `S3 record #${i}: ${issue.path.join('.')} ${issue.message}`,
      );
    }
    if (!r.data.eventName.startsWith('ObjectCreated:')) return;
    const { bucket, object } = r.data.s3;
    out.push({
      bucket: bucket.name,
      key: decodeS3Key(object.key),
      eventName: r.data.eventName,
      ...(object.eTag ? { etag: unquote(object.eTag) } : {}),
      ...(object.size !== undefined ? { size: object.size } : {}),
    });
  });
  return out;
}

/**
 * An EventBridge "Object Created" event: one record, the key as it is (not
 * URL-encoded). `eventName` is given the S3 notification's form
 * (`ObjectCreated:<reason>`), so both shapes read the same downstream.
 */
function readEventBridgeEvent(event: unknown): S3ObjectEvent[] {
  const e = eventBridgeSchema.safeParse(event);
  if (!e.success) {
    const issue = e.error.issues[0]!;
    throw new FieldlensError(ErrorCode.EVENT_INVALID, `S3 EventBridge event: ${issue.path.join('.')} ${issue.message}`);
  }
  if (e.data['detail-type'] !== EVENTBRIDGE_OBJECT_CREATED) return [];
  const { bucket, object, reason } = e.data.detail;
  return [
    {
      bucket: bucket.name,
      key: object.key,
      eventName: `ObjectCreated:${reason ?? 'Put'}`,
      ...(object.etag ? { etag: unquote(object.etag) } : {}),
      ...(object.size !== undefined ? { size: object.size } : {}),
    },
  ];
}

/** ETags come quoted from the S3 API and bare in events; compare them bare. */
export function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}
