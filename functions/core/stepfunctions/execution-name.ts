/**
 * Step Functions execution names: one per piece of work, so that S3's
 * at-least-once delivery starts each piece of work once, enforced by the
 * platform rather than by a counter we keep.
 *
 * A standard state machine refuses a name it has used in the last 90 days
 * (`ExecutionAlreadyExists`). A name made of bucket, key and ETag alone
 * would therefore block a retry after a retryable document, and a
 * recomputation after a configuration change, for 90 days. So the name also
 * covers what decides whether there is work: the configuration fingerprint,
 * and the generation of the stored result (see {@link runGenerationOf}).
 * A redelivery while a run is going sees the same result slot and computes
 * the same name; once that run has written its retryable document, the next
 * event sees a new generation and gets a new name.
 */
import { createHash } from 'node:crypto';
import type { StoredResult } from '../result-writer';

/** Step Functions' limit on an execution name. */
export const EXECUTION_NAME_MAX_LENGTH = 80;

const PREFIX = 'fl-';
/** 128 bits of SHA-256: collisions are not a practical concern. */
const HASH_CHARS = 32;

/** The object version a run is for. */
export interface ObjectVersion {
  readonly bucket: string;
  /** Decoded key. */
  readonly key: string;
  /** The ETag, quotes removed. */
  readonly etag: string;
}

/** What the result slot held when the run was named. */
export interface RunGeneration {
  /**
   * The stored result's `result-runs` when it is current (same ETag and
   * fingerprint) and retryable, else 0: how many runs came before this one.
   */
  readonly generation: number;
  /**
   * The stored result object's own ETag, when there was one. It keeps a
   * return to an earlier configuration (A, then B, then A again within 90
   * days) from reusing A's old name: the slot then holds B's document.
   */
  readonly resultEtag?: string;
}

/** One piece of work: an object version under a configuration, at a generation of its result. */
export interface RunIdentity extends ObjectVersion, RunGeneration {
  /** The configuration fingerprint (see `fingerprint.ts`). */
  readonly fingerprint: string;
}

/**
 * Whether the stored result leaves work to do for this version and
 * configuration: `undefined` when it is current and final (a true
 * duplicate: start nothing), else the generation to name the run after.
 *
 * @example
 * ```ts
 * runGenerationOf(undefined, etag, fingerprint);           // { generation: 0 }
 * runGenerationOf(retryableWithRuns2, etag, fingerprint);  // { generation: 2, resultEtag: '…' }
 * runGenerationOf(finalCurrent, etag, fingerprint);        // undefined
 * ```
 */
export function runGenerationOf(stored: StoredResult | undefined, etag: string, fingerprint: string): RunGeneration | undefined {
  if (!stored) return { generation: 0 };
  const current = stored.sourceEtag === etag && stored.fingerprint === fingerprint;
  if (current && stored.state === 'final') return undefined;
  return { generation: current && stored.state === 'retryable' ? stored.runs : 0, resultEtag: stored.etag };
}

/**
 * The execution name of one piece of work: `fl-` + 32 hex characters of
 * SHA-256 over bucket, key, ETag, fingerprint, generation and the stored
 * result's ETag, then `g<generation>`, then the end of the key with every
 * character outside `[A-Za-z0-9_-]` replaced, so a run is recognisable in
 * the console (`fl-3f2a…-g0-incoming-2026-a-jpg`).
 *
 * Deterministic, at most 80 characters, only `[A-Za-z0-9_-]` (safe for
 * Step Functions names and for CloudWatch, which wants ASCII). The hash alone
 * identifies the work; the rest is for people.
 *
 * @throws {TypeError} when bucket, key, ETag or fingerprint is empty, or the
 *   generation is not a whole number ≥ 0.
 * @example
 * ```ts
 * executionNameFor({ bucket: 'labels', key: 'incoming/2026/a.jpg', etag: '9b2c…', fingerprint: 'c0ff…', generation: 0 });
 * // → 'fl-<32 hex>-g0-incoming-2026-a-jpg'
 * ```
 */
export function executionNameFor(run: RunIdentity): string {
  for (const part of ['bucket', 'key', 'etag', 'fingerprint'] as const) {
    if (typeof run[part] !== 'string' || run[part] === '') {
      throw new TypeError(`expected a non-empty ${part} to name an execution, got ${JSON.stringify(run[part])}`);
    }
  }
  if (!Number.isSafeInteger(run.generation) || run.generation < 0) {
    throw new TypeError(`expected a whole number ≥ 0 as the generation, got ${JSON.stringify(run.generation)}`);
  }
  // JSON keeps the parts apart: ("a/b", "c") and ("a", "b/c") hash differently.
  const hash = createHash('sha256')
    .update(JSON.stringify([run.bucket, run.key, run.etag, run.fingerprint, run.generation, run.resultEtag ?? null]))
    .digest('hex')
    .slice(0, HASH_CHARS);
  const head = `${PREFIX}${hash}-g${run.generation}`;
  const tail = readableTail(run.key, EXECUTION_NAME_MAX_LENGTH - head.length - 1);
  return tail ? `${head}-${tail}` : head;
}

/** The end of the key in `[A-Za-z0-9_-]`, at most `room` characters. */
function readableTail(key: string, room: number): string {
  if (room <= 0) return '';
  const safe = key.replace(/[^A-Za-z0-9_-]+/g, '-');
  return safe.slice(-room).replace(/^-+|-+$/g, '');
}
