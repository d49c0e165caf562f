/**
 * The result document: what fieldlens writes for every object that arrives
 * under the input prefix. Its zod schema is the contract; every document is
 * validated against it before it is written.
 */
import * as z from 'zod';
import { checksSchema, summarise, type ChecksResult } from './checks/findings';
import { runChecks } from './checks/registry';
import type { TokenPrices } from './cost';
import { costOf } from './cost';
import { ErrorCode, TRANSIENT_ERROR_CODES } from './errors';
import type { FieldSet } from './fields';
import type { ImageMime, ObjectInfo } from './ports';
import { DEFAULT_REVIEW_THRESHOLD, reviewFor, reviewSchema, type Review } from './review';
import { documentUsage } from './usage';

/** Bump when a change would break a reader of version 1 documents. */
export const RESULT_VERSION = 1 as const;

const errorInfoSchema = z
  .object({
    code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
  })
  .strict();
export type ErrorInfo = z.infer<typeof errorInfoSchema>;

const usageSchema = z
  .object({
    promptTokens: z.number().int().nonnegative(),
    completionTokens: z.number().int().nonnegative(),
    /**
     * The part of `promptTokens` the endpoint served from its prompt cache
     * (`usage.prompt_tokens_details.cached_tokens`, Bedrock's cache reads);
     * absent when the endpoint reported none.
     */
    cachedTokens: z.number().int().nonnegative().optional(),
  })
  .strict();
/** Token usage, summed over every attempt of a field (retries and re-asks included). */
export type Usage = z.infer<typeof usageSchema>;

const fieldResultSchema = z
  .object({
    status: z.enum(['ok', 'error']),
    /** HTTP requests made for this field: transport retries and the re-ask included. */
    attempts: z.number().int().nonnegative(),
    latencyMs: z.number().int().nonnegative(),
    usage: usageSchema.optional(),
    error: errorInfoSchema.optional(),
    /**
     * How sure the model was of the value, 0-1, from the log-probabilities of
     * the tokens of its answer value (`confidence.ts`); `null` when they were
     * asked for (`MODEL_LOGPROBS`) and the endpoint sent none; absent when
     * they were not asked for, or the field failed.
     */
    confidence: z.number().min(0).max(1).nullable().optional(),
    /** `true` when the first answer was invalid and the value came from the re-ask; absent otherwise. */
    reasked: z.boolean().optional(),
  })
  .strict()
  .refine((r) => (r.status === 'error') === (r.error !== undefined), {
    message: 'a field has an error exactly when its status is "error"',
  });
export type FieldResult = z.infer<typeof fieldResultSchema>;

const sourceSchema = z
  .object({
    bucket: z.string().min(1),
    key: z.string().min(1),
    etag: z.string(),
    bytes: z.number().int().nonnegative(),
    contentType: z.string().optional(),
  })
  .strict();
export type SourceRef = z.infer<typeof sourceSchema>;

const money = z.number().nonnegative();
const costSchema = z
  .object({ currency: z.string().min(1), input: money, cachedInput: money, output: money, total: money })
  .strict();
/** What a document cost at the configured prices (see `cost.ts`). */
export type DocumentCost = z.infer<typeof costSchema>;

const cacheSchema = z
  .object({
    /** `true`: the answers came from the content cache, with no model call. */
    hit: z.boolean(),
    /** The image whose run produced the cached answers (on a hit). */
    source: z.object({ bucket: z.string(), key: z.string(), etag: z.string() }).strict().optional(),
    /** When those answers were cached (on a hit). */
    createdAt: z.iso.datetime().optional(),
  })
  .strict();
/** Whether a document's answers came from the content cache (see `content-cache.ts`). */
export type CacheInfo = z.infer<typeof cacheSchema>;

export const DocumentStatus = z.enum(['complete', 'partial', 'failed', 'rejected']);
export type DocumentStatus = z.infer<typeof DocumentStatus>;

/** The zod schema of a version 1 result document. */
export const resultDocumentSchema = z
  .object({
    version: z.literal(RESULT_VERSION),
    status: DocumentStatus,
    source: sourceSchema,
    fields: z.record(z.string(), z.unknown()),
    fieldResults: z.record(z.string(), fieldResultSchema),
    /**
     * What the checks the field set names found, per field and in sum.
     * Absent when no field names a check, and in rejected and failed-as-a-whole
     * documents (no values to judge). A field that failed has no entry.
     */
    checks: checksSchema.optional(),
    /** Whether a person should look before the values are trusted, and why (`review.ts`). */
    review: reviewSchema.optional(),
    model: z.object({ name: z.string() }).strict(),
    /**
     * The configuration fingerprint that produced it (see `fingerprint.ts`):
     * a later event for the same object recomputes it when this differs.
     */
    fingerprint: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    /**
     * `true` when fields failed for a passing reason (connection, timeout,
     * 5xx, rate limit, deadline): the next delivery of the object's event
     * asks those fields again and keeps the others. `false`: final.
     */
    retryable: z.boolean().optional(),
    /** How many runs contributed to it: 1, then one more for each retry that re-asked failed fields. */
    runs: z.number().int().positive().optional(),
    /** Every field's usage summed (every attempt of every run that contributed). */
    usage: usageSchema.optional(),
    /** That usage at the configured prices; absent when no prices are set. */
    cost: costSchema.optional(),
    /** Set when the content cache was consulted: a hit says where its answers came from. */
    cache: cacheSchema.optional(),
    /** Why the whole document failed or was rejected. */
    error: errorInfoSchema.optional(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    durationMs: z.number().int().nonnegative(),
  })
  .strict()
  .superRefine((doc, ctx) => {
    if (doc.status === 'rejected' && !doc.error) {
      ctx.addIssue({ code: 'custom', message: 'a rejected document says why in "error"' });
    }
    const results = Object.values(doc.fieldResults);
    const ok = results.filter((r) => r.status === 'ok').length;
    const expected: DocumentStatus | undefined =
      doc.status === 'rejected'
        ? 'rejected'
        : results.length > 0 && ok === results.length
          ? 'complete'
          : ok > 0
            ? 'partial'
            : 'failed';
    if (doc.status !== expected) {
      ctx.addIssue({
        code: 'custom',
        message: `status "${doc.status}" does not match the field results (expected "${expected}")`,
      });
    }
  });

export type ResultDocument = z.infer<typeof resultDocumentSchema>;

/** One field's outcome, as the fan-out reports it. */
export interface FieldOutcome {
  readonly name: string;
  readonly value: unknown;
  readonly result: FieldResult;
}

export interface DocumentFrame {
  readonly source: SourceRef;
  readonly modelName: string;
  readonly fingerprint: string;
  /** This run's number (see `runs` in the schema). @default 1 */
  readonly runs?: number;
  /** Prices per million tokens: the document gets a `cost`. @default none, no cost */
  readonly prices?: TokenPrices;
  /** Whether the content cache was consulted, and what it gave. @default not consulted */
  readonly cache?: CacheInfo;
  readonly startedAt: Date;
  readonly finishedAt: Date;
}

/** What the merge judges the values by: the field set's checks and the review threshold. */
export interface TrustSettings {
  /** The field set; each field's `checks` are run over its value. */
  readonly fields: FieldSet;
  /** A field's confidence below this flags the document for review. @default 0.8 */
  readonly reviewThreshold?: number;
}

/**
 * Merges per-field outcomes into one document. Never all-or-nothing: a
 * failed field is `null` in `fields` with its error in `fieldResults`, and
 * the other fields are kept. Both fan-outs (direct and Step Functions) call
 * it, so the checks and the review flag are computed here, over every
 * field, also those kept from an earlier run.
 */
export function mergeResult(frame: DocumentFrame, outcomes: readonly FieldOutcome[], trust: TrustSettings): ResultDocument {
  const fields: Record<string, unknown> = {};
  const fieldResults: Record<string, FieldResult> = {};
  for (const o of outcomes) {
    fields[o.name] = o.result.status === 'ok' ? o.value : null;
    fieldResults[o.name] = o.result;
  }
  const ok = outcomes.filter((o) => o.result.status === 'ok').length;
  const status: DocumentStatus =
    outcomes.length > 0 && ok === outcomes.length ? 'complete' : ok > 0 ? 'partial' : 'failed';
  const checks = checksFor(fields, fieldResults, trust.fields);
  const review = reviewOf(fieldResults, checks, trust.reviewThreshold);
  return finish(frame, { status, fields, fieldResults, ...(checks ? { checks } : {}), review });
}

/**
 * The checks the field set names, over the document's values. A field that
 * failed is left out (it has no value to judge; its review reason says it
 * failed), but its checks still count as carried, so a check that reads it
 * sees `null` rather than "no field provides it".
 */
export function checksFor(
  fields: Readonly<Record<string, unknown>>,
  fieldResults: Readonly<Record<string, FieldResult>>,
  fieldSet: FieldSet,
): ChecksResult | undefined {
  const names: Record<string, readonly string[]> = {};
  for (const f of fieldSet) if (f.checks && f.checks.length > 0 && fieldResults[f.name]) names[f.name] = f.checks;
  if (Object.keys(names).length === 0) return undefined;
  const all = runChecks(fields, names);
  const byField = Object.fromEntries(Object.entries(all.byField).filter(([name]) => fieldResults[name]?.status === 'ok'));
  return { byField, summary: summarise(byField) };
}

/** The review flag from the field results and the checks' findings. */
export function reviewOf(
  fieldResults: Readonly<Record<string, FieldResult>>,
  checks: ChecksResult | undefined,
  threshold: number = DEFAULT_REVIEW_THRESHOLD,
): Review {
  const entries = Object.entries(fieldResults);
  const missing = entries.filter(([, r]) => r.error?.code === ErrorCode.ANSWER_MISSING).map(([n]) => n);
  return reviewFor({
    checks: checks ?? null,
    confidences: Object.fromEntries(entries.filter(([, r]) => r.status === 'ok').map(([n, r]) => [n, r.confidence])),
    threshold,
    // A value that came from the re-ask; a field that failed after it is `failed`.
    reasked: entries.filter(([, r]) => r.status === 'ok' && r.reasked === true).map(([n]) => n),
    missing,
    failed: entries.filter(([n, r]) => r.status === 'error' && !missing.includes(n)).map(([n]) => n),
  });
}

/**
 * The document for an input that cannot be processed; costs no model call.
 * It has no values, so no checks; its review flag is raised with the
 * rejection's code (`rejected:INPUT_NOT_IMAGE`), so one query on
 * `review.needed` finds every upload a person has to deal with.
 */
export function rejectedResult(frame: DocumentFrame, error: ErrorInfo): ResultDocument {
  return finish(frame, {
    status: 'rejected',
    fields: {},
    fieldResults: {},
    review: { needed: true, reasons: [`rejected:${error.code}`] },
    error,
  });
}

/**
 * The document for a run that broke as a whole (a crashed task, an
 * unexpected error): every field listed as failed with that error.
 */
export function failedResult(
  frame: DocumentFrame,
  fieldNames: readonly string[],
  error: ErrorInfo,
): ResultDocument {
  const fields: Record<string, unknown> = {};
  const fieldResults: Record<string, FieldResult> = {};
  for (const name of fieldNames) {
    fields[name] = null;
    fieldResults[name] = { status: 'error', attempts: 0, latencyMs: 0, error };
  }
  return finish(frame, { status: 'failed', fields, fieldResults, review: reviewOf(fieldResults, undefined), error });
}

function finish(
  frame: DocumentFrame,
  body: Pick<ResultDocument, 'status' | 'fields' | 'fieldResults' | 'review'> & { checks?: ChecksResult; error?: ErrorInfo },
): ResultDocument {
  const usage = documentUsage(body.fieldResults);
  const priced = frame.prices && body.status !== 'rejected';
  const doc: ResultDocument = {
    version: RESULT_VERSION,
    status: body.status,
    source: frame.source,
    fields: body.fields,
    fieldResults: body.fieldResults,
    ...(body.checks ? { checks: body.checks } : {}),
    ...(body.review ? { review: body.review } : {}),
    model: { name: frame.modelName },
    fingerprint: frame.fingerprint,
    retryable: isRetryable(body.status, body.fieldResults),
    runs: frame.runs ?? 1,
    ...(usage ? { usage } : {}),
    ...(priced ? { cost: costOf(usage, frame.prices!) } : {}),
    ...(frame.cache ? { cache: frame.cache } : {}),
    ...(body.error ? { error: body.error } : {}),
    startedAt: frame.startedAt.toISOString(),
    finishedAt: frame.finishedAt.toISOString(),
    durationMs: Math.max(0, Math.round(frame.finishedAt.getTime() - frame.startedAt.getTime())),
  };
  return resultDocumentSchema.parse(doc);
}

/**
 * Whether a document with these field results is worth another try: some
 * field failed for a passing reason. A rejected or complete document never is.
 */
export function isRetryable(status: DocumentStatus, fieldResults: Readonly<Record<string, FieldResult>>): boolean {
  if (status === 'rejected' || status === 'complete') return false;
  return Object.values(fieldResults).some((r) => r.error !== undefined && TRANSIENT_ERROR_CODES.has(r.error.code));
}

/**
 * The slowest field of a document and its own latency, or `undefined` for a
 * document without field results (a rejected input). Total time ≈ this, so
 * every summary (logs, `npm start`, the benchmark) reports it.
 */
export function slowestField(doc: Pick<ResultDocument, 'fieldResults'>): { name: string; latencyMs: number } | undefined {
  let slowest: { name: string; latencyMs: number } | undefined;
  for (const [name, r] of Object.entries(doc.fieldResults)) {
    if (!slowest || r.latencyMs > slowest.latencyMs) slowest = { name, latencyMs: r.latencyMs };
  }
  return slowest;
}

/** The source part of a document, from the object's metadata (`mime`: the sniffed format, when known). */
export function sourceOf(info: ObjectInfo, mime?: ImageMime): SourceRef {
  const contentType = mime ?? info.contentType;
  return {
    bucket: info.bucket,
    key: info.key,
    etag: info.etag,
    bytes: info.bytes,
    ...(contentType ? { contentType } : {}),
  };
}
