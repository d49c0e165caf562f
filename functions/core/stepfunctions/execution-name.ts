/**
 * Step Functions execution names derived from the object version.
 *
 * A standard state machine refuses a name it has used in the last 90 days
 * (`ExecutionAlreadyExists`), so a name computed from bucket, key and ETag
 * turns S3's at-least-once delivery into exactly one run per object version,
 * enforced by the platform rather than by a counter we keep.
 */
import { createHash } from 'node:crypto';

/** Step Functions' limit on an execution name. */
export const EXECUTION_NAME_MAX_LENGTH = 80;

const PREFIX = 'fl-';
/** 128 bits of SHA-256: collisions are not a practical concern. */
const HASH_CHARS = 32;
/** What is left for the readable tail after `fl-<hash>-`. */
const TAIL_CHARS = EXECUTION_NAME_MAX_LENGTH - PREFIX.length - HASH_CHARS - 1;

/** The object version a run is for. */
export interface ObjectVersion {
  readonly bucket: string;
  /** Decoded key. */
  readonly key: string;
  /** The ETag, quotes removed. */
  readonly etag: string;
}

/**
 * The execution name for one object version: `fl-` + 32 hex characters of
 * SHA-256 over bucket, key and ETag, then the end of the key with every
 * character outside `[A-Za-z0-9_-]` replaced, so a run is recognisable in
 * the console (`fl-3f2a…-incoming-2026-a-jpg`).
 *
 * Deterministic, at most 80 characters, only `[A-Za-z0-9_-]` (safe for
 * Step Functions names and for CloudWatch, which wants ASCII). The hash alone
 * identifies the version; the tail is for people.
 *
 * @throws {TypeError} when bucket, key or ETag is empty.
 * @example
 * ```ts
 * executionNameFor({ bucket: 'labels', key: 'incoming/2026/a.jpg', etag: '9b2cf535f27731c974343645a3985328' });
 * // → 'fl-<32 hex>-incoming-2026-a-jpg'
 * ```
 */
export function executionNameFor(version: ObjectVersion): string {
  for (const part of ['bucket', 'key', 'etag'] as const) {
    if (typeof version[part] !== 'string' || version[part] === '') {
      throw new TypeError(`expected a non-empty ${part} to name an execution, got ${JSON.stringify(version[part])}`);
    }
  }
  // JSON keeps the parts apart: ("a/b", "c") and ("a", "b/c") hash differently.
  const hash = createHash('sha256')
    .update(JSON.stringify([version.bucket, version.key, version.etag]))
    .digest('hex')
    .slice(0, HASH_CHARS);
  const tail = readableTail(version.key);
  return tail ? `${PREFIX}${hash}-${tail}` : `${PREFIX}${hash}`;
}

/** The end of the key in `[A-Za-z0-9_-]`, at most {@link TAIL_CHARS} characters. */
function readableTail(key: string): string {
  const safe = key.replace(/[^A-Za-z0-9_-]+/g, '-');
  return safe.slice(-TAIL_CHARS).replace(/^-+|-+$/g, '');
}
