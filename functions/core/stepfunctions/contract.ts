/**
 * The data that flows through the Step Functions state machine, one zod
 * schema per task input. The state machine's JSONPaths (in
 * `infra/constructs/stepfunctions-pipeline.ts`) and the task handlers both
 * follow these shapes; parsing them at each task turns a wiring mistake into
 * an `EVENT_INVALID` error naming the task and the path, not a crash later.
 *
 * Only references travel between states (bucket, key, ETag, field names,
 * where each field's outcome was written), never image bytes or answers:
 * Step Functions limits a state's data to 256 KiB.
 */
import * as z from 'zod';
import type { SourceRef } from '../document';
import { ErrorCode, FieldlensError } from '../errors';
import type { SkipReason } from '../keys';
import type { ObjectRef } from '../ports';

const objectRefSchema = z.object({ bucket: z.string().min(1), key: z.string().min(1) });

const sourceSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  etag: z.string(),
  bytes: z.number().int().nonnegative(),
  contentType: z.string().optional(),
});

/**
 * The execution input the starter sends: the object as the S3 event named
 * it (key decoded), the generation the run's name was derived from, and a
 * token of the delivery that started it.
 */
export const runInputSchema = z.looseObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  etag: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  /**
   * How many runs the stored result had when the starter named this one
   * (see `runGenerationOf`): this run's documents count at least one more,
   * so the next event's name is a new one.
   */
  generation: z.number().int().nonnegative().optional(),
  /**
   * The delivery that started the run (the starter's request id and the
   * record's index). Step Functions treats a StartExecution with the same
   * name and the same input as the same call, and answers it with success;
   * with this token a second delivery's input differs, so it gets
   * `ExecutionAlreadyExists` and is told apart as a duplicate.
   */
  delivery: z.string().optional(),
});
/** The execution input. */
export type RunInput = z.infer<typeof runInputSchema>;

/** Prepare's answer when the image goes on to the fan-out. */
export interface PreparedRun {
  readonly action: 'extract';
  /** The `source` of the result document (its `contentType` is the sniffed format). */
  readonly source: SourceRef;
  /** Where the result document goes. */
  readonly resultRef: ObjectRef;
  /**
   * The result object's ETag as Prepare saw it (Merge writes with `If-Match`
   * on it, and reads the kept fields only from that version), or `null`
   * when there was none (`If-None-Match: *`). Never absent: a JSONPath to a
   * missing key fails the state.
   */
  readonly resultEtag: string | null;
  /** The field names the Map state iterates over: the ones to ask, in field-set order. */
  readonly fields: readonly string[];
  /** Fields kept from the stored retryable document (not asked again); Merge reads them back from it. */
  readonly kept: readonly string[];
  /** This run's number: the document's `runs`, and part of every field part's key. */
  readonly runs: number;
  /** When the run started, ISO 8601: the document's `startedAt`. */
  readonly startedAt: string;
  /**
   * The content cache entry Merge stores once the document is written, or
   * `null` when the cache is off. Never absent, like `resultEtag`.
   */
  readonly cache: CacheSlot | null;
}

/** Where a run's answers go in the content cache: the image's digest, and whether an invalid entry is to be replaced. */
export interface CacheSlot {
  /** sha-256 of the image's bytes, hex. */
  readonly digest: string;
  /** The lookup found an entry it could not use: Merge overwrites it. */
  readonly replace: boolean;
}

/** Prepare's answer when nothing is left to do: skipped, or rejected (its document already written). */
export interface FinishedRun {
  readonly action: 'done';
  /** `complete`: answered from the content cache, the document written with no model call. */
  readonly status: 'skipped' | 'rejected' | 'complete';
  /** Why it was skipped. */
  readonly reason?: SkipReason;
  /** The result document's key, when there is one. */
  readonly resultKey?: string;
}

/** What the Prepare task returns; the Choice state reads `action`. */
export type PrepareOutput = PreparedRun | FinishedRun;

const cacheSlotSchema = z.object({ digest: z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha-256 digest'), replace: z.boolean() });

const preparedRunSchema = z.object({
  action: z.literal('extract'),
  source: sourceSchema,
  resultRef: objectRefSchema,
  resultEtag: z.string().nullable().optional(),
  fields: z.array(z.string().min(1)),
  kept: z.array(z.string().min(1)).optional(),
  runs: z.number().int().positive().optional(),
  startedAt: z.iso.datetime(),
  cache: cacheSlotSchema.nullable().optional(),
});

/** The input of one ExtractField task: one field name, the image's reference and the run's number. */
export const extractFieldInputSchema = z.object({
  field: z.string().min(1),
  source: sourceSchema,
  runs: z.number().int().positive(),
});
export type ExtractFieldInput = z.infer<typeof extractFieldInputSchema>;

/**
 * What ExtractField returns: where it wrote the field's outcome, never the
 * answer itself, so the Map's result stays a few hundred bytes per field
 * whatever the answers hold (Step Functions limits a state to 256 KiB).
 */
export interface FieldPartRef {
  readonly name: string;
  /** The field's status, for people reading the execution history; Merge trusts only the part. */
  readonly status: 'ok' | 'error';
  readonly ref: ObjectRef;
}

/** A Step Functions error as a Catch hands it on: `Error` is the name, `Cause` the detail. */
export const taskErrorSchema = z.looseObject({
  Error: z.string().optional(),
  Cause: z.string().optional(),
});
export type TaskError = z.infer<typeof taskErrorSchema>;

/**
 * The input of the RecordFieldFailure task, where a crashed ExtractField's
 * Catch leads: the iteration's input and the caught error. It writes the
 * failure as the field's part, so even a long error cause never adds to
 * the Map's result.
 */
export const recordFieldFailureInputSchema = z.object({
  fieldFailure: extractFieldInputSchema.extend({ taskError: taskErrorSchema }),
});
export type RecordFieldFailureInput = z.infer<typeof recordFieldFailureInputSchema>;

/**
 * A field whose task failed and whose failure could not be written as a
 * part either (the last Catch of the iteration): only the error's name is
 * kept, at most 256 characters, so the state stays bounded.
 */
export interface FieldTaskFailure {
  readonly name: string;
  readonly taskError: TaskError;
}

/** One Map iteration's result: where the field's outcome is, or its task's failure. */
export type FieldTaskResult = FieldPartRef | FieldTaskFailure;

const fieldTaskResultSchema = z.union([
  z.object({ name: z.string().min(1), taskError: taskErrorSchema }),
  z.object({ name: z.string().min(1), status: z.enum(['ok', 'error']), ref: objectRefSchema }),
]);

/** The input of the Merge task. */
export const mergeInputSchema = z.object({
  source: sourceSchema,
  resultRef: objectRefSchema,
  resultEtag: z.string().nullable().optional(),
  startedAt: z.iso.datetime(),
  runs: z.number().int().positive(),
  kept: z.array(z.string().min(1)),
  outcomes: z.array(fieldTaskResultSchema),
  cache: cacheSlotSchema.nullable().optional(),
});
export interface MergeInput {
  readonly source: SourceRef;
  readonly resultRef: ObjectRef;
  /** See {@link PreparedRun.resultEtag}. */
  readonly resultEtag?: string | null;
  readonly startedAt: string;
  readonly runs: number;
  readonly kept: readonly string[];
  readonly outcomes: readonly FieldTaskResult[];
  /** See {@link PreparedRun.cache}. */
  readonly cache?: CacheSlot | null;
}

/** What Merge (and RecordFailure) return: the execution's output, and what the last Choice reads. */
export interface RunResult {
  readonly status: 'complete' | 'partial' | 'failed' | 'skipped';
  /**
   * Whether the written document is retryable (see the document's
   * `retryable`); always present (`false` when nothing was written), since
   * the Choice after Merge reads it.
   */
  readonly retryable: boolean;
  readonly resultBucket?: string;
  readonly resultKey?: string;
  /** Why nothing was written, when `status` is `skipped`. */
  readonly reason?: string;
}

/**
 * The input of the RecordFailure task: the whole state at the moment a Catch
 * fired (the execution input, Prepare's answer if it got that far, the
 * caught error) and the execution's start time.
 */
export const recordFailureInputSchema = z.object({
  run: runInputSchema.extend({
    prepared: z.union([preparedRunSchema, z.looseObject({ action: z.literal('done') })]).optional(),
    failure: taskErrorSchema,
  }),
  executionStartedAt: z.iso.datetime({ offset: true }).optional(),
});
export type RecordFailureInput = z.infer<typeof recordFailureInputSchema>;

/**
 * Parses a task's input.
 *
 * @throws {FieldlensError} `EVENT_INVALID`, naming the task and the first bad path.
 */
export function parseTaskInput<S extends z.ZodType>(schema: S, input: unknown, task: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new FieldlensError(
    ErrorCode.EVENT_INVALID,
    `${task}: unexpected input at ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
  );
}
