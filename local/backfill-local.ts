/**
 * The backfill on this machine: what the deployed state machine does, in
 * process. The prefix is listed with ListObjectsV2 (every page), cut into
 * batches, and `imagesAtOnce` workers (the Map's `MaxConcurrency`) each hand
 * one batch at a time to the same item handler Lambda runs, invoking it
 * again with what it left until nothing is left (the child workflow's loop).
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { addTallies, EMPTY_TALLY, type BackfillSelection, type BackfillTally } from '../functions/core/backfill';
import type { BackfillBatchOutput, BatchInput } from '../functions/core/backfill-batch';
import { toErrorInfo } from '../functions/core/errors';
import type { BackfillItemsHandler } from '../functions/backfill-items';

/** Options of {@link runLocalBackfill}. */
export interface LocalBackfillOptions {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly only: BackfillSelection;
  readonly dryRun: boolean;
  /** Objects per batch. */
  readonly batchSize: number;
  /** Batches worked on at once: the backfill's images at once, from the endpoint budget. */
  readonly imagesAtOnce: number;
  readonly handler: BackfillItemsHandler;
  /**
   * The time each invocation is given, as Lambda would.
   * @default 900_000 (Lambda's most)
   */
  readonly invocationMs?: number;
  /** Called after every invocation with the tally so far and the items listed. */
  readonly onProgress?: (progress: { readonly tally: BackfillTally; readonly total: number }) => void;
}

/** What a local run did. */
export interface LocalBackfillResult {
  readonly tally: BackfillTally;
  /** Objects the listing found. */
  readonly listed: number;
  /** Invocations of the item handler (more than the batches when one ran out of time). */
  readonly invocations: number;
}

/** Lists every object under `prefix`, page after page, as the ItemReader does. */
export async function listPrefix(client: S3Client, bucket: string, prefix: string): Promise<Array<{ Key: string; ETag?: string; Size?: number }>> {
  const items: Array<{ Key: string; ETag?: string; Size?: number }> = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const c of page.Contents ?? []) {
      if (c.Key) items.push({ Key: c.Key, ...(c.ETag ? { ETag: c.ETag } : {}), ...(c.Size !== undefined ? { Size: c.Size } : {}) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    if (page.IsTruncated && !token) throw new Error(`the listing of s3://${bucket}/${prefix} says it is truncated but gives no continuation token`);
  } while (token);
  return items;
}

/**
 * Runs the backfill of `prefix` in process.
 *
 * A batch whose every object failed (the handler throws) counts its objects
 * as failed, as a failed child workflow does in the Map Run.
 */
export async function runLocalBackfill(o: LocalBackfillOptions): Promise<LocalBackfillResult> {
  const listed = await listPrefix(o.client, o.bucket, o.prefix);
  const batchInput: BatchInput = { bucket: o.bucket, only: o.only, dryRun: o.dryRun, source: 'list' };
  const batches: Array<typeof listed> = [];
  for (let i = 0; i < listed.length; i += o.batchSize) batches.push(listed.slice(i, i + o.batchSize));

  // Each batch's tally so far (the handler carries it from one invocation to the next); the run's is their sum.
  const perBatch: BackfillTally[] = [];
  const runTally = () => perBatch.reduce<BackfillTally>((sum, t) => (t ? addTallies(sum, t) : sum), EMPTY_TALLY);
  let invocations = 0;
  let next = 0;
  const invocationMs = o.invocationMs ?? 900_000;
  const context = () => {
    const end = Date.now() + invocationMs;
    invocations++;
    return { awsRequestId: `local-backfill-${invocations}`, getRemainingTimeInMillis: () => end - Date.now() };
  };

  const worker = async (): Promise<void> => {
    for (let b = next++; b < batches.length; b = next++) {
      const batch = batches[b]!;
      let input: unknown = { Items: batch, BatchInput: batchInput };
      try {
        for (;;) {
          const out: BackfillBatchOutput = await o.handler(input, context());
          perBatch[b] = out.tally;
          o.onProgress?.({ tally: runTally(), total: listed.length });
          if (out.Items.length === 0) break;
          input = out;
        }
      } catch (err) {
        const info = toErrorInfo(err);
        const done = perBatch[b] ?? EMPTY_TALLY;
        const left = batch.length - done.items;
        perBatch[b] = addTallies(done, { items: left, outcomes: { failed: left }, modelCalls: 0, failures: [{ key: batch[done.items]?.Key ?? '?', code: info.code, message: info.message }] });
        o.onProgress?.({ tally: runTally(), total: listed.length });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.imagesAtOnce) }, worker));
  return { tally: runTally(), listed: listed.length, invocations };
}
