/**
 * Writing a result document so that it stays true: with the metadata that
 * lets a later event recognise it without reading it, only while the image
 * it describes is still the object's current version, and with S3
 * conditional requests, so a slower invocation for an older version never
 * overwrites the document of a newer one.
 */
import { resultDocumentSchema, type ResultDocument } from './document';
import { ResultWriteError, WriteConflictError } from './errors';
import type { ObjectInfo, ObjectRef, ObjectStore, WriteCondition } from './ports';

/** User metadata on every result (S3 lower-cases the names). */
export const RESULT_METADATA = Object.freeze({
  /** The source ETag it was computed from. */
  sourceEtag: 'source-etag',
  /** The configuration fingerprint that produced it. */
  fingerprint: 'config-fingerprint',
  /** `final`, or `retryable` when a later delivery should ask its failed fields again. */
  state: 'result-state',
  /** How many runs contributed to it. */
  runs: 'result-runs',
});

/** What the metadata of a stored result says, without reading its body. */
export interface StoredResult {
  /** The result object's own ETag, for a conditional overwrite. */
  readonly etag: string;
  readonly sourceEtag: string | undefined;
  readonly fingerprint: string | undefined;
  readonly state: 'final' | 'retryable' | undefined;
  readonly runs: number;
}

/** Reads a result's metadata (from a HEAD). */
export function storedResultOf(info: ObjectInfo): StoredResult {
  const m = info.metadata;
  const state = m[RESULT_METADATA.state];
  const runs = Number(m[RESULT_METADATA.runs]);
  return {
    etag: info.etag,
    sourceEtag: m[RESULT_METADATA.sourceEtag],
    fingerprint: m[RESULT_METADATA.fingerprint],
    state: state === 'final' || state === 'retryable' ? state : undefined,
    runs: Number.isInteger(runs) && runs > 0 ? runs : 1,
  };
}

/** The metadata written with `document`. */
export function resultMetadata(document: ResultDocument): Record<string, string> {
  return {
    [RESULT_METADATA.sourceEtag]: document.source.etag,
    ...(document.fingerprint ? { [RESULT_METADATA.fingerprint]: document.fingerprint } : {}),
    [RESULT_METADATA.state]: document.retryable ? 'retryable' : 'final',
    [RESULT_METADATA.runs]: String(document.runs ?? 1),
  };
}

/** What became of a publish. */
export type PublishOutcome =
  /** The document is stored. */
  | { readonly kind: 'written'; readonly etag: string }
  /** Not written: the object has a newer version (or is gone), whose own event produces its document. */
  | { readonly kind: 'superseded' }
  /** Not written: another delivery already stored a final document for this version and configuration. */
  | { readonly kind: 'duplicate' };

export interface PublishOptions {
  readonly store: ObjectStore;
  readonly ref: ObjectRef;
  readonly document: ResultDocument;
  /**
   * The result object as admission saw it: its ETag for `If-Match`, or
   * `undefined` (absent) for `If-None-Match: *`.
   */
  readonly seenEtag: string | undefined;
  /**
   * Whether to check that the source still has the document's ETag before
   * writing. Off only where no source object exists to check (a rejected key).
   * @default true
   */
  readonly checkSource?: boolean;
  readonly signal?: AbortSignal;
}

/** Conflicts tolerated before giving up: each one means another writer finished in between. */
const MAX_CONFLICTS = 3;

/**
 * Writes `document` conditionally. Before each try it checks that the
 * source still has the document's ETag; on a lost race it looks at what
 * won: a final document for the same version and fingerprint is left in
 * place, anything else is overwritten on its new ETag.
 *
 * @throws {ResultWriteError} when the store fails, or the races do not settle.
 */
export async function publishResult(o: PublishOptions): Promise<PublishOutcome> {
  const { store, ref, document, signal } = o;
  const callOptions = signal ? { signal } : {};
  let seen = o.seenEtag;
  for (let conflicts = 0; ; conflicts++) {
    if (o.checkSource !== false) {
      const source = await store.head(document.source, callOptions);
      if (!source || source.etag !== document.source.etag) return { kind: 'superseded' };
    }
    const condition: WriteCondition = seen === undefined ? { ifNoneMatch: '*' } : { ifMatch: seen };
    try {
      const { etag } = await store.putJson(ref, document, resultMetadata(document), { condition, ...callOptions });
      return { kind: 'written', etag };
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
      if (conflicts + 1 >= MAX_CONFLICTS) {
        throw new ResultWriteError(`s3://${ref.bucket}/${ref.key} kept changing under ${MAX_CONFLICTS} conditional writes`, {
          cause: err,
        });
      }
      const now = await store.head(ref, { forbiddenMeansAbsent: true, ...callOptions });
      const stored = now ? storedResultOf(now) : undefined;
      if (
        stored &&
        stored.sourceEtag === document.source.etag &&
        stored.fingerprint === document.fingerprint &&
        stored.state === 'final'
      ) {
        return { kind: 'duplicate' };
      }
      seen = stored?.etag;
    }
  }
}

/** Largest stored document worth reading back. */
const MAX_STORED_DOCUMENT_BYTES = 8 * 1024 * 1024;

/**
 * A stored document read back, when it parses, passes its schema and still
 * describes `sourceEtag` under `fingerprint`; anything else is ignored,
 * never trusted (`undefined`).
 *
 * @param expect.etag read only this version of the result object (`If-Match`).
 */
export async function readStoredDocument(
  store: ObjectStore,
  ref: ObjectRef,
  expect: { readonly sourceEtag: string; readonly fingerprint: string; readonly etag?: string; readonly signal?: AbortSignal },
): Promise<ResultDocument | undefined> {
  const read = await store
    .read(ref, {
      maxBytes: MAX_STORED_DOCUMENT_BYTES,
      ...(expect.etag !== undefined ? { etag: expect.etag } : {}),
      ...(expect.signal ? { signal: expect.signal } : {}),
    })
    .catch(() => undefined);
  if (!read) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.body.toString('utf8'));
  } catch {
    return undefined;
  }
  const doc = resultDocumentSchema.safeParse(parsed);
  if (!doc.success || doc.data.source.etag !== expect.sourceEtag || doc.data.fingerprint !== expect.fingerprint) return undefined;
  return doc.data;
}
