/**
 * An {@link ObjectStore} decorator that records how long each S3 call of the
 * handler takes, so the benchmark can report S3 time apart from model time.
 */
import { performance } from 'node:perf_hooks';
import type { ObjectInfo, ObjectRef, ObjectStore, PutOptions, ReadOptions, StoreCallOptions } from '../functions/core/ports';
import { coveredMs } from './stats';

export type StoreOp = 'head' | 'read' | 'putJson' | 'delete';

/** One call to the store: when it started and ended (`performance.now()` ms). */
export interface StoreCall {
  readonly op: StoreOp;
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** Bytes read (`read`) or written (`putJson`). */
  readonly bytes?: number;
}

/** S3 time of one image, in milliseconds. */
export interface S3Times {
  /** The admission heads (source and existing result, side by side). */
  readonly headMs: number;
  /** Reading the image. */
  readonly readMs: number;
  /** Writing the result document. */
  readonly writeMs: number;
  /** Time inside any S3 call, overlaps counted once. */
  readonly totalMs: number;
}

export class TimingObjectStore implements ObjectStore {
  readonly #inner: ObjectStore;
  #calls: StoreCall[] = [];

  constructor(inner: ObjectStore) {
    this.#inner = inner;
  }

  head(ref: ObjectRef, options?: Parameters<ObjectStore['head']>[1]): Promise<ObjectInfo | undefined> {
    return this.#time('head', ref, () => this.#inner.head(ref, options), () => undefined);
  }

  read(ref: ObjectRef, options: ReadOptions & StoreCallOptions): Promise<{ info: ObjectInfo; body: Buffer } | undefined> {
    return this.#time('read', ref, () => this.#inner.read(ref, options), (r) => r?.body.length);
  }

  putJson(ref: ObjectRef, value: unknown, metadata: Readonly<Record<string, string>>, options?: PutOptions): Promise<{ etag: string }> {
    return this.#time('putJson', ref, () => this.#inner.putJson(ref, value, metadata, options), () => undefined);
  }

  delete(ref: ObjectRef, options?: StoreCallOptions & { readonly ifMatch?: string }): Promise<void> {
    return this.#time('delete', ref, () => this.#inner.delete(ref, options), () => undefined);
  }

  /** The calls recorded since the last {@link take}, which clears them. */
  take(): StoreCall[] {
    const calls = this.#calls;
    this.#calls = [];
    return calls;
  }

  async #time<T>(op: StoreOp, ref: ObjectRef, call: () => Promise<T>, size: (r: T) => number | undefined): Promise<T> {
    const start = performance.now();
    try {
      const result = await call();
      const bytes = size(result);
      this.#calls.push({ op, key: ref.key, start, end: performance.now(), ...(bytes !== undefined ? { bytes } : {}) });
      return result;
    } catch (err) {
      this.#calls.push({ op, key: ref.key, start, end: performance.now() });
      throw err;
    }
  }
}

/** Sums one image's calls into head / read / write / total S3 time. */
export function s3Times(calls: readonly StoreCall[]): S3Times {
  const of = (op: StoreOp): number => coveredMs(calls.filter((c) => c.op === op));
  return { headMs: of('head'), readMs: of('read'), writeMs: of('putJson'), totalMs: coveredMs(calls) };
}
