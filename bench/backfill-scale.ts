/**
 * Section `backfill`: a bucket that already holds N small objects (10,000 by
 * default), backfilled in process as `npm run backfill --local` does it (the
 * real item handler, batches, the backfill's part of the budget), against
 * the local S3-compatible server and the OpenAI-compatible test server, each
 * in a process of its own.
 *
 * Checked from real data, not from the run's own counters alone: every
 * object ends with exactly one result, current for its ETag and final,
 * written once (`result-runs` 1); the test server saw exactly N × F
 * requests (none computed twice) and never more at once than the backfill's
 * budget; a second run over the same prefix costs zero model calls.
 */
import { performance } from 'node:perf_hooks';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { unquote } from '../functions/core/events';
import { createLimit } from '../functions/core/limit';
import { RESULT_METADATA } from '../functions/core/result-writer';
import { createBackfillItemsHandler } from '../functions/backfill-items';
import { createModelClient } from '../functions/model-client';
import { closeSharedPools } from '../functions/adapters/openai-chat';
import { loadModelRuntime, once } from '../functions/runtime';
import { describeBudget, shareEndpoint } from '../infra/backfill-budget';
import { listPrefix, runLocalBackfill } from '../local/backfill-local';
import { noisePng } from './images';
import { startBenchS3 } from './local-s3';
import { fixed, type Check, type SectionResult } from './report';
import { localS3Client } from './s3-client';
import { round } from './stats';
import { startBenchModel } from './test-model';

export interface BackfillScaleOptions {
  /** Objects already in the bucket. */
  readonly objects: number;
  /** Fields per object. */
  readonly fields: number;
  /** The endpoint's capacity; the backfill gets `share` of it. */
  readonly capacity: number;
  readonly share: number;
  /** Test server latency per request. */
  readonly latencyMs: number;
  /** Objects per batch (per invocation). */
  readonly batchSize: number;
}

export interface BackfillScaleFigures {
  readonly objects: number;
  readonly fields: number;
  readonly budget: string;
  readonly uploadSeconds: number;
  readonly first: { readonly seconds: number; readonly itemsPerSecond: number; readonly modelRequests: number; readonly maxInFlight: number; readonly invocations: number };
  readonly second: { readonly seconds: number; readonly itemsPerSecond: number; readonly modelRequests: number };
  readonly results: { readonly documents: number; readonly current: number; readonly writtenOnce: number };
}

const PREFIX = 'incoming/backfill/';

export async function runBackfillScaleSection(o: BackfillScaleOptions): Promise<SectionResult<BackfillScaleFigures>> {
  const fields = Array.from({ length: o.fields }, (_, i) => ({ name: `field_${i + 1}`, prompt: `Field ${i + 1} of the label.`, type: 'string' }));
  const shared = shareEndpoint({ capacity: o.capacity, fieldCount: o.fields, share: o.share });
  const [s3, model] = await Promise.all([startBenchS3(), startBenchModel({ defaultLatencyMs: o.latencyMs })]);
  const client = localS3Client(s3.endpoint);
  try {
    // The objects already there: small PNGs, each its own bytes (so each its own ETag).
    const uploadStarted = performance.now();
    const put = createLimit(32);
    const base = noisePng(256);
    await Promise.all(
      Array.from({ length: o.objects }, (_, i) =>
        put(() =>
          client.send(
            new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}${String(i).padStart(6, '0')}.png`, Body: Buffer.concat([base.bytes, Buffer.from(String(i))]), ContentType: 'image/png' }),
          ),
        ),
      ),
    );
    const uploadSeconds = (performance.now() - uploadStarted) / 1000;

    const env = {
      MODEL_BASE_URL: model.endpoint.baseUrl,
      MODEL_NAME: model.endpoint.name,
      FIELDS: JSON.stringify(fields),
      MODEL_MAX_CONCURRENCY: String(shared.backfill.perImage),
      LOG_LEVEL: 'error',
    };
    const handler = createBackfillItemsHandler(
      once(() => loadModelRuntime(env, createModelClient, { s3Client: client, metrics: { publish: () => undefined } })),
    );
    const run = async () => {
      await model.reset();
      const started = performance.now();
      const result = await runLocalBackfill({
        client,
        bucket: s3.bucket,
        prefix: PREFIX,
        only: 'all',
        dryRun: false,
        batchSize: o.batchSize,
        imagesAtOnce: shared.backfill.concurrentImages,
        handler,
      });
      const seconds = (performance.now() - started) / 1000;
      return { result, seconds, stats: await model.stats() };
    };
    const first = await run();
    const second = await run();
    const results = await checkResults(client, s3.bucket);

    const n = o.objects;
    const written = first.result.tally.outcomes['written:complete'] ?? 0;
    const checks: Check[] = [
      check('objects listed (every page)', `= ${n}`, first.result.listed, first.result.listed === n),
      check('first run: written once each', `= ${n}`, written, written === n && first.result.tally.items === n),
      check('first run: model requests (none computed twice)', `= ${n} × ${o.fields}`, first.stats.requests, first.stats.requests === n * o.fields),
      check('requests in flight at most', `≤ ${shared.backfill.maxInFlight} (backfill budget)`, first.stats.maxInFlight, first.stats.maxInFlight <= shared.backfill.maxInFlight),
      check('documents, current and final, written once', `= ${n}`, `${results.current}/${results.documents}, ${results.writtenOnce} once`, results.documents === n && results.current === n && results.writtenOnce === n),
      check('second run: model requests', '= 0', second.stats.requests, second.stats.requests === 0),
      check('second run: every object current', `= ${n}`, second.result.tally.outcomes.current ?? 0, second.result.tally.outcomes.current === n),
    ];
    const figures: BackfillScaleFigures = {
      objects: n,
      fields: o.fields,
      budget: describeBudget(shared.backfill),
      uploadSeconds: round(uploadSeconds, 1),
      first: {
        seconds: round(first.seconds, 1),
        itemsPerSecond: round(n / first.seconds, 1),
        modelRequests: first.stats.requests,
        maxInFlight: first.stats.maxInFlight,
        invocations: first.result.invocations,
      },
      second: { seconds: round(second.seconds, 1), itemsPerSecond: round(n / second.seconds, 1), modelRequests: second.stats.requests },
      results,
    };
    return {
      id: 'backfill',
      title: 'Backfill of a bucket that already holds objects',
      figures,
      tables: [
        {
          title: `${n} objects × ${o.fields} fields, test server latency ${o.latencyMs} ms; backfill budget ${figures.budget} (share ${o.share} of ${o.capacity}); batches of ${o.batchSize}`,
          columns: ['run', 'seconds', 'objects/s', 'model requests', 'most in flight'],
          rows: [
            ['first (every object computed)', fixed(first.seconds, 1), fixed(n / first.seconds, 1), String(first.stats.requests), String(first.stats.maxInFlight)],
            ['second (every result current)', fixed(second.seconds, 1), fixed(n / second.seconds, 1), String(second.stats.requests), String(second.stats.maxInFlight)],
          ],
          notes: [`upload of the ${n} objects: ${fixed(uploadSeconds, 1)} s (not part of the backfill)`],
        },
      ],
      checks,
    };
  } finally {
    client.destroy();
    await closeSharedPools();
    await Promise.all([s3.close(), model.close()]);
  }
}

/** HEADs every result: one per object, current for the object's ETag, final, written by one run. */
async function checkResults(client: S3Client, bucket: string): Promise<BackfillScaleFigures['results']> {
  const sources = new Map((await listPrefix(client, bucket, PREFIX)).map((i) => [i.Key, unquote(i.ETag ?? '')]));
  const results = (await listPrefix(client, bucket, 'results/backfill/')).filter((i) => i.Key.endsWith('.json'));
  const head = createLimit(32);
  let current = 0;
  let writtenOnce = 0;
  await Promise.all(
    results.map((r) =>
      head(async () => {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: r.Key }));
        const m = out.Metadata ?? {};
        const source = `incoming/${r.Key.slice('results/'.length, -'.json'.length)}`;
        if (m[RESULT_METADATA.sourceEtag] === sources.get(source) && m[RESULT_METADATA.state] === 'final') current++;
        if (m[RESULT_METADATA.runs] === '1') writtenOnce++;
      }),
    ),
  );
  return { documents: results.length, current, writtenOnce };
}

function check(name: string, target: string, value: number | string, pass: boolean): Check {
  return { name, target, value: String(value), pass };
}
