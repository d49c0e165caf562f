/**
 * `npm start [image …]`: the main job, on this machine.
 *
 * Starts an S3-compatible server on loopback (data in `.fieldlens/s3/`),
 * feeds its object-created events, shaped as real S3 sends them, to the same
 * `on-upload` handler Lambda runs, uploads the images (default: the samples),
 * waits for their results and prints each with a one-line summary.
 *
 * The model endpoint comes from MODEL_BASE_URL / MODEL_NAME / MODEL_API_KEY;
 * without them the offline local model is started and used. With
 * AWS_ENDPOINT_URL_S3 set, that S3-compatible server is used instead of the
 * embedded one (path-style addressing), and the events are made here.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { closeSharedPools } from '../functions/adapters/openai-chat';
import { createS3Client } from '../functions/adapters/s3-store';
import { loadConfig } from '../functions/config';
import { FieldlensError } from '../functions/core/errors';
import { formatCost } from '../functions/core/cost';
import { slowestField, type ResultDocument } from '../functions/core/document';
import { createOnUploadHandler, type DirectResponse } from '../functions/on-upload';
import { createModelClient } from '../functions/model-client';
import { loadModelRuntime, once } from '../functions/runtime';
import { createMetricsCollector, formatMetricsSummary, summariseMetrics } from '../functions/telemetry/summary';
import { startLocalModelServer } from './model-server/server';
import { writeHtmlReport } from './report/write-report';
import { s3ObjectCreatedEvent, startLocalS3, type S3NotificationEvent } from './s3-server';

const DATA_DIR = resolve('.fieldlens/s3');
const SAMPLES_DIR = resolve('samples');
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif']);
/** The most a Lambda invocation may run; the deadline inside is derived from it. */
const INVOCATION_MS = 900_000;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return 0;
  }
  const env = process.env;
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  env.LOG_LEVEL ??= 'warn';
  const bucket = env.FIELDLENS_BUCKET ?? 'fieldlens-local';
  const images = argv.length > 0 ? argv.map((p) => resolve(p)) : await sampleImages();
  if (images.length === 0) {
    console.error(`No images given and none found in ${SAMPLES_DIR}.\n\n${usage()}`);
    return 2;
  }

  const stops: Array<() => Promise<void>> = [];
  try {
    if (!env.MODEL_BASE_URL) {
      if (env.MODEL_NAME || env.MODEL_API_KEY) {
        console.error('MODEL_NAME or MODEL_API_KEY is set but MODEL_BASE_URL is not. Set MODEL_BASE_URL too, e.g.\n' +
          '  MODEL_BASE_URL=http://127.0.0.1:8000/v1 MODEL_NAME=Qwen/Qwen2.5-VL-7B-Instruct npm start');
        return 2;
      }
      const local = await startLocalModelServer({});
      stops.push(local.close);
      env.MODEL_BASE_URL = local.baseUrl;
      env.MODEL_NAME = local.modelName;
      console.log(`model: the offline local model at ${local.baseUrl} (set MODEL_BASE_URL and MODEL_NAME to use a real one)`);
    } else {
      console.log(`model: ${env.MODEL_NAME ?? '(MODEL_NAME not set)'} at ${env.MODEL_BASE_URL}`);
    }
    // Fail here, with the variable named, rather than inside the first event.
    const config = loadConfig(env);

    let events: ((key: string, size: number, etag: string) => Promise<S3NotificationEvent>) | undefined;
    if (env.AWS_ENDPOINT_URL_S3) {
      console.log(`S3: ${env.AWS_ENDPOINT_URL_S3} (AWS_ENDPOINT_URL_S3), bucket ${bucket}`);
      events = async (key, size, etag) => s3ObjectCreatedEvent({ bucket, key, size, etag });
    } else {
      const s3 = await startLocalS3({ directory: DATA_DIR, buckets: [bucket] });
      stops.push(s3.close);
      env.AWS_ENDPOINT_URL_S3 = s3.endpoint;
      env.AWS_REGION ??= 'us-east-1';
      env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
      env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
      console.log(`S3: embedded server at ${s3.endpoint}, bucket ${bucket}, data in ${DATA_DIR}`);
      // Real S3 delivers events asynchronously; collect them by key.
      const waiting = new Map<string, (e: S3NotificationEvent) => void>();
      s3.onObjectCreated((e) => {
        const key = decodeURIComponent(e.Records[0]!.s3.object.key.replace(/\+/g, ' '));
        waiting.get(key)?.(e);
        waiting.delete(key);
      });
      events = (key) => new Promise((done) => waiting.set(key, done));
    }

    const client = createS3Client(env);
    stops.push(async () => client.destroy());
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
    // The handler's metric records, as Lambda would publish them, summed up at the end of the run.
    const metrics = createMetricsCollector();
    const handler = createOnUploadHandler(once(() => loadModelRuntime(env, createModelClient, { s3Client: client, metrics })));
    stops.push(closeSharedPools);

    const results = await Promise.all(
      images.map(async (path) => {
        const key = `${config.inputPrefix}${basename(path)}`;
        const body = await readFile(path);
        const started = Date.now();
        const eventArrives = events!(key, body.length, '');
        const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
        const event = await withEtag(eventArrives, put.ETag);
        const requestId = `local-${basename(path)}`;
        const end = Date.now() + INVOCATION_MS;
        const res = (await handler(event, { awsRequestId: requestId, getRemainingTimeInMillis: () => end - Date.now() })) as DirectResponse;
        const outcome = res.outcomes[0]?.outcome;
        if (!outcome?.resultKey) {
          return { path, line: `✘ ${basename(path)}  skipped (${outcome?.kind === 'skipped' ? outcome.reason : 'no record'})`, ok: false, doc: undefined };
        }
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: outcome.resultKey }));
        const doc = JSON.parse(await out.Body!.transformToString()) as ResultDocument;
        const cached = outcome.kind === 'skipped' ? `  (already computed for this ETag; delete ${DATA_DIR} to recompute)` : '';
        return {
          path,
          line: summary(basename(path), doc, Date.now() - started, `s3://${bucket}/${outcome.resultKey}`) + cached,
          ok: doc.status === 'complete' || doc.status === 'partial',
          doc,
        };
      }),
    );

    for (const r of results) {
      if (r.doc) console.log(`\n${basename(r.path)}:\n${JSON.stringify(r.doc.fields, null, 2)}`);
    }
    console.log('');
    for (const r of results) console.log(r.line);
    console.log(`\n${formatMetricsSummary(summariseMetrics(metrics.records)).join('\n')}`);
    const docs = results.flatMap((r) => (r.doc ? [{ imagePath: r.path, document: r.doc }] : []));
    const report = await writeHtmlReport(resolve('.fieldlens/report.html'), docs, { title: 'fieldlens — npm start', subtitle: `model ${config.model.name}` });
    console.log(`\nreport: ${report}`);
    return results.every((r) => r.ok) ? 0 : 1;
  } catch (err) {
    if (err instanceof FieldlensError) {
      console.error(`${err.code}: ${err.message}`);
      if (err.code === 'CONFIG_INVALID') console.error(`\n${usage()}`);
      return 2;
    }
    throw err;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

/** The event S3 sends carries the new object's ETag; fill it in from PutObject's answer if missing. */
async function withEtag(event: Promise<S3NotificationEvent>, etag: string | undefined): Promise<S3NotificationEvent> {
  const e = await event;
  const object = e.Records[0]!.s3.object;
  if (!object.eTag && etag) object.eTag = etag.replace(/"/g, '');
  return e;
}

function summary(name: string, doc: ResultDocument, wallMs: number, where: string): string {
  const results = Object.entries(doc.fieldResults);
  const ok = results.filter(([, r]) => r.status === 'ok').length;
  const slowest = slowestField(doc);
  const mark = doc.status === 'complete' ? '✔' : doc.status === 'partial' ? '◐' : '✘';
  const failed = results.filter(([, r]) => r.error).map(([n, r]) => `${n}: ${r.error!.code}`);
  return (
    `${mark} ${name}  ${doc.status}  ${ok}/${results.length} fields ok  ${doc.durationMs} ms` +
    (slowest ? `  slowest: ${slowest.name} ${slowest.latencyMs} ms` : '') +
    (doc.cache?.hit ? `  cache hit (answers of ${doc.cache.source?.key ?? 'an identical image'})` : '') +
    (doc.cost ? `  cost ${formatCost(doc.cost)}` : '') +
    (doc.error ? `  ${doc.error.code}: ${doc.error.message}` : '') +
    (failed.length ? `  (${failed.join(', ')})` : '') +
    `  → ${where}` +
    (wallMs > doc.durationMs + 1000 ? `  [${wallMs} ms with upload]` : '')
  );
}

async function sampleImages(): Promise<string[]> {
  try {
    const names = await readdir(SAMPLES_DIR);
    return names.filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort().map((n) => join(SAMPLES_DIR, n));
  } catch {
    return [];
  }
}

function usage(): string {
  return [
    'usage: npm start [-- image …]',
    '',
    'Uploads the images (default: samples/*.png) to an embedded S3-compatible server and',
    'runs the on-upload handler on each object-created event, as Lambda would.',
    '',
    'Model endpoint (default: the offline local model):',
    '  MODEL_BASE_URL   OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1',
    '  MODEL_NAME       the model to ask, e.g. Qwen/Qwen2.5-VL-7B-Instruct',
    '  MODEL_API_KEY    bearer token, if the endpoint needs one',
    'S3 (default: embedded server, data in .fieldlens/s3/):',
    '  AWS_ENDPOINT_URL_S3  use this S3-compatible server instead (bucket: FIELDLENS_BUCKET, default fieldlens-local)',
    'Other settings: see docs/configuration.md (FIELDS, MODEL_MAX_CONCURRENCY, MODEL_TIMEOUT_MS, LOG_LEVEL=info for logs, …).',
  ].join('\n');
}

process.exitCode = await main(process.argv.slice(2));
