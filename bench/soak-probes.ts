/**
 * What the soak puts around the real handler's ports to see what it did:
 * a model client that records each request with the invocation that made
 * it, and a store that fails a planned share of result writes (as S3 does
 * on a 500) and records every result write.
 *
 * Which invocation made a request: the test server cannot tell (a request
 * carries no request id), so the soak runs each invocation inside an
 * AsyncLocalStorage scope holding its number, and the model client wrapper
 * reads it when `complete` is called. Every field request runs in its
 * invocation's async context, so this attributes each request exactly,
 * with no time windows or guessing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ResultDocument } from '../functions/core/document';
import { ResultWriteError } from '../functions/core/errors';
import type { ModelClient, ObjectStore, PutOptions } from '../functions/core/ports';

/** The number (`seq`) of the invocation the current code runs in. */
export const currentInvocation = new AsyncLocalStorage<number>();

/** One model request as the handler made it. */
export interface ModelCall {
  /** The invocation that made it; undefined only if a request escaped every invocation's scope. */
  readonly invocation: number | undefined;
  /** The image version asked about (by the hash of the image sent), or its hash when it is none of the uploaded versions. */
  readonly version: string;
  readonly field: string;
  /** `performance.now()` when it was sent. */
  readonly at: number;
}

/** A field's state in a written document: `ok`, or its error code. */
export type FieldState = string;

/** One write of a result document. */
export interface ResultWrite {
  readonly key: string;
  readonly invocation: number | undefined;
  /** `performance.now()` when the write returned or failed. */
  readonly at: number;
  readonly ok: boolean;
  /** Failed on purpose by the plan. */
  readonly injected: boolean;
  readonly sourceEtag: string;
  readonly fields: Readonly<Record<string, FieldState>>;
}

/** The base64 image's hash, as the test server computes it (`imageSha256`). */
export function imageHash(base64: Buffer | string): string {
  return createHash('sha256').update(base64).digest('hex');
}

/** Wraps `inner` so every `complete` is recorded in `calls`. */
export function recordingModel(inner: ModelClient, calls: ModelCall[], versionOf: (hash: string) => string | undefined): ModelClient {
  // One image buffer is shared by every field of an image: hash it once.
  const hashes = new WeakMap<Buffer, string>();
  return {
    modelName: inner.modelName,
    complete(request, options) {
      const buffer = request.image.base64;
      let hash = hashes.get(buffer);
      if (hash === undefined) hashes.set(buffer, (hash = imageHash(buffer)));
      calls.push({ invocation: currentInvocation.getStore(), version: versionOf(hash) ?? hash, field: request.schemaName, at: performance.now() });
      return inner.complete(request, options);
    },
  };
}

export interface FaultyStoreOptions {
  /** Result documents live here; leases (`.lease`) are never failed. */
  readonly outputPrefix: string;
  /** Whether write number `n` (from 0, counted over every invocation) to `key` fails. */
  readonly fails: (key: string, n: number) => boolean;
  /** Write counts per key, shared by every execution environment's store. */
  readonly counts: Map<string, number>;
  readonly writes: ResultWrite[];
}

/** Wraps `inner` so planned result writes fail with {@link ResultWriteError} and every result write is recorded. */
export function faultyStore(inner: ObjectStore, o: FaultyStoreOptions): ObjectStore {
  return {
    head: (ref, options) => inner.head(ref, options),
    read: (ref, options) => inner.read(ref, options),
    delete: (ref, options) => inner.delete(ref, options),
    async putJson(ref, value, metadata, options?: PutOptions) {
      if (!(ref.key.startsWith(o.outputPrefix) && ref.key.endsWith('.json'))) return inner.putJson(ref, value, metadata, options);
      const n = o.counts.get(ref.key) ?? 0;
      o.counts.set(ref.key, n + 1);
      const doc = value as ResultDocument;
      const record = (ok: boolean, injected: boolean): void =>
        void o.writes.push({
          key: ref.key,
          invocation: currentInvocation.getStore(),
          at: performance.now(),
          ok,
          injected,
          sourceEtag: doc.source.etag,
          fields: Object.fromEntries(Object.entries(doc.fieldResults ?? {}).map(([name, r]) => [name, r.error ? r.error.code : r.status])),
        });
      if (o.fails(ref.key, n)) {
        record(false, true);
        throw new ResultWriteError(`cannot write s3://${ref.bucket}/${ref.key}: InternalError (HTTP 500), injected by the soak`);
      }
      try {
        const out = await inner.putJson(ref, value, metadata, options);
        record(true, false);
        return out;
      } catch (err) {
        record(false, false);
        throw err;
      }
    },
  };
}
