/**
 * One soak run: the local S3-compatible server (bench/local-s3.ts, in its
 * own process) and the OpenAI-compatible test server with a seeded fault
 * plan, `--concurrency` execution environments of the real on-upload
 * handler (bench/handler.ts) under simulated asynchronous Lambda
 * (bench/soak-lambda.ts), at-least-once delivery on top, then the bucket
 * read back and every figure counted (bench/soak-accounting.ts).
 *
 * The per-invocation cap is the stack's: `endpointBudget` with the
 * platform limit fixed at `--concurrency` invocations gives
 * `MODEL_MAX_CONCURRENCY = min(F, ⌊C / concurrency⌋)`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createDynamoDbClient } from '../functions/adapters/dynamodb-fleet-store';
import { S3ObjectStore } from '../functions/adapters/s3-store';
import { resultDocumentSchema } from '../functions/core/document';
import { unquote } from '../functions/core/events';
import { resultKeyFor } from '../functions/core/keys';
import type { ProcessOutcome } from '../functions/core/direct';
import type { DirectResponse } from '../functions/on-upload';
import { createMetricsCollector, summariseMetrics, type MetricsSummary } from '../functions/telemetry/summary';
import { endpointBudget } from '../infra/budget';
import type { S3NotificationEvent } from '../local/s3-server';
import { DYNAMODB_TEST_CONFIG, startDynamoDb, type LocalDynamoDb } from '../test/support/dynamodb-server';
import { startOpenAITestServer } from '../test/support/openai-test-server';
import { syntheticFields } from './fields';
import { createBenchHandler, type BenchHandler } from './handler';
import { noisePng } from './images';
import { BENCH_BUCKET, startBenchS3 } from './local-s3';
import { localS3Client } from './s3-client';
import {
  accountSoak,
  type DeliveryKind,
  type DeliveryRecord,
  type FinalObject,
  type SoakFigures,
  type SoakRecord,
  type VersionRecord,
} from './soak-accounting';
import { startAsyncLambda, type AsyncLambda } from './soak-lambda';
import type { SoakOptions } from './soak-options';
import { behaviourFor, draw, writeFails, type PlanRates } from './soak-plan';
import { currentInvocation, faultyStore, imageHash, recordingModel, type ModelCall, type ResultWrite } from './soak-probes';

/** Where the soak's images go (`INPUT_PREFIX`) and their documents (`OUTPUT_PREFIX`). */
export const SOAK_INPUT_PREFIX = 'incoming/';
export const SOAK_OUTPUT_PREFIX = 'results/';
/** `MODEL_NAME` of the soak's handlers. */
const SOAK_MODEL = 'fieldlens-soak';

/** The handler's outcome for one record in a few words. */
function describeOutcome(o: ProcessOutcome): string {
  if (o.kind === 'skipped') return `skipped ${o.reason}`;
  return `written ${o.document.status}${o.document.retryable ? ' retryable' : ''}`;
}

/** An event in the simulated Lambda queue. */
interface SoakEvent {
  readonly version: string;
  readonly kind: DeliveryKind;
  /** The delivery a duplicate repeats. */
  readonly repeats?: number;
  readonly s3: S3NotificationEvent;
}

export interface SoakRun {
  readonly record: SoakRecord;
  readonly figures: SoakFigures;
  /** The handlers' metric records, added up: what CloudWatch would have got from the run. */
  readonly metrics: MetricsSummary;
}

/** Time after the last start for the invocations still running to end, beyond their own Lambda time. */
const SETTLE_GRACE_MS = 15_000;

/**
 * Runs the soak and counts it.
 *
 * @throws when a server cannot start, an upload fails, or the invocations
 *   still running do not end within their Lambda time after the time limit.
 */
export async function runSoak(o: SoakOptions): Promise<SoakRun> {
  const started = performance.now();
  const budget = endpointBudget({ capacity: o.capacity, fieldCount: o.fields, limits: { min: o.concurrency, max: o.concurrency } });
  const fields = syntheticFields(o.fields);

  const versions: VersionRecord[] = [];
  const versionsByHash = new Map<string, string>();
  const modelCalls: ModelCall[] = [];
  const resultWrites: ResultWrite[] = [];
  const writeCounts = new Map<string, number>();
  const requestCounts = new Map<string, number>();
  const faults: Record<string, number> = {};
  // Set from the handler's config once it is built (before any request).
  let plan: PlanRates | undefined;

  const log = o.log ? await openLog(o.log) : undefined;
  const s3 = await startBenchS3();
  const server = await startOpenAITestServer({
    capacity: o.capacity,
    overCapacity: 'reject',
    retryAfterMs: 100,
    handler: (req) => {
      const version = versionsByHash.get(req.imageSha256) ?? req.imageSha256;
      const field = req.field ?? 'unknown';
      const id = `${version}\u0000${field}`;
      const n = requestCounts.get(id) ?? 0;
      requestCounts.set(id, n + 1);
      const { fault, behaviour } = behaviourFor(plan!, version, field, n);
      if (fault) faults[fault] = (faults[fault] ?? 0) + 1;
      return behaviour;
    },
  });
  const clients: S3Client[] = [];
  const handlers: BenchHandler[] = [];
  const metrics = createMetricsCollector();
  const dynamo: LocalDynamoDb | undefined = o.fleetGate ? await startDynamoDb() : undefined;
  const dynamoClients: DynamoDBClient[] = [];
  try {
    if (dynamo) await dynamo.createTable(FLEET_TABLE);
    for (let w = 0; w < o.concurrency; w++) {
      const client = localS3Client(s3.endpoint);
      clients.push(client);
      // Each environment its own DynamoDB client, as each Lambda environment has.
      const dynamoDbClient = dynamo ? await createDynamoDbClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }, DYNAMODB_TEST_CONFIG) : undefined;
      if (dynamoDbClient) dynamoClients.push(dynamoDbClient);
      handlers.push(
        await createBenchHandler({
          s3: client,
          model: { baseUrl: server.baseUrl, name: SOAK_MODEL },
          fields,
          maxConcurrency: budget.perImage,
          env: {
            MODEL_TIMEOUT_MS: String(o.modelTimeoutMs),
            INPUT_PREFIX: SOAK_INPUT_PREFIX,
            OUTPUT_PREFIX: SOAK_OUTPUT_PREFIX,
            LOG_LEVEL: log ? 'info' : 'error',
            ...(dynamo ? { FLEET_GATE_TABLE: FLEET_TABLE, FLEET_GATE_CAPACITY: String(o.capacity) } : {}),
          },
          ...(dynamoDbClient ? { dynamoDbClient } : {}),
          decorateStore: (store) =>
            faultyStore(store, {
              outputPrefix: SOAK_OUTPUT_PREFIX,
              fails: (key, n) => writeFails(plan!, key, n),
              counts: writeCounts,
              writes: resultWrites,
            }),
          decorateModel: (model) => recordingModel(model, modelCalls, (hash) => versionsByHash.get(hash)),
          logWrite: log ? (line) => void log.write(line) : () => undefined,
          metrics,
        }),
      );
    }
    plan = {
      seed: o.seed,
      modelFaults: o.modelFaults,
      outages: o.outages,
      outageRequests: handlers[0]!.config.model.maxRetries + 1,
      latencyMs: o.latencyMs,
      writeFailures: o.writeFailures,
      stuckKeys: o.stuckKeys,
    };

    const upload = async (key: string, n: number): Promise<{ label: string; event: S3NotificationEvent }> => {
      const label = `${key}#${n}`;
      const image = noisePng(o.imageBytes);
      // Known before the event exists, so every request about it is attributed.
      versionsByHash.set(imageHash(image.bytes.toString('base64')), label);
      const event = await s3.put(key, image.bytes);
      const etag = event.Records[0]!.s3.object.eTag;
      versions.push({ label, key, etag, resultKey: resultKeyFor(key, SOAK_INPUT_PREFIX, SOAK_OUTPUT_PREFIX) });
      return { label, event };
    };
    const width = String(o.images).length;
    const keys = Array.from({ length: o.images }, (_, i) => `${SOAK_INPUT_PREFIX}${String(i).padStart(width, '0')}.png`);
    const firsts: Array<{ label: string; event: S3NotificationEvent }> = [];
    for (let i = 0; i < keys.length; i += 8) firsts.push(...(await Promise.all(keys.slice(i, i + 8).map((k) => upload(k, 1)))));

    const deliveries: DeliveryRecord[] = [];
    const overlapped = new Map<number, boolean>();
    const uploadErrors: unknown[] = [];
    const deliver = (event: SoakEvent, options: { delayMs?: number; priority?: boolean } = {}): void => {
      const d = lambda.deliver(event, options);
      deliveries.push({ id: d.id, version: event.version, kind: event.kind });
    };
    const lambda: AsyncLambda<SoakEvent, string[]> = startAsyncLambda<SoakEvent, string[]>({
      concurrency: o.concurrency,
      retryDelaysMs: o.retryDelaysMs,
      timeoutMs: o.remainingMs,
      stopAfterMs: Math.max(0, o.seconds * 1000 - (performance.now() - started)),
      async invoke(call) {
        const context = {
          awsRequestId: call.delivery.requestId,
          getRemainingTimeInMillis: () => Math.max(0, call.endsAt - Date.now()),
        };
        const handler = handlers[call.worker]!.handler;
        const response = (await currentInvocation.run(call.seq, () => handler(call.delivery.event.s3, context))) as DirectResponse;
        return response.outcomes.map((r) => describeOutcome(r.outcome));
      },
      onStart({ delivery, attempt }) {
        const ev = delivery.event;
        if (attempt !== 1) return;
        if (ev.kind === 'in-flight duplicate') {
          overlapped.set(delivery.id, lambda.running(ev.repeats!));
          return;
        }
        if (ev.kind !== 'original' && ev.kind !== 'replacement') return;
        if (draw(o.seed, 'in-flight duplicate', ev.version) < o.inFlightDuplicates) {
          const delayMs = 5 + draw(o.seed, 'in-flight delay', ev.version) * 45;
          deliver({ ...ev, kind: 'in-flight duplicate', repeats: delivery.id }, { delayMs, priority: true });
        }
        const key = ev.version.slice(0, ev.version.lastIndexOf('#'));
        if (ev.kind === 'original' && draw(o.seed, 'replacement', key) < o.replacements) {
          // The new version lands while the first is being processed; its own event follows.
          const release = lambda.hold();
          const delayMs = 20 + draw(o.seed, 'replacement delay', key) * 280;
          setTimeout(() => {
            upload(key, 2)
              .then(({ label, event }) => deliver({ version: label, kind: 'replacement', s3: event }))
              .catch((err: unknown) => void uploadErrors.push(err))
              .finally(release);
          }, delayMs);
        }
      },
      onSettled(delivery) {
        const ev = delivery.event;
        if (ev.kind !== 'original' && ev.kind !== 'replacement') return;
        if (draw(o.seed, 'duplicate', ev.version) < o.duplicates) {
          deliver({ ...ev, kind: 'duplicate', repeats: delivery.id }, { delayMs: draw(o.seed, 'duplicate delay', ev.version) * 1000 });
        }
      },
    });
    for (const f of firsts) deliver({ version: f.label, kind: 'original', s3: f.event });

    const settleMs = Math.max(0, o.seconds * 1000 - (performance.now() - started)) + o.remainingMs + SETTLE_GRACE_MS;
    const summary = await Promise.race([lambda.done, sleep(settleMs).then(() => undefined)]);
    if (!summary) throw new Error(`the soak did not settle: invocations still ran ${Math.round(settleMs / 1000)} s after the last could start`);
    const wallMs = performance.now() - started;
    if (uploadErrors.length > 0) throw new Error(`a replacement upload failed: ${String(uploadErrors[0])}`);

    const record: SoakRecord = {
      images: o.images,
      versions,
      deliveries: deliveries.map((d) => (overlapped.has(d.id) ? { ...d, overlapped: overlapped.get(d.id)! } : d)),
      invocations: summary.invocations.map((i) => ({
        seq: i.seq,
        deliveryId: i.deliveryId,
        attempt: i.attempt,
        startedAt: i.startedAt,
        endedAt: i.endedAt,
        ...(i.error ? { error: i.error.code } : {}),
        outcomes: i.result ?? [],
      })),
      deadLetters: summary.deadLetters.map((d) => ({ deliveryId: d.delivery.id, version: d.delivery.event.version, error: d.error.code })),
      undelivered: summary.undelivered.length,
      stoppedByTime: summary.stoppedByTime,
      modelCalls,
      resultWrites,
      objects: await finalObjects(clients[0]!),
      server: { requests: server.requests.length, maxInFlight: server.maxInFlight, capacity429: server.rejected },
      faults,
      budget: { capacity: o.capacity, perInvocation: budget.perImage, concurrency: budget.concurrentImages, maxInFlight: budget.maxInFlight },
      ...(dynamoClients[0] ? { fleetGate: await fleetGateAtEnd(dynamoClients[0], server.baseUrl) } : {}),
      wallMs,
    };
    return { record, figures: accountSoak(record), metrics: summariseMetrics(metrics.records) };
  } finally {
    await Promise.all(handlers.map((h) => h.close()));
    for (const c of clients) c.destroy();
    for (const c of dynamoClients) c.destroy();
    await dynamo?.close();
    await server.close();
    await s3.close();
    await new Promise<void>((resolve) => (log ? log.end(resolve) : resolve()));
  }
}

/** The fleet gate's table in the soak. */
const FLEET_TABLE = 'fieldlens-soak-fleet';

/** What the fleet gate's item holds once every invocation has ended: no slot may still be held. */
async function fleetGateAtEnd(client: DynamoDBClient, baseUrl: string): Promise<NonNullable<SoakRecord['fleetGate']>> {
  const out = await client.send(
    new GetItemCommand({ TableName: FLEET_TABLE, Key: { pk: { S: `endpoint#${baseUrl}#${SOAK_MODEL}` } }, ConsistentRead: true }),
  );
  const item = out.Item;
  return {
    held: Object.keys(item?.holders?.M ?? {}).length,
    level: Number(item?.level?.N ?? Number.NaN),
    epoch: Number(item?.epoch?.N ?? Number.NaN),
  };
}

/** Every object under the input prefix with its current ETag and result document, read back from the bucket. */
async function finalObjects(client: S3Client): Promise<FinalObject[]> {
  const listed: Array<{ key: string; etag: string }> = [];
  let token: string | undefined;
  const seen = new Set<string>();
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: BENCH_BUCKET, Prefix: SOAK_INPUT_PREFIX, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const c of page.Contents ?? []) {
      if (c.Key && !seen.has(c.Key)) {
        seen.add(c.Key);
        listed.push({ key: c.Key, etag: unquote(c.ETag ?? '') });
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);

  const store = new S3ObjectStore(client);
  const out: FinalObject[] = [];
  for (const { key, etag } of listed) {
    const read = await store.read({ bucket: BENCH_BUCKET, key: resultKeyFor(key, SOAK_INPUT_PREFIX, SOAK_OUTPUT_PREFIX) }, { maxBytes: 8 * 1024 * 1024 });
    if (!read) {
      out.push({ key, etag });
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(read.body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const doc = resultDocumentSchema.safeParse(parsed);
    out.push({
      key,
      etag,
      document: doc.success ? { sourceEtag: doc.data.source.etag, status: doc.data.status, retryable: doc.data.retryable ?? false } : 'invalid',
    });
  }
  return out;
}

async function openLog(path: string): Promise<ReturnType<typeof createWriteStream>> {
  await mkdir(dirname(path), { recursive: true });
  return createWriteStream(path);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
