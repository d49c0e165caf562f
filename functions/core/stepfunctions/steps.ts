/**
 * The direct mode's job split into Step Functions tasks: Prepare (guard,
 * idempotency, resumption, rejection), ExtractField (one field, its outcome
 * written as a part), Merge (one document), RecordFailure (the document
 * when a task broke) and RecordFieldFailure (a field's part when its task
 * broke). Each step reuses the direct mode's own pieces
 * (`admit`, `extractField`, `mergeResult`, `publishResult`), so both modes
 * write the same document for the same image and the same answers, and
 * follow the same rules: a final current result is a duplicate, a
 * retryable one is resumed (its good fields kept, only the failed ones
 * asked again), and a document is only ever written conditionally.
 */
import type { Gate } from '../adaptive-limit';
import { admit } from '../admission';
import { cacheEntryRef, imageDigest, lookupCachedAnswers, storeCachedAnswers } from '../content-cache';
import {
  failedResult,
  mergeResult,
  rejectedResult,
  sourceOf,
  type CacheInfo,
  type DocumentFrame,
  type ErrorInfo,
  type FieldOutcome,
  type ResultDocument,
  type SourceRef,
} from '../document';
import { ErrorCode, FieldlensError, FieldSetError, InputRejectedError, ObjectNotFoundError, toErrorInfo } from '../errors';
import { extractField } from '../extract';
import { notImageError, prepareImage, sniffImage, SNIFF_BYTES } from '../image';
import { fieldPartRefFor, keyGuard, resultRefFor, type FieldPartRun } from '../keys';
import type { Clock, Logger, ModelClient, ObjectRef, ObjectStore } from '../ports';
import { publishResult, readStoredDocument, storedResultOf } from '../result-writer';
import type { ModelSettings, PipelineSettings } from '../settings';
import type {
  ExtractFieldInput,
  FieldPartRef,
  FieldTaskResult,
  MergeInput,
  CacheSlot,
  PreparedRun,
  PrepareOutput,
  RecordFailureInput,
  RecordFieldFailureInput,
  RunInput,
  RunResult,
  TaskError,
} from './contract';
import { deleteFieldParts, partFailure, readFieldPart, writeFieldPart } from './field-parts';

/** What the tasks that touch no model need. */
export interface StepDeps {
  readonly store: ObjectStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: PipelineSettings;
  /** Recorded in every document. */
  readonly modelName: string;
}

/** What ExtractField needs: the model and its settings besides the store. */
export interface ExtractStepDeps {
  readonly store: ObjectStore;
  readonly model: ModelClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: PipelineSettings;
  readonly modelSettings: ModelSettings;
  /** The request gate of the invocation (the fleet gate, when the fleet shares one); absent: none, one field has one request at a time. */
  readonly limit?: Gate;
}

/** Longest error message kept from a task failure; a Lambda's Cause can carry a whole stack trace. */
const MAX_TASK_MESSAGE = 1000;

/**
 * Prepare: steps 1-3 of the job. Guards the key, skips duplicates, writes a
 * `rejected` document for an empty, oversized or non-image object (sniffed
 * from its first bytes only), and otherwise returns references for the
 * fan-out: the fields to ask (all of them, or only those a retryable
 * document failed), the ones kept, and this run's number. Never returns
 * the image itself. With the content cache off it reads the first bytes
 * only; with it on it reads the image once to hash it, and an image whose
 * bytes were answered before under this configuration gets its document
 * here, with no model call (status `complete`).
 */
export async function prepareRun(deps: StepDeps, input: RunInput): Promise<PrepareOutput> {
  const { store, settings, clock } = deps;
  const startedAt = new Date(clock.now());
  const admission = await admit(deps, input);
  if (admission.kind === 'skip') {
    return { action: 'done', status: 'skipped', reason: admission.reason, ...(admission.resultRef ? { resultKey: admission.resultRef.key } : {}) };
  }
  const { info, slot } = admission;
  const resultRef = slot.ref;
  const resume = admission.kind === 'accept' ? admission.resume : undefined;
  // At least one more than the generation the run was named after, so the
  // next event names its run anew, even when the document could not be read back.
  const runs = Math.max(resume?.runs ?? 0, input.generation ?? 0) + 1;
  const reject = async (error: ErrorInfo): Promise<PrepareOutput> => {
    const frame = { source: sourceOf(info), modelName: deps.modelName, fingerprint: settings.fingerprint, runs, startedAt, finishedAt: new Date(clock.now()) };
    const published = await publishResult({
      store,
      ref: resultRef,
      document: rejectedResult(frame, error),
      seenEtag: slot.seenEtag,
      checkSource: !(admission.kind === 'reject' && admission.fallback),
    });
    if (published.kind !== 'written') return { action: 'done', status: 'skipped', reason: published.kind, resultKey: resultRef.key };
    return { action: 'done', status: 'rejected', resultKey: resultRef.key };
  };
  if (admission.kind === 'reject') return reject(admission.error.toJSON());

  let body: Buffer;
  try {
    const read = await store.read(info, {
      maxBytes: settings.maxImageBytes,
      etag: info.etag,
      ...(settings.contentCache ? {} : { firstBytes: SNIFF_BYTES }),
    });
    if (!read) return { action: 'done', status: 'skipped', reason: 'not-found', resultKey: resultRef.key };
    body = read.body;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return { action: 'done', status: 'skipped', reason: 'not-found', resultKey: resultRef.key };
    if (err instanceof InputRejectedError) return reject(err.toJSON());
    throw err;
  }
  const mime = sniffImage(body.subarray(0, SNIFF_BYTES));
  if (!mime) return reject(notImageError(info.contentType).toJSON());

  let cache: CacheSlot | null = null;
  if (settings.contentCache) {
    const digest = imageDigest(body);
    const lookup = await lookupCachedAnswers({
      store,
      ref: cacheEntryRef(resultRef.bucket, settings.contentCache, settings.fingerprint, digest),
      digest,
      scope: settings,
      logger: deps.logger,
    });
    if (lookup.kind === 'hit') {
      deps.logger.info('content cache hit: answers of an identical image, no model call', { cacheSourceKey: lookup.cache.source?.key });
      const document = mergeResult(frameOf(deps, sourceOf(info, mime), startedAt.toISOString(), runs, lookup.cache), lookup.outcomes, settings);
      const published = await publishResult({ store, ref: resultRef, document, seenEtag: slot.seenEtag });
      if (published.kind !== 'written') return { action: 'done', status: 'skipped', reason: published.kind, resultKey: resultRef.key };
      return { action: 'done', status: 'complete', resultKey: resultRef.key };
    }
    cache = { digest, replace: lookup.invalid };
  }

  const kept = settings.fields.filter((f) => resume?.fieldResults[f.name]?.status === 'ok').map((f) => f.name);
  return {
    action: 'extract',
    source: sourceOf(info, mime),
    resultRef,
    resultEtag: slot.seenEtag ?? null,
    fields: settings.fields.filter((f) => !kept.includes(f.name)).map((f) => f.name),
    kept,
    runs,
    startedAt: startedAt.toISOString(),
    cache,
  };
}

/**
 * ExtractField: one field of one image, with the direct mode's retries,
 * re-ask and answer parsing; its outcome is written as the run's part for
 * that field and only the reference is returned. Reads the image only if it
 * still has the ETag Prepare saw. Like a field in direct mode it does not
 * throw for a failed field: the failure is its outcome.
 *
 * @throws {FieldSetError} when the field is not in the configured set (the
 *   functions were deployed with different field sets).
 * @throws whatever the store throws reading the image or writing the part
 *   (the Map's Catch then records the field as `TASK_FAILED`).
 */
export async function extractFieldRun(
  deps: ExtractStepDeps,
  input: ExtractFieldInput,
  deadline: { readonly signal: AbortSignal; readonly at: number },
): Promise<FieldPartRef> {
  const outcome = await answerField(deps, input, deadline);
  return writeFieldPart(deps.store, partRun(input.source, deps.settings, input.runs), outcome, deps.settings);
}

async function answerField(
  deps: ExtractStepDeps,
  input: ExtractFieldInput,
  deadline: { readonly signal: AbortSignal; readonly at: number },
): Promise<FieldOutcome> {
  const spec = deps.settings.fields.find((f) => f.name === input.field);
  if (!spec) {
    throw new FieldSetError(
      `field "${input.field}" is not in this function's field set (${deps.settings.fields.map((f) => f.name).join(', ')})`,
    );
  }
  let body: Buffer;
  try {
    const read = await deps.store.read(input.source, { maxBytes: deps.settings.maxImageBytes, etag: input.source.etag });
    if (!read) return failedOutcome(spec.name, new ObjectNotFoundError('the image was deleted or replaced after the run started'));
    body = read.body;
  } catch (err) {
    if (err instanceof ObjectNotFoundError || err instanceof InputRejectedError) return failedOutcome(spec.name, err);
    throw err;
  }
  const mime = sniffImage(body.subarray(0, SNIFF_BYTES));
  if (!mime) return failedOutcome(spec.name, notImageError(input.source.contentType));
  return extractField(spec, {
    image: prepareImage(body, mime),
    model: deps.model,
    deadline: deadline.signal,
    deadlineAt: deadline.at,
    ...deps.modelSettings,
    ...(deps.limit ? { limit: deps.limit } : {}),
    clock: deps.clock,
    logger: deps.logger,
  });
}

/**
 * RecordFieldFailure: a crashed ExtractField task becomes that field's
 * part, failed with `TASK_FAILED` and the task's error (its message only,
 * never a stack trace), so Merge reads it like any other field and the
 * other fields are kept.
 */
export async function recordFieldFailure(deps: StepDeps, input: RecordFieldFailureInput): Promise<FieldPartRef> {
  const { field, source, runs, taskError } = input.fieldFailure;
  const outcome: FieldOutcome = {
    name: field,
    value: null,
    result: { status: 'error', attempts: 0, latencyMs: 0, error: taskFailureInfo(taskError) },
  };
  deps.logger.warn('a field task failed; its failure is recorded as the field\'s outcome', { field, error: outcome.result.error });
  return writeFieldPart(deps.store, partRun(source, deps.settings, runs), outcome, deps.settings);
}

/**
 * Merge: reads every asked field's part back (a failed task, or a part that
 * is missing or invalid, counts as that field's `TASK_FAILED` error), reads
 * the kept fields from the retryable document Prepare saw, and writes the
 * same document direct mode writes, at the same key, conditionally. Deletes
 * the run's parts afterwards (best effort).
 *
 * Nothing is written when a field found the image gone (as in direct mode:
 * the object was deleted, or replaced and its new version has its own run),
 * nor when the stored result already counts this run (this Merge ran
 * before and its answer was lost).
 */
export async function mergeRun(deps: StepDeps, input: MergeInput): Promise<RunResult> {
  return (await mergeRunDocument(deps, input)).result;
}

/** What Merge did: its answer to the state machine, and the document it wrote (never sent on: the state carries references only). */
export interface MergeDone {
  readonly result: RunResult;
  /** The document written, when one was. */
  readonly document?: ResultDocument;
  /** The fields this run asked (not those kept from an earlier run). */
  readonly asked: readonly string[];
}

/** {@link mergeRun}, with the document it wrote, for the handler's logs and metrics. */
export async function mergeRunDocument(deps: StepDeps, input: MergeInput): Promise<MergeDone> {
  const { store, settings, logger } = deps;
  const run = partRun(input.source, settings, input.runs);
  const askedNames = input.outcomes.map((o) => o.name);
  const skipped = (reason: string): MergeDone => ({
    result: { status: 'skipped', retryable: false, reason, resultKey: input.resultRef.key },
    asked: askedNames,
  });
  // The cache entry, stored after the document and beside the parts' deletion.
  let afterWrite: Promise<unknown> = Promise.resolve();
  try {
    const [asked, existing] = await Promise.all([
      Promise.all(input.outcomes.map((o) => outcomeOf(store, o, run, settings))),
      store.head(input.resultRef, { forbiddenMeansAbsent: true }),
    ]);
    const stored = existing ? storedResultOf(existing) : undefined;
    if (stored && isCurrent(stored, input.source.etag, settings) && (stored.state === 'final' || stored.runs >= input.runs)) {
      return skipped('duplicate');
    }
    if (asked.some((o) => o.result.error?.code === ErrorCode.OBJECT_NOT_FOUND)) return skipped('not-found');

    const kept = await keptOutcomes(store, {
      ref: input.resultRef,
      etag: input.resultEtag ?? undefined,
      source: input.source,
      fingerprint: settings.fingerprint,
      names: input.kept,
    });
    const byName = new Map(asked.map((o) => [o.name, o]));
    const outcomes = settings.fields.map(
      (f) =>
        kept.get(f.name) ??
        byName.get(f.name) ??
        (input.kept.includes(f.name)
          ? partFailure(f.name, 'kept from the earlier run, but its document changed before this run merged; asked again next run')
          : partFailure(f.name, 'this run has no outcome for the field')),
    );
    const cacheSlot = settings.contentCache && input.cache ? { ...input.cache, settings: settings.contentCache } : undefined;
    const frame = frameOf(deps, input.source, input.startedAt, input.runs, cacheSlot ? { hit: false } : undefined);
    const document = mergeResult(frame, outcomes, deps.settings);
    const published = await publishResult({ store, ref: input.resultRef, document, seenEtag: input.resultEtag ?? undefined });
    if (published.kind !== 'written') return skipped(published.kind);
    if (cacheSlot) {
      // After the document, as in direct mode: an entry never exists without its result.
      afterWrite = storeCachedAnswers({
        store,
        ref: cacheEntryRef(input.resultRef.bucket, cacheSlot.settings, settings.fingerprint, cacheSlot.digest),
        digest: cacheSlot.digest,
        document,
        logger,
        now: new Date(deps.clock.now()),
        replace: cacheSlot.replace,
      });
    }
    return {
      result: {
        status: document.status as RunResult['status'],
        retryable: document.retryable ?? false,
        resultBucket: input.resultRef.bucket,
        resultKey: input.resultRef.key,
      },
      document,
      asked: askedNames,
    };
  } finally {
    const [, left] = await Promise.all([afterWrite, deleteFieldParts(store, run, askedNames, settings)]);
    if (left > 0) logger.warn('some field parts could not be deleted; the lifecycle rule expires them', { left });
  }
}

/**
 * RecordFailure: writes the document direct mode writes when its
 * extraction breaks as a whole, with the caught task error as `TASK_FAILED`
 * for every field, except those a stored retryable document of this version
 * and configuration already has right: they are kept, as a retry would
 * keep them. Works from whatever the run had reached: Prepare's references
 * if it answered, else the execution input. Never overwrites a final result
 * for this version and configuration, nor one this run already wrote, and
 * never writes for a key the pipeline does not own.
 */
export async function recordRunFailure(deps: StepDeps, input: RecordFailureInput): Promise<RunResult> {
  const { run } = input;
  const { settings, store, clock } = deps;
  const guard = keyGuard(run.key, settings);
  if (guard) return { status: 'skipped', retryable: false, reason: guard };

  const prepared = run.prepared?.action === 'extract' ? (run.prepared as PreparedRun) : undefined;
  const source: SourceRef = prepared?.source ?? { bucket: run.bucket, key: run.key, etag: run.etag ?? '', bytes: run.size ?? 0 };
  const resultRef: ObjectRef = prepared?.resultRef ?? resultRefFor(run, settings);
  const startedAt = prepared?.startedAt ?? input.executionStartedAt ?? new Date(clock.now()).toISOString();
  const parts = prepared?.runs ? partRun(source, settings, prepared.runs) : undefined;

  try {
    const existing = await store.head(resultRef, { forbiddenMeansAbsent: true });
    const stored = existing ? storedResultOf(existing) : undefined;
    const current = stored && source.etag !== '' && isCurrent(stored, source.etag, settings) ? stored : undefined;
    // Prepare's number for the run when it answered; else one past what is stored and what the name was made from.
    const runs = prepared?.runs ?? Math.max((current?.runs ?? 0) + 1, (run.generation ?? 0) + 1);
    if (current && (current.state === 'final' || current.runs >= runs)) {
      return { status: 'skipped', retryable: false, reason: 'duplicate', resultBucket: resultRef.bucket, resultKey: resultRef.key };
    }
    const error = taskFailureInfo(run.failure);
    deps.logger.error('a task failed; writing the failed document', { resultKey: resultRef.key, error });
    const kept =
      current?.state === 'retryable'
        ? await keptOutcomes(store, { ref: resultRef, etag: current.etag, source, fingerprint: settings.fingerprint })
        : new Map<string, FieldOutcome>();
    const frame = frameOf(deps, source, startedAt, runs);
    const names = settings.fields.map((f) => f.name);
    const document: ResultDocument =
      kept.size === 0
        ? failedResult(frame, names, error)
        : mergeResult(
            frame,
            names.map((name) => kept.get(name) ?? { name, value: null, result: { status: 'error', attempts: 0, latencyMs: 0, error } }),
            deps.settings,
          );
    const published = await publishResult({ store, ref: resultRef, document, seenEtag: existing?.etag, checkSource: source.etag !== '' });
    if (published.kind !== 'written') return { status: 'skipped', retryable: false, reason: published.kind, resultKey: resultRef.key };
    return { status: document.status as RunResult['status'], retryable: document.retryable ?? false, resultBucket: resultRef.bucket, resultKey: resultRef.key };
  } finally {
    if (parts && prepared) await deleteFieldParts(store, parts, prepared.fields, settings);
  }
}

/**
 * A caught Step Functions error as the document's `{ code, message }`.
 * Lambda reports a function error with `Cause` as JSON
 * (`{"errorType", "errorMessage", "trace"}`); only its message is kept, so
 * stack traces never land in a result document.
 */
export function taskFailureInfo(error: TaskError): ErrorInfo {
  const name = error.Error || 'States.TaskFailed';
  let detail = error.Cause ?? '';
  try {
    const parsed: unknown = JSON.parse(detail);
    const message = (parsed as { errorMessage?: unknown })?.errorMessage;
    if (typeof message === 'string') detail = message;
  } catch {
    // Not JSON: Step Functions' own errors (States.Timeout, …) carry plain text.
  }
  const message = detail ? `${name}: ${detail}` : name;
  return {
    code: ErrorCode.TASK_FAILED,
    message: message.length > MAX_TASK_MESSAGE ? `${message.slice(0, MAX_TASK_MESSAGE - 1)}…` : message,
  };
}

/** One Map iteration's result as a field outcome: its part read back, or its task's failure. */
async function outcomeOf(store: ObjectStore, r: FieldTaskResult, run: FieldPartRun, settings: PipelineSettings): Promise<FieldOutcome> {
  if ('taskError' in r) {
    return { name: r.name, value: null, result: { status: 'error', attempts: 0, latencyMs: 0, error: taskFailureInfo(r.taskError) } };
  }
  return readFieldPart(store, r.name, r.ref, fieldPartRefFor(run, r.name, settings));
}

/**
 * The good fields of the stored document, read only from the version with
 * `etag` (S3's `If-Match`), and only if it still describes this source
 * version and configuration. Anything else yields nothing: those fields are
 * then failed and asked again next run, never trusted.
 *
 * @param names which fields to keep; all good ones when absent.
 */
async function keptOutcomes(
  store: ObjectStore,
  o: { ref: ObjectRef; etag: string | undefined; source: SourceRef; fingerprint: string; names?: readonly string[] },
): Promise<Map<string, FieldOutcome>> {
  const kept = new Map<string, FieldOutcome>();
  if (o.etag === undefined || o.names?.length === 0) return kept;
  const doc = await readStoredDocument(store, o.ref, { sourceEtag: o.source.etag, fingerprint: o.fingerprint, etag: o.etag });
  if (!doc) return kept;
  for (const [name, result] of Object.entries(doc.fieldResults)) {
    if (result.status !== 'ok' || (o.names && !o.names.includes(name))) continue;
    kept.set(name, { name, value: doc.fields[name] ?? null, result });
  }
  return kept;
}

function isCurrent(stored: { sourceEtag: string | undefined; fingerprint: string | undefined }, etag: string, settings: PipelineSettings): boolean {
  return stored.sourceEtag === etag && stored.fingerprint === settings.fingerprint;
}

function partRun(source: SourceRef, settings: PipelineSettings, runs: number): FieldPartRun {
  return { source, fingerprint: settings.fingerprint, runs };
}

function frameOf(deps: StepDeps, source: SourceRef, startedAt: string, runs: number, cache?: CacheInfo): DocumentFrame {
  return {
    source,
    modelName: deps.modelName,
    fingerprint: deps.settings.fingerprint,
    runs,
    ...(deps.settings.prices ? { prices: deps.settings.prices } : {}),
    ...(cache ? { cache } : {}),
    startedAt: new Date(startedAt),
    finishedAt: new Date(deps.clock.now()),
  };
}

function failedOutcome(name: string, err: FieldlensError): FieldOutcome {
  return { name, value: null, result: { status: 'error', attempts: 0, latencyMs: 0, error: toErrorInfo(err) } };
}
