/**
 * The data that flows through the Step Functions state machine, one zod
 * schema per task input. The state machine's JSONPaths (in
 * `infra/constructs/stepfunctions-pipeline.ts`) and the task handlers both
 * follow these shapes; parsing them at each task turns a wiring mistake into
 * an `EVENT_INVALID` error naming the task and the path, not a crash later.
 *
 * Only references travel between states (bucket, key, ETag, field names),
 * never image bytes: Step Functions limits a state's data to 256 KiB.
 */
import * as z from 'zod';
import type { FieldOutcome, SourceRef } from '../document';
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

/** The execution input the starter sends: the object as the S3 event named it (key decoded). */
export const runInputSchema = z.looseObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  etag: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
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
  /** The result object's ETag when Prepare saw one (Merge writes with `If-Match` on it, else `If-None-Match: *`). */
  readonly resultEtag?: string;
  /** The field names the Map state iterates over, in field-set order. */
  readonly fields: readonly string[];
  /** When the run started, ISO 8601: the document's `startedAt`. */
  readonly startedAt: string;
}

/** Prepare's answer when nothing is left to do: skipped, or rejected (its document already written). */
export interface FinishedRun {
  readonly action: 'done';
  readonly status: 'skipped' | 'rejected';
  /** Why it was skipped. */
  readonly reason?: SkipReason;
  /** The result document's key, when there is one. */
  readonly resultKey?: string;
}

/** What the Prepare task returns; the Choice state reads `action`. */
export type PrepareOutput = PreparedRun | FinishedRun;

const preparedRunSchema = z.object({
  action: z.literal('extract'),
  source: sourceSchema,
  resultRef: objectRefSchema,
  resultEtag: z.string().optional(),
  fields: z.array(z.string().min(1)),
  startedAt: z.iso.datetime(),
});

/** The input of one ExtractField task: one field name and the image's reference. */
export const extractFieldInputSchema = z.object({
  field: z.string().min(1),
  source: sourceSchema,
});
export type ExtractFieldInput = z.infer<typeof extractFieldInputSchema>;

/** A Step Functions error as a Catch hands it on: `Error` is the name, `Cause` the detail. */
export const taskErrorSchema = z.looseObject({
  Error: z.string().optional(),
  Cause: z.string().optional(),
});
export type TaskError = z.infer<typeof taskErrorSchema>;

/** A field whose ExtractField task failed as a whole (the iterator's Catch records it). */
export interface FieldTaskFailure {
  readonly name: string;
  readonly taskError: TaskError;
}

/** One Map iteration's result: the field's outcome, or its task's failure. */
export type FieldTaskResult = FieldOutcome | FieldTaskFailure;

const fieldTaskResultSchema = z.union([
  z.object({ name: z.string().min(1), taskError: taskErrorSchema }),
  // The outcome's `result` is checked in full by the document schema when it is merged.
  z.object({ name: z.string().min(1), value: z.unknown(), result: z.looseObject({ status: z.enum(['ok', 'error']) }) }),
]);

/** The input of the Merge task. */
export const mergeInputSchema = z.object({
  source: sourceSchema,
  resultRef: objectRefSchema,
  resultEtag: z.string().optional(),
  startedAt: z.iso.datetime(),
  outcomes: z.array(fieldTaskResultSchema),
});
export interface MergeInput {
  readonly source: SourceRef;
  readonly resultRef: ObjectRef;
  readonly resultEtag?: string;
  readonly startedAt: string;
  readonly outcomes: readonly FieldTaskResult[];
}

/** What Merge (and RecordFailure) return: the execution's output. */
export interface RunResult {
  readonly status: 'complete' | 'partial' | 'failed' | 'skipped';
  /** Whether the written document is retryable (see the document's `retryable`). */
  readonly retryable?: boolean;
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
