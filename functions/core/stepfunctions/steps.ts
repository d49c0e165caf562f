/**
 * The direct mode's job split into Step Functions tasks: Prepare (guard,
 * idempotency, rejection), ExtractField (one field), Merge (one document),
 * RecordFailure (the document when a task broke). Each step reuses the
 * direct mode's own pieces (`admit`, `extractField`, `mergeResult`,
 * `writeResult`), so both modes write the same document for the same image
 * and the same answers.
 */
import { admit } from '../admission';
import { failedResult, mergeResult, rejectedResult, sourceOf, type ErrorInfo, type FieldOutcome } from '../document';
import { ErrorCode, FieldlensError, FieldSetError, InputRejectedError, ObjectNotFoundError, toErrorInfo } from '../errors';
import { extractField } from '../extract';
import { notImageError, prepareImage, sniffImage, SNIFF_BYTES } from '../image';
import { keyGuard, resultRefFor } from '../keys';
import type { Clock, Logger, ModelClient, ObjectRef, ObjectStore } from '../ports';
import { publishResult, RESULT_METADATA } from '../result-writer';
import type { ModelSettings, PipelineSettings } from '../settings';
import type {
  ExtractFieldInput,
  FieldTaskResult,
  MergeInput,
  PrepareOutput,
  RecordFailureInput,
  RunInput,
  RunResult,
  TaskError,
} from './contract';

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
}

/** Longest error message kept from a task failure; a Lambda's Cause can carry a whole stack trace. */
const MAX_TASK_MESSAGE = 1000;

/**
 * Prepare: steps 1-3 of the job. Guards the key, skips duplicates, writes a
 * `rejected` document for an empty, oversized or non-image object (sniffed
 * from its first bytes only), and otherwise returns references for the
 * fan-out. Never reads or returns the image itself.
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
  const reject = async (error: ErrorInfo): Promise<PrepareOutput> => {
    const frame = { source: sourceOf(info), modelName: deps.modelName, fingerprint: settings.fingerprint, startedAt, finishedAt: new Date(clock.now()) };
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

  let head: Buffer;
  try {
    const read = await store.read(info, { maxBytes: settings.maxImageBytes, etag: info.etag, firstBytes: SNIFF_BYTES });
    if (!read) return { action: 'done', status: 'skipped', reason: 'not-found', resultKey: resultRef.key };
    head = read.body;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return { action: 'done', status: 'skipped', reason: 'not-found', resultKey: resultRef.key };
    throw err;
  }
  const mime = sniffImage(head);
  if (!mime) return reject(notImageError(info.contentType).toJSON());

  return {
    action: 'extract',
    source: sourceOf(info, mime),
    resultRef,
    ...(slot.seenEtag ? { resultEtag: slot.seenEtag } : {}),
    fields: settings.fields.map((f) => f.name),
    startedAt: startedAt.toISOString(),
  };
}

/**
 * ExtractField: one field of one image, with the direct mode's retries,
 * re-ask and answer parsing. Reads the image only if it still has the ETag
 * Prepare saw. Like a field in direct mode it does not throw for a failed
 * field: the failure is its outcome.
 *
 * @throws {FieldSetError} when the field is not in the configured set (the
 *   functions were deployed with different field sets).
 */
export async function extractFieldRun(
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
    clock: deps.clock,
    logger: deps.logger,
  });
}

/**
 * Merge: the per-field outcomes (a failed task counts as a failed field
 * with `TASK_FAILED`) into the same document direct mode writes, at the same
 * key. When a field found the image gone, nothing is written, as in direct
 * mode: the object was deleted, or replaced and its new version has its own run.
 */
export async function mergeRun(deps: StepDeps, input: MergeInput): Promise<RunResult> {
  const outcomes = input.outcomes.map(toOutcome);
  if (outcomes.some((o) => o.result.error?.code === ErrorCode.OBJECT_NOT_FOUND)) {
    return { status: 'skipped', reason: 'not-found', resultKey: input.resultRef.key };
  }
  const frame = {
    source: input.source,
    modelName: deps.modelName,
    fingerprint: deps.settings.fingerprint,
    startedAt: new Date(input.startedAt),
    finishedAt: new Date(deps.clock.now()),
  };
  const document = mergeResult(frame, outcomes, deps.settings);
  const published = await publishResult({ store: deps.store, ref: input.resultRef, document, seenEtag: input.resultEtag });
  if (published.kind !== 'written') return { status: 'skipped', reason: published.kind, resultKey: input.resultRef.key };
  return {
    status: document.status as RunResult['status'],
    retryable: document.retryable ?? false,
    resultBucket: input.resultRef.bucket,
    resultKey: input.resultRef.key,
  };
}

/**
 * RecordFailure: writes the `failed` document direct mode writes when its
 * extraction breaks as a whole, with the caught task error as `TASK_FAILED`.
 * Works from whatever the run had reached: Prepare's references if it
 * answered, else the execution input. Never overwrites a result already
 * written for this object version, and never writes for a key the pipeline
 * does not own.
 */
export async function recordRunFailure(deps: StepDeps, input: RecordFailureInput): Promise<RunResult> {
  const { run } = input;
  const { settings, store, clock } = deps;
  const guard = keyGuard(run.key, settings);
  if (guard) return { status: 'skipped', reason: guard };

  const prepared = run.prepared?.action === 'extract' ? (run.prepared as Extract<PrepareOutput, { action: 'extract' }>) : undefined;
  const source = prepared?.source ?? { bucket: run.bucket, key: run.key, etag: run.etag ?? '', bytes: run.size ?? 0 };
  const resultRef: ObjectRef = prepared?.resultRef ?? resultRefFor(run, settings);
  const fields = prepared?.fields ?? settings.fields.map((f) => f.name);
  const startedAt = new Date(prepared?.startedAt ?? input.executionStartedAt ?? clock.now());

  const existing = await store.head(resultRef, { forbiddenMeansAbsent: true });
  if (
    source.etag &&
    existing?.metadata[RESULT_METADATA.sourceEtag] === source.etag &&
    existing.metadata[RESULT_METADATA.fingerprint] === settings.fingerprint &&
    existing.metadata[RESULT_METADATA.state] === 'final'
  ) {
    return { status: 'skipped', reason: 'duplicate', resultBucket: resultRef.bucket, resultKey: resultRef.key };
  }
  const error = taskFailureInfo(run.failure);
  deps.logger.error('a task failed; writing the failed document', { resultKey: resultRef.key, error });
  const frame = { source, modelName: deps.modelName, fingerprint: settings.fingerprint, startedAt, finishedAt: new Date(clock.now()) };
  const document = failedResult(frame, fields, error);
  const published = await publishResult({ store, ref: resultRef, document, seenEtag: existing?.etag, checkSource: source.etag !== '' });
  if (published.kind !== 'written') return { status: 'skipped', reason: published.kind, resultKey: resultRef.key };
  return { status: 'failed', retryable: document.retryable ?? false, resultBucket: resultRef.bucket, resultKey: resultRef.key };
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

function toOutcome(r: FieldTaskResult): FieldOutcome {
  if ('taskError' in r) {
    return {
      name: r.name,
      value: null,
      result: { status: 'error', attempts: 0, latencyMs: 0, error: taskFailureInfo(r.taskError) },
    };
  }
  return r;
}

function failedOutcome(name: string, err: FieldlensError): FieldOutcome {
  return { name, value: null, result: { status: 'error', attempts: 0, latencyMs: 0, error: toErrorInfo(err) } };
}
