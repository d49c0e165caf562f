/**
 * The content cache: an image whose bytes and configuration match an
 * earlier complete result costs no model call. The same photo uploaded
 * under another key, or again after it was deleted, gets its document
 * written from the answers cached the first time, and the document says so
 * (`cache: { hit: true, source }`).
 *
 * An entry is keyed by the sha-256 of the image's bytes and the
 * configuration fingerprint (`fingerprint.ts`), so a change of fields,
 * prompts, model or response format never reads an old answer:
 * `<prefix><fingerprint>/<sha-256>.json`, by default under the output
 * prefix (`<output prefix>.fieldlens/cache/`), in the results bucket. The
 * stack expires entries with a lifecycle rule.
 *
 * Only a final `complete` document is cached: every one of its answers is
 * known good. A partial or retryable document has fields a later run may
 * still answer, and caching it would hand its failures to every copy of the
 * image. An entry that cannot be read, is not JSON, fails its schema, is
 * for other bytes or another configuration, or has an answer that no longer
 * validates against its field, is ignored (a miss), never trusted. The
 * cache never fails an image: a failed read is a miss, a failed write is a
 * warning.
 *
 * Both fan-outs use this module: direct mode in `direct.ts`; Step
 * Functions through the same three calls (look up before the fan-out,
 * store after the final document is written).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { parseAnswer } from './answer';
import type { CacheInfo, FieldOutcome, ResultDocument } from './document';
import { toErrorInfo, WriteConflictError } from './errors';
import type { FieldSet } from './fields';
import type { Logger, ObjectRef, ObjectStore } from './ports';

/** Where entries live: a key prefix in the results bucket. */
export interface ContentCacheSettings {
  /** Key prefix of the entries, ending in `/`. */
  readonly prefix: string;
}

/** The default prefix of the entries: a folder of the output prefix, like the leases. */
export function defaultCachePrefix(outputPrefix: string): string {
  return `${outputPrefix}.fieldlens/cache/`;
}

/** Largest entry worth reading: a few answers are kilobytes; anything this large is not ours. */
const MAX_ENTRY_BYTES = 4 * 1024 * 1024;

const ENTRY_KIND = 'fieldlens.content-cache';
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** The zod schema of one cache entry. */
export const cacheEntrySchema = z
  .object({
    kind: z.literal(ENTRY_KIND),
    version: z.literal(1),
    /** sha-256 of the image's bytes, hex. */
    sha256: sha256Hex,
    /** The configuration fingerprint the answers were produced under. */
    fingerprint: sha256Hex,
    /** The model that answered (recorded, not compared: the fingerprint covers it). */
    model: z.string(),
    /** Every configured field's answer, by name. */
    fields: z.record(z.string(), z.unknown()),
    /** The image whose run produced the answers. */
    source: z.object({ bucket: z.string().min(1), key: z.string().min(1), etag: z.string() }).strict(),
    createdAt: z.iso.datetime(),
  })
  .strict();
export type CacheEntry = z.infer<typeof cacheEntrySchema>;

/** What a lookup needs to know about the running configuration. */
export interface CacheScope {
  readonly fields: FieldSet;
  readonly fingerprint: string;
}

/** The sha-256 of an image's bytes, as 64 hex digits. */
export function imageDigest(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** Where the entry for an image digest under a fingerprint lives. */
export function cacheEntryRef(bucket: string, settings: ContentCacheSettings, fingerprint: string, digest: string): ObjectRef {
  return { bucket, key: `${settings.prefix}${fingerprint}/${digest}.json` };
}

/** What a lookup found. */
export type CacheLookup =
  /** One outcome per configured field (no attempts, no usage) and the document's `cache` part. */
  | { readonly kind: 'hit'; readonly outcomes: readonly FieldOutcome[]; readonly cache: CacheInfo }
  /** Nothing usable; `invalid`: an entry exists but was ignored, so the next store replaces it. */
  | { readonly kind: 'miss'; readonly invalid: boolean };

export interface LookupOptions {
  readonly store: ObjectStore;
  readonly ref: ObjectRef;
  readonly digest: string;
  readonly scope: CacheScope;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

/**
 * The cached answers for this image and configuration, or a miss. Anything
 * wrong with the entry is a miss, logged as a warning.
 */
export async function lookupCachedAnswers(o: LookupOptions): Promise<CacheLookup> {
  let body: Buffer | undefined;
  try {
    const read = await o.store.read(o.ref, { maxBytes: MAX_ENTRY_BYTES, ...(o.signal ? { signal: o.signal } : {}) });
    body = read?.body;
  } catch (err) {
    // Without s3:ListBucket a missing key is a 403; both are a miss, and so
    // is any failed read. Not known to be invalid: the store stays conditional.
    o.logger.debug('content cache not read; asking the model', { cacheKey: o.ref.key, error: toErrorInfo(err) });
    return { kind: 'miss', invalid: false };
  }
  if (!body) return { kind: 'miss', invalid: false };
  const entry = validEntry(body, o.digest, o.scope);
  const outcomes = typeof entry === 'string' ? entry : cachedOutcomes(entry, o.scope.fields);
  if (typeof entry === 'string' || typeof outcomes === 'string') {
    o.logger.warn('content cache entry ignored', { cacheKey: o.ref.key, reason: outcomes });
    return { kind: 'miss', invalid: true };
  }
  return { kind: 'hit', outcomes, cache: { hit: true, source: entry.source, createdAt: entry.createdAt } };
}

/** Whether a written document may seed the cache: final, complete, and not itself a cache hit. */
export function isCacheable(document: ResultDocument): boolean {
  return document.status === 'complete' && document.retryable !== true && document.cache?.hit !== true;
}

export interface StoreOptions {
  readonly store: ObjectStore;
  readonly ref: ObjectRef;
  readonly digest: string;
  /** The document just written for this image. */
  readonly document: ResultDocument;
  readonly logger: Logger;
  readonly now: Date;
  /** The lookup found an invalid entry: overwrite it rather than leave it in place. @default false */
  readonly replace?: boolean;
  readonly signal?: AbortSignal;
}

/**
 * Stores the answers of a cacheable document (see {@link isCacheable}), only
 * if no entry exists yet (`If-None-Match: *`: the first complete answer
 * stays), or over an entry the lookup found invalid. Never throws.
 */
export async function storeCachedAnswers(o: StoreOptions): Promise<'stored' | 'exists' | 'not-cacheable' | 'failed'> {
  const { document } = o;
  if (!isCacheable(document) || !document.fingerprint) return 'not-cacheable';
  const entry: CacheEntry = {
    kind: ENTRY_KIND,
    version: 1,
    sha256: o.digest,
    fingerprint: document.fingerprint,
    model: document.model.name,
    fields: document.fields,
    source: { bucket: document.source.bucket, key: document.source.key, etag: document.source.etag },
    createdAt: o.now.toISOString(),
  };
  try {
    await o.store.putJson(o.ref, cacheEntrySchema.parse(entry), {}, {
      ...(o.replace ? {} : { condition: { ifNoneMatch: '*' as const } }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return 'stored';
  } catch (err) {
    if (err instanceof WriteConflictError) return 'exists';
    o.logger.warn('content cache entry not written; the document is', { cacheKey: o.ref.key, error: toErrorInfo(err) });
    return 'failed';
  }
}

/** The entry in `body` if it is one for these bytes and this configuration, else why not. */
function validEntry(body: Buffer, digest: string, scope: CacheScope): CacheEntry | string {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  const parsed = cacheEntrySchema.safeParse(json);
  if (!parsed.success) return `fails its schema: ${parsed.error.issues[0]?.message ?? 'invalid'}`;
  const entry = parsed.data;
  if (entry.sha256 !== digest) return 'for other image bytes';
  if (entry.fingerprint !== scope.fingerprint) return 'for another configuration';
  return entry;
}

/**
 * One outcome per configured field from the entry's answers, each checked
 * against its field as a model's answer would be; or why the entry does
 * not fit.
 */
function cachedOutcomes(entry: CacheEntry, fields: FieldSet): FieldOutcome[] | string {
  const names = Object.keys(entry.fields);
  if (names.length !== fields.length || fields.some((f) => !Object.hasOwn(entry.fields, f.name))) {
    return 'its fields are not the configured ones';
  }
  const outcomes: FieldOutcome[] = [];
  for (const field of fields) {
    const value = entry.fields[field.name];
    const checked = parseAnswer(JSON.stringify({ value }), field);
    if (!checked.ok) return `field "${field.name}": ${checked.error}`;
    if (checked.value === null && field.required) return `required field "${field.name}" is null`;
    outcomes.push({ name: field.name, value: checked.value, result: { status: 'ok', attempts: 0, latencyMs: 0 } });
  }
  return outcomes;
}
