/**
 * The backfill: objects that are already in the bucket, walked through the
 * same per-object path as an upload (`processObject`: key guard, admission,
 * fingerprint check, lease, fan-out, conditional write).
 *
 * A listed object is first checked with one HEAD of its result (the listing
 * already gave its ETag): a current result costs nothing more, so a second
 * backfill over the same prefix asks the model nothing. Only the objects
 * whose result is missing, stale (another ETag or another configuration) or
 * retryable, and that the selection asks for, go through `processObject`,
 * one image at a time per invocation, under the invocation's request gate.
 *
 * Pure: it talks to S3 and the model through the ports only.
 */
import { isCurrent } from './admission';
import { resultDocumentSchema } from './document';
import { toErrorInfo, type ErrorCode } from './errors';
import { decodeS3Key, unquote } from './events';
import { processObject, type DirectDeps, type Invocation, type ProcessOutcome } from './direct';
import { fallbackResultKeyFor, keyGuard, resultKeyProblem, resultRefFor, type SkipReason } from './keys';
import { createLimit } from './limit';
import type { ObjectRef, ObjectStore } from './ports';
import { storedResultOf } from './result-writer';
import type { PipelineSettings } from './settings';

/** Which objects a backfill computes: those with no result, a stale one, a retryable one, or any of the three. */
export const BACKFILL_SELECTIONS = Object.freeze(['missing', 'stale', 'retryable', 'all'] as const);
export type BackfillSelection = (typeof BACKFILL_SELECTIONS)[number];

/**
 * How an object's stored result stands against its current version and
 * the configuration: none, for another ETag or fingerprint, retryable, or
 * current and final.
 */
export type Freshness = 'missing' | 'stale' | 'retryable' | 'current';

/** One object to backfill, as a listing names it. */
export interface BackfillItem extends ObjectRef {
  /** The listed ETag (quotes removed); without one, the check HEADs the object. */
  readonly etag?: string;
  readonly size?: number;
}

/** Items that failed on their own, listed by key (at most this many per tally). */
export const MAX_LISTED_FAILURES = 20;

/** One item that could not be finished, for the output and the command's report. */
export interface ItemFailure {
  readonly key: string;
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * What a backfill did, summable across batches. Outcome labels:
 * `current` (nothing to do), `skipped:<reason>`, `not-selected:<freshness>`,
 * `would-compute:<freshness>` (dry run), `written:<status>` (with
 * `:retryable` when the document is), `failed`.
 */
export interface BackfillTally {
  /** Items finished (every outcome but the deferred). */
  readonly items: number;
  readonly outcomes: Readonly<Record<string, number>>;
  /**
   * Model requests made (every attempt of every field asked); in a dry run,
   * the requests the computing would take at least (one per field to ask,
   * before any retry or re-ask).
   */
  readonly modelCalls: number;
  /** The first {@link MAX_LISTED_FAILURES} failed items. */
  readonly failures: readonly ItemFailure[];
}

/** The tally of nothing. */
export const EMPTY_TALLY: BackfillTally = Object.freeze({ items: 0, outcomes: Object.freeze({}), modelCalls: 0, failures: Object.freeze([]) });

/** `a + b`, failures capped at {@link MAX_LISTED_FAILURES}. */
export function addTallies(a: BackfillTally, b: BackfillTally): BackfillTally {
  const outcomes: Record<string, number> = { ...a.outcomes };
  for (const [k, v] of Object.entries(b.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  return {
    items: a.items + b.items,
    outcomes,
    modelCalls: a.modelCalls + b.modelCalls,
    failures: [...a.failures, ...b.failures].slice(0, MAX_LISTED_FAILURES),
  };
}

/** Whether `freshness` is one `selection` computes; a current result never is. */
export function isSelected(freshness: Freshness, selection: BackfillSelection): boolean {
  if (freshness === 'current') return false;
  return selection === 'all' || selection === freshness;
}

/** What the check of one item found. */
export type ItemCheck =
  | { readonly kind: 'skip'; readonly reason: SkipReason }
  | { readonly kind: 'checked'; readonly freshness: Freshness; readonly etag: string; readonly resultRef: ObjectRef };

/**
 * Checks one listed object against its stored result: the key guard, then
 * one HEAD of the result (and one of the object when the listing gave no
 * ETag). Reads no image byte and asks no model.
 */
export async function checkItem(
  deps: { readonly store: ObjectStore; readonly settings: PipelineSettings },
  item: BackfillItem,
  signal?: AbortSignal,
): Promise<ItemCheck> {
  const { store, settings } = deps;
  const guard = keyGuard(item.key, settings);
  if (guard) return { kind: 'skip', reason: guard };
  const callOptions = signal ? { signal } : {};
  let etag = item.etag;
  if (etag === undefined) {
    const info = await store.head(item, callOptions);
    if (!info) return { kind: 'skip', reason: 'not-found' };
    etag = info.etag;
  }
  // The same place admission looks: the fallback key for a key whose own result key cannot exist.
  const resultRef = resultKeyProblem(item.key, settings)
    ? { bucket: settings.outputBucket ?? item.bucket, key: fallbackResultKeyFor(item.key, settings.outputPrefix) }
    : resultRefFor(item, settings);
  const existing = await store.head(resultRef, { forbiddenMeansAbsent: true, ...callOptions });
  if (!existing) return { kind: 'checked', freshness: 'missing', etag, resultRef };
  const current = isCurrent(storedResultOf(existing), etag, settings);
  const freshness: Freshness = current === 'final' ? 'current' : current === 'retryable' ? 'retryable' : 'stale';
  return { kind: 'checked', freshness, etag, resultRef };
}

/** Options of {@link runBackfillBatch}. */
export interface BackfillBatchOptions {
  readonly selection: BackfillSelection;
  /** Check and count only: no lease, no image read, no model call, no write. */
  readonly dryRun: boolean;
  /** The invocation the items are computed in (shared by the batch's items). */
  readonly invocation: Invocation;
  /**
   * Whether another image can still be started in this invocation; the
   * first one always is, so every invocation makes progress.
   * @default - always
   */
  readonly hasTimeForAnother?: () => boolean;
  /** Told of each computed object's outcome as it ends (the handler publishes its metrics). */
  readonly onOutcome?: (outcome: ProcessOutcome) => void;
  /**
   * Items checked at once (HEADs only, no model call).
   * @default 8
   */
  readonly checkConcurrency?: number;
}

/** What one batch did, and the items left for another invocation. */
export interface BackfillBatchResult {
  readonly tally: BackfillTally;
  /** Items not started for lack of time, in order: the caller runs them in a fresh invocation. */
  readonly remaining: readonly BackfillItem[];
}

/**
 * Runs one batch of listed objects: checks them all (a few at once), then
 * computes the selected ones one after the other through `processObject`,
 * until the invocation has no time for another. An item that fails is
 * recorded with its error and does not stop the others.
 */
export async function runBackfillBatch(
  deps: DirectDeps,
  items: readonly BackfillItem[],
  options: BackfillBatchOptions,
): Promise<BackfillBatchResult> {
  const { invocation } = options;
  const outcomes: Record<string, number> = {};
  const failures: ItemFailure[] = [];
  let finished = 0;
  let modelCalls = 0;
  const count = (label: string): void => {
    outcomes[label] = (outcomes[label] ?? 0) + 1;
    finished++;
  };
  const fail = (item: BackfillItem, err: unknown): void => {
    count('failed');
    const info = toErrorInfo(err);
    failures.push({ key: item.key, code: info.code, message: info.message });
    deps.logger.error('backfill item not finished', { bucket: item.bucket, key: item.key, error: info });
  };

  const gate = createLimit(options.checkConcurrency ?? 8);
  const checks = await Promise.all(
    items.map((item) =>
      gate(() =>
        checkItem(deps, item, invocation.storeSignal).then(
          (check) => ({ item, check }) as const,
          (err: unknown) => ({ item, error: err }) as const,
        ),
      ),
    ),
  );

  const toCompute: Array<{ item: BackfillItem; etag: string }> = [];
  for (const c of checks) {
    if ('error' in c) {
      fail(c.item, c.error);
      continue;
    }
    const { check, item } = c;
    if (check.kind === 'skip') count(`skipped:${check.reason}`);
    else if (check.freshness === 'current') count('current');
    else if (!isSelected(check.freshness, options.selection)) count(`not-selected:${check.freshness}`);
    else if (options.dryRun) {
      count(`would-compute:${check.freshness}`);
      modelCalls += check.freshness === 'retryable' ? await fieldsToAskAgain(deps, check.resultRef, invocation.storeSignal) : deps.settings.fields.length;
    } else toCompute.push({ item, etag: check.etag });
  }

  for (const [i, { item, etag }] of toCompute.entries()) {
    if (i > 0 && options.hasTimeForAnother && !options.hasTimeForAnother()) {
      return { tally: { items: finished, outcomes, modelCalls, failures: failures.slice(0, MAX_LISTED_FAILURES) }, remaining: toCompute.slice(i).map((t) => t.item) };
    }
    const log = deps.logger.child({ bucket: item.bucket, key: item.key });
    try {
      const outcome = await processObject({ ...deps, logger: log }, { bucket: item.bucket, key: item.key, etag, ...(item.size !== undefined ? { size: item.size } : {}) }, invocation);
      count(outcomeLabel(outcome));
      modelCalls += modelCallsOf(outcome);
      options.onOutcome?.(outcome);
    } catch (err) {
      fail(item, err);
    }
  }
  return { tally: { items: finished, outcomes, modelCalls, failures: failures.slice(0, MAX_LISTED_FAILURES) }, remaining: [] };
}

/** The outcome label of a processed object (see {@link BackfillTally}). */
export function outcomeLabel(outcome: ProcessOutcome): string {
  if (outcome.kind === 'skipped') return `skipped:${outcome.reason}`;
  return `written:${outcome.document.status}${outcome.document.retryable ? ':retryable' : ''}`;
}

/** Requests a processed object cost: every attempt of the fields asked (kept fields cost none). */
function modelCallsOf(outcome: ProcessOutcome): number {
  if (outcome.kind !== 'written') return 0;
  const kept = new Set(outcome.kept);
  return Object.entries(outcome.document.fieldResults)
    .filter(([name]) => !kept.has(name))
    .reduce((sum, [, r]) => sum + r.attempts, 0);
}

/** Fields a retryable document would ask again (those not `ok`); every field when it cannot be read. */
async function fieldsToAskAgain(
  deps: { readonly store: ObjectStore; readonly settings: PipelineSettings },
  ref: ObjectRef,
  signal: AbortSignal | undefined,
): Promise<number> {
  const all = deps.settings.fields.length;
  try {
    const read = await deps.store.read(ref, { maxBytes: 8 * 1024 * 1024, ...(signal ? { signal } : {}) });
    if (!read) return all;
    const doc = resultDocumentSchema.safeParse(JSON.parse(read.body.toString('utf8')));
    if (!doc.success) return all;
    return deps.settings.fields.filter((f) => doc.data.fieldResults[f.name]?.status !== 'ok').length;
  } catch {
    return all;
  }
}

/**
 * A listed object, as a listing reports it: ListObjectsV2 (`Key`, quoted
 * `ETag`, `Size`) or an S3 Inventory row (the same names; its CSV keys are
 * URL-encoded, and its sizes may be strings).
 *
 * @param bucket the bucket listed, for a ListObjectsV2 item (which does not name it).
 */
export function backfillItemFrom(
  listed: { readonly Key: string; readonly ETag?: string; readonly Size?: number | string; readonly Bucket?: string },
  bucket: string,
  keyEncoding: 'plain' | 'url' = 'plain',
): BackfillItem {
  const size = listed.Size === undefined || listed.Size === '' ? undefined : Number(listed.Size);
  return {
    bucket: listed.Bucket ?? bucket,
    key: keyEncoding === 'url' ? decodeS3Key(listed.Key) : listed.Key,
    ...(listed.ETag ? { etag: unquote(listed.ETag) } : {}),
    ...(size !== undefined && Number.isSafeInteger(size) && size >= 0 ? { size } : {}),
  };
}
