/**
 * The backfill over the direct-mode rig: the real item handler wired to
 * s3rver and the OpenAI-compatible test server, and batches made the way
 * the Distributed Map's ItemReader and ItemBatcher make them.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Pool } from 'undici';
import type { BatchInput } from '../../functions/core/backfill-batch';
import { createBackfillItemsHandler, type BackfillItemsHandler } from '../../functions/backfill-items';
import { createModelClient } from '../../functions/model-client';
import { loadModelRuntime, once, type RuntimeParts } from '../../functions/runtime';
import { BUCKET, type Rig } from './harness';

/** The item handler over the rig, with this extra environment (FIELDS, MODEL_MAX_CONCURRENCY, …); `close` ends its pool. */
export function backfillHandlerFor(
  rig: Rig,
  extra: Record<string, string> = {},
  parts: Pick<RuntimeParts, 'dynamoDbClient'> = {},
): { handler: BackfillItemsHandler; close: () => Promise<void> } {
  const pools: Pool[] = [];
  const env = { MODEL_BASE_URL: rig.model.baseUrl, MODEL_NAME: 'test-model', DEADLINE_MARGIN_MS: '500', LOG_LEVEL: 'warn', ...extra };
  const handler = createBackfillItemsHandler(
    once(() =>
      loadModelRuntime(
        env,
        (config) => {
          const pool = new Pool(new URL(config.model.baseUrl).origin, { connections: config.model.maxConcurrency });
          pools.push(pool);
          return createModelClient(config, { dispatcher: pool });
        },
        { ...parts, s3Client: rig.client, logWrite: (l) => void rig.logLines.push(l) },
      ),
    ),
  );
  return { handler, close: async () => void (await Promise.all(pools.map((p) => p.destroy()))) };
}

/** What ListObjectsV2 lists under `prefix`, every page, as Step Functions passes the items on (JSON: dates as strings). */
export async function listedObjects(client: S3Client, prefix: string, bucket = BUCKET): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const c of page.Contents ?? []) out.push(JSON.parse(JSON.stringify({ Key: c.Key, ETag: c.ETag, Size: c.Size, LastModified: c.LastModified, StorageClass: c.StorageClass })));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Batches as ItemBatcher makes them: `size` items each, with the run's BatchInput. */
export function batchesOf(items: ReadonlyArray<Record<string, unknown>>, size: number, batchInput: Partial<BatchInput> = {}) {
  const input = { bucket: BUCKET, only: 'all', dryRun: false, source: 'list', ...batchInput };
  const batches: Array<{ Items: Array<Record<string, unknown>>; BatchInput: typeof input }> = [];
  for (let i = 0; i < items.length; i += size) batches.push({ Items: items.slice(i, i + size), BatchInput: input });
  return batches;
}
