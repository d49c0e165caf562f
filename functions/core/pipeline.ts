/**
 * One object, end to end: guard, idempotency, bounded read, fan-out, merge,
 * write. Shared by the direct handler and (split into steps) by the Step
 * Functions tasks, so both modes write the same document.
 */
import { ErrorCode, InputRejectedError, ObjectNotFoundError, toErrorInfo } from './errors';
import { extractFields } from './extract';
import type { FieldSet } from './fields';
import type { Limit } from './limit';
import { prepareImage, sniffImage, SNIFF_BYTES } from './image';
import type { Clock, ImageMime, Logger, ModelClient, ObjectInfo, ObjectRef, ObjectStore } from './ports';
import {
  failedResult,
  mergeResult,
  rejectedResult,
  resultKeyFor,
  type DocumentFrame,
  type ErrorInfo,
  type ResultDocument,
} from './result';

/** User metadata on every result: the source ETag it was computed from. */
export const SOURCE_ETAG_METADATA = 'source-etag';

/** Where things are and how much is allowed; plain values from the config. */
export interface PipelineSettings {
  readonly fields: FieldSet;
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  /** Results bucket; the source bucket when unset. */
  readonly outputBucket?: string;
  readonly maxImageBytes: number;
}

export interface ModelSettings {
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  readonly maxTokens: number;
}

export interface PipelineDeps {
  readonly store: ObjectStore;
  /** The invocation's request gate (see `createLimit`); one per invocation. */
  readonly limit?: Limit;
  readonly model: ModelClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: PipelineSettings;
  readonly modelSettings: ModelSettings;
}

/** What the event told us about the object (size and ETag may be missing). */
export interface SourceHint extends ObjectRef {
  readonly etag?: string;
  readonly size?: number;
}

export type SkipReason = 'outside-input-prefix' | 'under-output-prefix' | 'folder-marker' | 'duplicate' | 'not-found';

export type ProcessOutcome =
  | { readonly kind: 'skipped'; readonly reason: SkipReason; readonly resultKey?: string }
  | { readonly kind: 'written'; readonly resultKey: string; readonly document: ResultDocument };

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

/** Where the result of `source` is written. */
export function resultRefFor(source: ObjectRef, settings: PipelineSettings): ObjectRef {
  return {
    bucket: settings.outputBucket ?? source.bucket,
    key: resultKeyFor(source.key, settings.inputPrefix, settings.outputPrefix),
  };
}

/** The outcome of admitting an object, before any model call. */
export type Admission =
  | { readonly kind: 'skip'; readonly reason: SkipReason; readonly resultRef?: ObjectRef }
  | { readonly kind: 'reject'; readonly info: ObjectInfo; readonly resultRef: ObjectRef; readonly error: InputRejectedError }
  | { readonly kind: 'accept'; readonly info: ObjectInfo; readonly resultRef: ObjectRef };

/**
 * Steps 2-3 of the job: guard the key, find the object, skip duplicates,
 * reject what is empty or too large. Reads no image bytes.
 */
export async function admit(deps: Pick<PipelineDeps, 'store' | 'settings'>, hint: SourceHint): Promise<Admission> {
  const { store, settings } = deps;
  const guard = keyGuard(hint.key, settings);
  if (guard) return { kind: 'skip', reason: guard };
  const resultRef = resultRefFor(hint, settings);

  const [info, existing] = await Promise.all([
    store.head(hint),
    store.head(resultRef, { forbiddenMeansAbsent: true }),
  ]);
  if (!info) return { kind: 'skip', reason: 'not-found', resultRef };
  if (hint.etag && info.etag !== hint.etag) {
    // Replaced since the event: the newer object's own event will process it.
    return { kind: 'skip', reason: 'not-found', resultRef };
  }
  if (existing && existing.metadata[SOURCE_ETAG_METADATA] === info.etag) {
    return { kind: 'skip', reason: 'duplicate', resultRef };
  }
  if (info.bytes === 0) {
    return { kind: 'reject', info, resultRef, error: new InputRejectedError(ErrorCode.INPUT_EMPTY, 'the object is empty') };
  }
  if (info.bytes > settings.maxImageBytes) {
    return {
      kind: 'reject',
      info,
      resultRef,
      error: new InputRejectedError(
        ErrorCode.INPUT_TOO_LARGE,
        `the object is ${info.bytes} bytes, over the limit of ${settings.maxImageBytes} bytes (MAX_IMAGE_BYTES)`,
      ),
    };
  }
  return { kind: 'accept', info, resultRef };
}

/** The source part of a document, from the object's metadata. */
export function sourceOf(info: ObjectInfo, mime?: ImageMime): ResultDocument['source'] {
  const contentType = mime ?? info.contentType;
  return {
    bucket: info.bucket,
    key: info.key,
    etag: info.etag,
    bytes: info.bytes,
    ...(contentType ? { contentType } : {}),
  };
}

/** The error when an object's bytes are not a supported image. */
export function notImageError(declared: string | undefined): InputRejectedError {
  return new InputRejectedError(
    ErrorCode.INPUT_NOT_IMAGE,
    `the object is not a JPEG, PNG, WebP or GIF image by its content${declared ? ` (declared ${declared})` : ''}`,
  );
}

/** Writes a document beside its source ETag, so a duplicate event can skip it. */
export async function writeResult(store: ObjectStore, ref: ObjectRef, document: ResultDocument): Promise<void> {
  await store.putJson(ref, document, { [SOURCE_ETAG_METADATA]: document.source.etag });
}

/**
 * The direct mode's whole job for one object.
 *
 * @param deadline the invocation's deadline (see `startDeadline`).
 * @throws only when the result cannot be written (so the platform retries
 *   the event and, in the end, the dead-letter queue has it).
 */
export async function processObject(
  deps: PipelineDeps,
  hint: SourceHint,
  deadline: { readonly signal: AbortSignal; readonly at: number },
): Promise<ProcessOutcome> {
  const { store, settings, clock, logger } = deps;
  const startedAt = new Date(clock.now());
  const admission = await admit(deps, hint);
  if (admission.kind === 'skip') {
    return { kind: 'skipped', reason: admission.reason, ...(admission.resultRef ? { resultKey: admission.resultRef.key } : {}) };
  }
  const { info, resultRef } = admission;
  const frame = (mime?: ImageMime): DocumentFrame => ({
    source: sourceOf(info, mime),
    modelName: deps.model.modelName,
    startedAt,
    finishedAt: new Date(clock.now()),
  });
  const write = async (document: ResultDocument): Promise<ProcessOutcome> => {
    await writeResult(store, resultRef, document);
    return { kind: 'written', resultKey: resultRef.key, document };
  };

  if (admission.kind === 'reject') return write(rejectedResult(frame(), admission.error.toJSON()));

  let body: Buffer;
  try {
    const read = await store.read(info, { maxBytes: settings.maxImageBytes, etag: info.etag });
    if (!read) return { kind: 'skipped', reason: 'not-found', resultKey: resultRef.key };
    body = read.body;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return { kind: 'skipped', reason: 'not-found', resultKey: resultRef.key };
    if (err instanceof InputRejectedError) return write(rejectedResult(frame(), err.toJSON()));
    throw err;
  }

  const mime = sniffImage(body.subarray(0, SNIFF_BYTES));
  if (!mime) return write(rejectedResult(frame(), notImageError(info.contentType).toJSON()));

  let document: ResultDocument;
  try {
    const outcomes = await extractFields({
      image: prepareImage(body, mime),
      fields: settings.fields,
      model: deps.model,
      deadline: deadline.signal,
      deadlineAt: deadline.at,
      concurrency: deps.modelSettings.concurrency,
      ...(deps.limit ? { limit: deps.limit } : {}),
      timeoutMs: deps.modelSettings.timeoutMs,
      maxRetries: deps.modelSettings.maxRetries,
      maxTokens: deps.modelSettings.maxTokens,
      clock,
      logger,
    });
    document = mergeResult(frame(mime), outcomes);
  } catch (err) {
    // Fields never throw; reaching here is a bug. Still write a document.
    logger.error('extraction failed as a whole', { error: toErrorInfo(err) });
    document = failedResult(frame(mime), settings.fields.map((f) => f.name), toErrorInfo(err) as ErrorInfo);
  }
  return write(document);
}
