/**
 * An S3-compatible server on loopback for `npm start`, the tests and the
 * benchmark: s3rver behind {@link startS3Gateway}, which adds conditional
 * writes, atomic objects and complete listings, with object-created events
 * re-shaped the way real S3 delivers them (URL-encoded keys, `+` for a
 * space).
 */
import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import { startS3Gateway } from './s3-gateway';

export interface LocalS3Options {
  /** Where objects are kept on disk. */
  readonly directory: string;
  /** Buckets to create. */
  readonly buckets: readonly string[];
  /** The port clients use (the gateway's). @default 0 (any free port) */
  readonly port?: number;
}

/** An S3 event notification record as real S3 sends it. */
export interface S3NotificationEvent {
  Records: Array<{
    eventVersion: string;
    eventSource: 'aws:s3';
    awsRegion: string;
    eventTime: string;
    eventName: string;
    s3: {
      s3SchemaVersion: '1.0';
      configurationId: string;
      bucket: { name: string; arn: string };
      object: { key: string; size: number; eTag: string; sequencer: string };
    };
  }>;
}

export interface LocalS3 {
  /** e.g. `http://127.0.0.1:4568`, for `AWS_ENDPOINT_URL_S3`. */
  readonly endpoint: string;
  /** Calls `listener` with a real-S3-shaped event for every object created. */
  onObjectCreated(listener: (event: S3NotificationEvent) => void): void;
  close(): Promise<void>;
}

/**
 * Encodes a key the way S3 event notifications do: form-URL-encoding with
 * `+` for a space, slashes kept.
 */
export function encodeS3EventKey(key: string): string {
  return key
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/%20/g, '+'))
    .join('/');
}

/** A real-S3-shaped object-created event for one object. */
export function s3ObjectCreatedEvent(input: {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  eventName?: string;
}): S3NotificationEvent {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: input.eventName ?? 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'fieldlens-input',
          bucket: { name: input.bucket, arn: `arn:aws:s3:::${input.bucket}` },
          object: {
            key: encodeS3EventKey(input.key),
            size: input.size,
            eTag: input.etag.replace(/"/g, ''),
            sequencer: Date.now().toString(16).toUpperCase().padStart(16, '0'),
          },
        },
      },
    ],
  };
}

/** Starts s3rver on 127.0.0.1 and the gateway in front of it; the endpoint is the gateway's. */
export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const address = await server.run();
  const gateway = await startS3Gateway({
    upstream: { host: '127.0.0.1', port: address.port },
    directory: options.directory,
    ...(options.port === undefined ? {} : { port: options.port }),
  }).catch(async (err: unknown) => {
    await server.close();
    throw err;
  });
  const listeners: Array<(event: S3NotificationEvent) => void> = [];
  server.on('event', (raw) => {
    for (const r of raw.Records) {
      if (!r.eventName.startsWith('ObjectCreated')) continue;
      const event = s3ObjectCreatedEvent({
        bucket: r.s3.bucket.name,
        key: r.s3.object.key,
        size: r.s3.object.size ?? 0,
        etag: r.s3.object.eTag ?? '',
        eventName: r.eventName,
      });
      for (const l of listeners) l(event);
    }
  });
  return {
    endpoint: gateway.endpoint,
    onObjectCreated: (l) => void listeners.push(l),
    async close() {
      await gateway.close();
      await server.close();
    },
  };
}
