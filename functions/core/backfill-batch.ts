/**
 * The contract between the backfill state machine and its item function:
 * what an ItemBatcher batch looks like, and what the function returns.
 *
 * ```
 * in:  { Items: [{ Key, ETag, Size, … }], BatchInput: { bucket, only, dryRun, source }, tally? }
 * out: { Items: [items not started for lack of time], BatchInput, tally }
 * ```
 *
 * The output has the input's shape on purpose: the child workflow invokes
 * the function again with it while `Items` is not empty, so a batch larger
 * than one invocation's time is finished by the next invocation, and the
 * last output carries the batch's whole tally (what the ResultWriter
 * records). Pure: zod and plain values.
 */
import * as z from 'zod';
import { BACKFILL_SELECTIONS, backfillItemFrom, EMPTY_TALLY, type BackfillItem, type BackfillSelection, type BackfillTally } from './backfill';
import { ErrorCode, FieldlensError } from './errors';

/** Where the items of a run come from: a ListObjectsV2 listing, or an S3 Inventory report (URL-encoded keys). */
export const BACKFILL_SOURCES = Object.freeze(['list', 'inventory'] as const);
export type BackfillSource = (typeof BACKFILL_SOURCES)[number];

/** One listed object as ListObjectsV2 or an S3 Inventory row names it (other fields are ignored). */
const listedItemSchema = z.looseObject({
  Key: z.string().min(1),
  ETag: z.string().optional(),
  Size: z.union([z.number(), z.string()]).optional(),
  Bucket: z.string().min(1).optional(),
});
export type ListedItem = z.infer<typeof listedItemSchema>;

const tallySchema = z.object({
  items: z.number().int().nonnegative(),
  outcomes: z.record(z.string(), z.number().int().nonnegative()),
  modelCalls: z.number().int().nonnegative(),
  failures: z.array(z.object({ key: z.string(), code: z.string(), message: z.string() })),
});

/** What every batch of a run carries besides its items. */
export const batchInputSchema = z.object({
  /** The listed bucket (ListObjectsV2 items do not name it). */
  bucket: z.string().min(1),
  only: z.enum(BACKFILL_SELECTIONS).default('all'),
  dryRun: z.boolean().default(false),
  source: z.enum(BACKFILL_SOURCES).default('list'),
});
export type BatchInput = z.output<typeof batchInputSchema>;

const batchSchema = z.object({
  Items: z.array(listedItemSchema),
  BatchInput: batchInputSchema,
  tally: tallySchema.optional(),
});

/** A batch, checked. */
export interface BackfillBatch {
  readonly items: readonly BackfillItem[];
  /** The listed items as they came (returned as they are when left for the next invocation). */
  readonly listed: readonly ListedItem[];
  readonly batchInput: BatchInput;
  readonly selection: BackfillSelection;
  /** The tally of the earlier invocations of this batch. */
  readonly carried: BackfillTally;
}

/** The function's output: the next invocation's input. */
export interface BackfillBatchOutput {
  readonly Items: readonly ListedItem[];
  readonly BatchInput: BatchInput;
  readonly tally: BackfillTally;
}

/**
 * Reads a batch as the Distributed Map's ItemBatcher delivers it.
 *
 * @throws {FieldlensError} `EVENT_INVALID` naming the first problem.
 */
export function readBackfillBatch(input: unknown): BackfillBatch {
  const parsed = batchSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FieldlensError(ErrorCode.EVENT_INVALID, `backfill batch: ${issue.path.join('.') || 'input'} ${issue.message}`);
  }
  const { Items, BatchInput, tally } = parsed.data;
  const encoding = BatchInput.source === 'inventory' ? 'url' : 'plain';
  return {
    items: Items.map((i) => backfillItemFrom(i, BatchInput.bucket, encoding)),
    listed: Items,
    batchInput: BatchInput,
    selection: BatchInput.only,
    carried: (tally as BackfillTally | undefined) ?? EMPTY_TALLY,
  };
}

/**
 * The time an invocation keeps for another image before starting it: one
 * attempt of every round of fields (`ceil(F / perImage) × MODEL_TIMEOUT_MS`),
 * at most half the invocation's budget, so a long model timeout still lets
 * a few images share an invocation.
 */
export function reserveForAnotherImage(input: {
  readonly fieldCount: number;
  readonly perImage: number;
  readonly timeoutMs: number;
  readonly budgetMs: number;
}): number {
  const rounds = Math.ceil(input.fieldCount / Math.max(1, input.perImage));
  return Math.min(rounds * input.timeoutMs, Math.floor(input.budgetMs / 2));
}
