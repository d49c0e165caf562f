/**
 * The direct mode's whole job for one object: admission, bounded read,
 * fan-out, merge, write. The Step Functions variant runs the same pieces as
 * separate tasks (`stepfunctions/steps.ts`), so both write the same document.
 */
import { admit, type SourceHint } from './admission';
import { failedResult, mergeResult, rejectedResult, sourceOf, type DocumentFrame, type ErrorInfo, type ResultDocument } from './document';
import { InputRejectedError, ObjectNotFoundError, toErrorInfo } from './errors';
import { extractFields } from './extract';
import { notImageError, prepareImage, sniffImage, SNIFF_BYTES } from './image';
import type { SkipReason } from './keys';
import type { Limit } from './limit';
import type { Clock, ImageMime, Logger, ModelClient, ObjectStore } from './ports';
import { writeResult } from './result-writer';
import type { ModelSettings, PipelineSettings } from './settings';

/** What the direct job needs; the runtime builds it once per cold start, the limit once per invocation. */
export interface DirectDeps {
  readonly store: ObjectStore;
  readonly model: ModelClient;
  /** The invocation's request gate (see `createLimit`), shared by every image of the invocation. */
  readonly limit: Limit;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: PipelineSettings;
  readonly modelSettings: ModelSettings;
}

export type ProcessOutcome =
  | { readonly kind: 'skipped'; readonly reason: SkipReason; readonly resultKey?: string }
  | { readonly kind: 'written'; readonly resultKey: string; readonly document: ResultDocument };

/**
 * The direct mode's whole job for one object.
 *
 * @param deadline the invocation's deadline (see `startDeadline`).
 * @throws only when the object cannot be read or the result cannot be
 *   written (so the platform retries the event and, in the end, the
 *   dead-letter queue has it).
 */
export async function processObject(
  deps: DirectDeps,
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
      limit: deps.limit,
      ...deps.modelSettings,
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
