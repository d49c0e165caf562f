/**
 * Which keys are ours and where their results go. Keys here are always
 * decoded (never URL-encoded).
 */
import { createHash } from 'node:crypto';
import type { ObjectRef } from './ports';
import type { PipelineSettings } from './settings';

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/**
 * Where results go whose own key cannot exist (see {@link resultKeyProblem}),
 * under the output prefix: `<output prefix>.fieldlens/rejected-keys/<sha-256 of the source key>.json`.
 */
export const REJECTED_KEYS_FOLDER = '.fieldlens/rejected-keys/';

/**
 * Why an event's object is not processed (nothing is written for it):
 * not ours (`outside-input-prefix`, `under-output-prefix`, `folder-marker`),
 * nothing to do (`duplicate`: a final result for this version and
 * configuration exists; `in-flight`: another invocation holds its lease),
 * or gone (`not-found`: deleted; `superseded`: replaced by a newer version,
 * whose own event produces its document).
 */
export type SkipReason =
  | 'outside-input-prefix'
  | 'under-output-prefix'
  | 'folder-marker'
  | 'duplicate'
  | 'in-flight'
  | 'not-found'
  | 'superseded';

/**
 * Why a key is not ours to process, or `undefined` when it is. Keys under
 * the output prefix are never processed, even when they also lie under the
 * input prefix: that is what keeps a shared bucket from looping.
 */
export function keyGuard(key: string, settings: Pick<PipelineSettings, 'inputPrefix' | 'outputPrefix'>): SkipReason | undefined {
  if (settings.outputPrefix !== '' && key.startsWith(settings.outputPrefix)) return 'under-output-prefix';
  if (!key.startsWith(settings.inputPrefix)) return 'outside-input-prefix';
  if (key.endsWith('/')) return 'folder-marker';
  return undefined;
}

/**
 * Where a source key's result goes: the output prefix, the key without the
 * input prefix, then `.json` (`incoming/2026/a.jpg` → `results/2026/a.jpg.json`).
 */
export function resultKeyFor(sourceKey: string, inputPrefix: string, outputPrefix: string): string {
  const rest = sourceKey.startsWith(inputPrefix) ? sourceKey.slice(inputPrefix.length) : sourceKey;
  return `${outputPrefix}${rest}.json`;
}

/** Where the result of `source` is written. */
export function resultRefFor(source: ObjectRef, settings: PipelineSettings): ObjectRef {
  return {
    bucket: settings.outputBucket ?? source.bucket,
    key: resultKeyFor(source.key, settings.inputPrefix, settings.outputPrefix),
  };
}

/**
 * Why a source key cannot have its result at its own place, or `undefined`.
 * S3 keeps `.`, `..` and empty path segments as they are, but tools and IAM
 * policies that treat keys as paths do not, so a result there could land
 * (or be granted) somewhere else than it says.
 */
export function resultKeyProblem(sourceKey: string, settings: Pick<PipelineSettings, 'inputPrefix' | 'outputPrefix'>): string | undefined {
  const rest = sourceKey.startsWith(settings.inputPrefix) ? sourceKey.slice(settings.inputPrefix.length) : sourceKey;
  const bad = rest.split('/').find((s) => s === '' || s === '.' || s === '..');
  if (bad !== undefined) {
    return `the key has a ${bad === '' ? 'empty' : `"${bad}"`} path segment, which S3 keeps but path-based tools and policies do not`;
  }
  const bytes = Buffer.byteLength(resultKeyFor(sourceKey, settings.inputPrefix, settings.outputPrefix), 'utf8');
  if (bytes > MAX_KEY_BYTES) return `its result key would be ${bytes} bytes, over S3's limit of ${MAX_KEY_BYTES}`;
  return undefined;
}

/** The fallback result key of a source key with a {@link resultKeyProblem}. */
export function fallbackResultKeyFor(sourceKey: string, outputPrefix: string): string {
  return `${outputPrefix}${REJECTED_KEYS_FOLDER}${sha256(sourceKey)}.json`;
}

/**
 * Where the lease of a source object lives while an invocation works on it
 * (see `lease.ts`). It ends in `.lease`, never `.json`, so no result key can
 * ever be a lease key.
 */
export function leaseRefFor(source: ObjectRef, settings: PipelineSettings): ObjectRef {
  return {
    bucket: settings.outputBucket ?? source.bucket,
    key: `${settings.outputPrefix}.fieldlens/leases/${sha256(`${source.bucket}/${source.key}`)}.lease`,
  };
}

/**
 * The folder under the output prefix where the Step Functions variant keeps
 * each field's outcome between its ExtractField task and Merge:
 * `<output prefix>.fieldlens/parts/`. Merge deletes what it read; a
 * lifecycle rule expires anything left behind.
 */
export const FIELD_PARTS_FOLDER = '.fieldlens/parts/';

/** Which run a field part belongs to: the object version, the configuration and the run's number. */
export interface FieldPartRun {
  readonly source: ObjectRef & { readonly etag: string };
  readonly fingerprint: string;
  /** The run's number (the document's `runs`). */
  readonly runs: number;
}

/**
 * Where one field's outcome of one run is kept:
 * `<output prefix>.fieldlens/parts/<sha-256 of bucket/key>/<etag>-<fingerprint[0:16]>-<runs>/<field>.part`.
 * Two runs never share a key: another version, configuration or run number
 * is another folder. Characters of the ETag outside `[A-Za-z0-9-]` become `_`.
 * It ends in `.part`, never `.json` (like a lease), so no result key can
 * ever be a part key.
 */
export function fieldPartRefFor(run: FieldPartRun, field: string, settings: Pick<PipelineSettings, 'outputPrefix' | 'outputBucket'>): ObjectRef {
  const etag = run.source.etag.replace(/[^A-Za-z0-9-]/g, '_');
  return {
    bucket: settings.outputBucket ?? run.source.bucket,
    key:
      `${settings.outputPrefix}${FIELD_PARTS_FOLDER}${sha256(`${run.source.bucket}/${run.source.key}`)}/` +
      `${etag}-${run.fingerprint.slice(0, 16)}-${run.runs}/${field}.part`,
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
