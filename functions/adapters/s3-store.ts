/**
 * {@link ObjectStore} over the AWS SDK's S3 client: bounded reads,
 * conditional on the ETag the event named, and JSON writes with metadata.
 *
 * The same code runs against any S3-compatible server: the SDK reads
 * `AWS_ENDPOINT_URL_S3` itself, and {@link createS3Client} turns on
 * path-style addressing when it is set.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ErrorCode, InputRejectedError, ObjectReadError, ResultWriteError, WriteConflictError } from '../core/errors';
import { unquote } from '../core/events';
import type { ObjectInfo, ObjectRef, ObjectStore, PutOptions, ReadOptions, StoreCallOptions, WriteCondition } from '../core/ports';

/**
 * Limits of one S3 request. A stuck call must fail on its own well before
 * the invocation's deadline, so the time kept back for writing the result
 * is never eaten by a read that hangs; the SDK retries a timed-out request
 * within the same signal.
 */
export const S3_TIMEOUTS = Object.freeze({ connectionMs: 3_000, requestMs: 15_000 });

/** Limits of one S3 request, as in {@link S3_TIMEOUTS}. */
export interface S3Timeouts {
  /** Time to open the connection. */
  readonly connectionMs: number;
  /** Time until the response headers arrive, and the longest a response body may pause. */
  readonly requestMs: number;
}

/**
 * An S3 client configured for fieldlens. Checksums are computed only when
 * the API requires them: S3-compatible servers that do not understand the
 * SDK's default aws-chunked uploads would otherwise store the framing.
 *
 * @param options.timeouts - limits of one request. @default S3_TIMEOUTS
 */
export function createS3Client(
  env: Readonly<Record<string, string | undefined>> = {},
  overrides: S3ClientConfig = {},
  options: { readonly timeouts?: S3Timeouts } = {},
): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  const timeouts = options.timeouts ?? S3_TIMEOUTS;
  return new S3Client({
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      connectionTimeout: timeouts.connectionMs,
      requestTimeout: timeouts.requestMs,
      // Without it the handler only logs a warning when requestTimeout passes, and the call waits on.
      throwOnRequestTimeout: true,
      // requestTimeout ends with the headers; a body that stops arriving fails on this one.
      socketTimeout: timeouts.requestMs,
    }),
    ...(endpoint ? { forcePathStyle: true } : {}),
    ...overrides,
  });
}

function isForbidden(err: unknown): boolean {
  return err instanceof S3ServiceException && err.$metadata?.httpStatusCode === 403;
}

/** Statuses that mean "no such object (or not that version of it)". */
function isMissing(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  const status = err.$metadata?.httpStatusCode;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || status === 404 || status === 412 || err.name === 'PreconditionFailed';
}

export class S3ObjectStore implements ObjectStore {
  readonly #s3: S3Client;

  constructor(s3: S3Client) {
    this.#s3 = s3;
  }

  async head(ref: ObjectRef, options: StoreCallOptions & { readonly forbiddenMeansAbsent?: boolean } = {}): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }), callOptions(options));
      return {
        bucket: ref.bucket,
        key: ref.key,
        etag: unquote(out.ETag ?? ''),
        bytes: out.ContentLength ?? 0,
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
        metadata: lowerKeys(out.Metadata),
      };
    } catch (err) {
      if (isMissing(err)) return undefined;
      if (options.forbiddenMeansAbsent && isForbidden(err)) return undefined;
      throw readFailed(ref, err);
    }
  }

  async read(ref: ObjectRef, options: ReadOptions & StoreCallOptions): Promise<{ info: ObjectInfo; body: Buffer } | undefined> {
    let out;
    try {
      out = await this.#s3.send(
        new GetObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          ...(options.etag ? { IfMatch: `"${options.etag}"` } : {}),
          ...(options.firstBytes ? { Range: `bytes=0-${options.firstBytes - 1}` } : {}),
        }),
        callOptions(options),
      );
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw readFailed(ref, err);
    }
    const stream = out.Body as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
    const declared = out.ContentLength ?? 0;
    const limit = options.firstBytes ?? options.maxBytes;
    if (!options.firstBytes && declared > options.maxBytes) {
      stream?.destroy?.();
      throw tooLarge(declared, options.maxBytes);
    }
    let body: Buffer;
    try {
      body = stream ? await readBounded(stream, declared, limit, options.maxBytes, !!options.firstBytes) : Buffer.alloc(0);
    } catch (err) {
      // A body that stalls or breaks after the headers is a failed read too.
      if (err instanceof InputRejectedError) throw err;
      throw readFailed(ref, err);
    }
    const totalBytes = options.firstBytes ? totalFromRange(out.ContentRange) ?? declared : body.length;
    return {
      info: {
        bucket: ref.bucket,
        key: ref.key,
        etag: unquote(out.ETag ?? ''),
        bytes: totalBytes,
        ...(out.ContentType ? { contentType: out.ContentType } : {}),
        metadata: lowerKeys(out.Metadata),
      },
      body,
    };
  }

  async putJson(
    ref: ObjectRef,
    value: unknown,
    metadata: Readonly<Record<string, string>>,
    options: PutOptions = {},
  ): Promise<{ etag: string }> {
    const condition = options.condition;
    try {
      const out = await this.#s3.send(
        new PutObjectCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          Body: JSON.stringify(value, null, 2),
          ContentType: 'application/json; charset=utf-8',
          Metadata: { ...metadata },
          ...(condition && 'ifNoneMatch' in condition ? { IfNoneMatch: '*' } : {}),
          ...(condition && 'ifMatch' in condition ? { IfMatch: `"${condition.ifMatch}"` } : {}),
        }),
        callOptions(options),
      );
      return { etag: unquote(out.ETag ?? '') };
    } catch (err) {
      if (condition && isConflict(err, condition)) {
        throw new WriteConflictError(`s3://${ref.bucket}/${ref.key} changed before this write (${describe(err)})`, { cause: err });
      }
      throw new ResultWriteError(`cannot write s3://${ref.bucket}/${ref.key}: ${describe(err)}`, { cause: err });
    }
  }

  async delete(ref: ObjectRef, options: StoreCallOptions & { readonly ifMatch?: string } = {}): Promise<void> {
    try {
      await this.#s3.send(
        new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(options.ifMatch ? { IfMatch: `"${options.ifMatch}"` } : {}) }),
        callOptions(options),
      );
    } catch (err) {
      // Absent, or no longer the version the condition named: nothing of ours to delete.
      if (isMissing(err)) return;
      throw new ResultWriteError(`cannot delete s3://${ref.bucket}/${ref.key}: ${describe(err)}`, { cause: err });
    }
  }
}

/** The SDK's per-call options: the invocation's signal, when there is one. */
function callOptions(options: StoreCallOptions): { abortSignal?: AbortSignal } {
  return options.signal ? { abortSignal: options.signal } : {};
}

/**
 * 412: the condition failed; 409: a concurrent conditional write to the same
 * key won; 404 with `If-Match`: the object the condition named is gone (S3
 * answers NoSuchKey there rather than 412), which is a lost race as well.
 */
function isConflict(err: unknown, condition: WriteCondition): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  const status = err.$metadata?.httpStatusCode;
  if (status === 412 || status === 409 || err.name === 'PreconditionFailed' || err.name === 'ConditionalRequestConflict') return true;
  // Only the key: a missing bucket (NoSuchBucket, also 404) is a real failure.
  return 'ifMatch' in condition && err.name === 'NoSuchKey';
}

function readFailed(ref: ObjectRef, err: unknown): ObjectReadError {
  return new ObjectReadError(`cannot read s3://${ref.bucket}/${ref.key}: ${describe(err)}`, { cause: err });
}

function describe(err: unknown): string {
  if (err instanceof S3ServiceException) return `${err.name} (HTTP ${err.$metadata?.httpStatusCode ?? '?'})`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function tooLarge(bytes: number, max: number): InputRejectedError {
  return new InputRejectedError(
    ErrorCode.INPUT_TOO_LARGE,
    `the object is ${bytes} bytes, over the limit of ${max} bytes (MAX_IMAGE_BYTES)`,
  );
}

/**
 * Reads a body into one buffer sized from Content-Length (no concatenation
 * copies), stopping at `limit`. A body longer than declared, or over the
 * maximum, is refused rather than read on.
 */
async function readBounded(
  stream: NodeJS.ReadableStream & { destroy?: () => void },
  declared: number,
  limit: number,
  maxBytes: number,
  partial: boolean,
): Promise<Buffer> {
  const target = Buffer.allocUnsafe(Math.min(declared || limit, limit));
  let filled = 0;
  let overflow: Buffer[] | undefined;
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (filled + c.length <= target.length) {
      c.copy(target, filled);
      filled += c.length;
      continue;
    }
    if (partial) {
      c.copy(target, filled, 0, target.length - filled);
      filled = target.length;
      stream.destroy?.();
      break;
    }
    // More bytes than declared: keep going only while under the maximum.
    overflow ??= [target.subarray(0, filled)];
    overflow.push(c);
    filled += c.length;
    if (filled > maxBytes) {
      stream.destroy?.();
      throw tooLarge(filled, maxBytes);
    }
  }
  return overflow ? Buffer.concat(overflow, filled) : target.subarray(0, filled);
}

function totalFromRange(range: string | undefined): number | undefined {
  const m = range ? /\/(\d+)$/.exec(range) : null;
  return m ? Number(m[1]) : undefined;
}

function lowerKeys(m: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}
