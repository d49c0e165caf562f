/**
 * Section 2: throughput under the endpoint's capacity.
 *
 * N images × F fields against a test server that serves C requests at once,
 * with the limits the stack derives from C (`endpointBudget` in
 * infra/budget.ts): each invocation keeps `perImage` requests in flight and
 * `concurrentImages` invocations run at once. Lambda's concurrency is
 * simulated by a pool of workers, each an execution environment with its
 * own handler, connection pool and S3 client, taking the next image when
 * it is done with the last.
 *
 * - queue: the server queues beyond C; the makespan is compared with the
 *   ideal ⌈N·F/C⌉·L.
 * - reject: the server answers 429 beyond C, and the workers over-subscribe
 *   it on purpose; every image must still end `complete`, and the adaptive
 *   in-flight limit (`functions/core/adaptive-limit.ts`) keeps the 429s few
 *   and the makespan near the ideal.
 *
 * Beside the measured runs, the same runs as a model in virtual time
 * (`bench/throttle-model.ts`: the real extraction core and gate against a
 * simulated endpoint, over many seeds) with an image's time outside its
 * model calls and the answer-time spread measured here, and once with no
 * time outside the model calls: what the scheduling itself costs, apart
 * from this machine's noise.
 */
import { performance } from 'node:perf_hooks';
import { createDynamoDbClient } from '../functions/adapters/dynamodb-fleet-store';
import { endpointBudget, type EndpointBudget } from '../infra/budget';
import { startDynamoDb, type LocalDynamoDb } from '../test/support/dynamodb-server';
import { createBenchHandler, type BenchHandler, type Invocation } from './handler';
import { syntheticFields } from './fields';
import { noisePng } from './images';
import type { S3NotificationEvent } from '../local/s3-server';
import { startBenchS3, type BenchS3 } from './local-s3';
import { localS3Client } from './s3-client';
import { fixed, mark, ms, type Check, type SectionResult } from './report';
import { median, quantile, round } from './stats';
import { startBenchModel } from './test-model';
import { summarizeThrottleModel, type ThrottleModelOptions, type ThrottleModelSummary } from './throttle-model';

/** Target: makespan ≤ this × the ideal when the server queues. */
export const QUEUE_MAX_RATIO = 1.1;
/** Targets of the over-subscribed run against a server that answers 429 beyond C. */
export const REJECT_MAX_429_PER_REQUEST = 0.25;
export const REJECT_MAX_RATIO = 1.15;

export interface ThroughputOptions {
  /** N */
  readonly images: number;
  /** F */
  readonly fieldsPerImage: number;
  /** C: requests the server serves at once. */
  readonly capacity: number;
  /** L */
  readonly latencyMs: number;
  /**
   * Share of L as ± jitter for an extra, informational queue run. The target
   * runs use a fixed L, the assumption of the ideal ⌈N·F/C⌉·L; with jitter
   * every image also waits for the slowest of its F fields. 0 skips the run.
   */
  readonly jitter: number;
  /** The 429s' `retry-after-ms`. */
  readonly retryAfterMs: number;
  /** Images at once in reject mode, as a multiple of the derived `concurrentImages`. */
  readonly oversubscription: number;
  /** `FLEET_GATE_POLL_MS` of the fleet run. @default 25 (the function's default) */
  readonly fleetPollMs?: number;
}

export type ServerMode = 'queue' | 'reject';

/** Seeds of each modelled run. */
export const MODEL_SEEDS = 100;

/** A call to the fleet gate's store in the model: about a DynamoDB round trip within a region. */
const FLEET_STORE_MS = 5;

/** Each environment's own adaptive gate (the default), or one fleet gate for all (`FLEET_GATE_*`). */
export type GateKind = 'environment' | 'fleet';

/** How the fleet gate of the fleet run is set: its capacity overstates the server's as much as the run over-subscribes it. */
export interface FleetRunSettings {
  /** `FLEET_GATE_CAPACITY`: images at once × MODEL_MAX_CONCURRENCY, what the environments would send. */
  readonly capacity: number;
  readonly pollMs: number;
}

export interface ThroughputRun {
  readonly mode: ServerMode;
  readonly gate: GateKind;
  /** ± jitter on L in this run. */
  readonly jitterMs: number;
  /** Invocations running at once (the simulated Lambda concurrency). */
  readonly imagesAtOnce: number;
  /** `MODEL_MAX_CONCURRENCY` of each invocation. */
  readonly perImage: number;
  readonly makespanMs: number;
  readonly ratioToIdeal: number;
  readonly imagesPerSecond: number;
  readonly complete: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Chat requests the server received (429s included). */
  readonly requests: number;
  /** 429s answered because of capacity. */
  readonly rejected429: number;
  /** Most requests the server saw at once (queued ones included). */
  readonly serverMaxInFlight: number;
  /** Most requests it served at once (never above C). */
  readonly serverMaxServing: number;
  /** Most attempts one field needed. */
  readonly maxFieldAttempts: number;
  /** Median handler wall time of one image. */
  readonly medianImageMs: number;
  /** Median S3 time of one image (inside its wall time). */
  readonly medianImageS3Ms: number;
  /** Half the 10th-90th percentile range of the answered fields' times: how much one answer's time varied. */
  readonly answerSpreadMs: number;
}

/** One modelled run (see bench/throttle-model.ts). */
export interface ModelledRun {
  readonly name: string;
  readonly mode: ServerMode;
  readonly imagesAtOnce: number;
  /** An image's time outside its model calls, split before and after them. */
  readonly outsideMs: number;
  readonly noiseMs: number;
  readonly summary: ThrottleModelSummary;
}

export interface ThroughputFigures {
  readonly images: number;
  readonly fieldsPerImage: number;
  readonly capacity: number;
  readonly latencyMs: number;
  readonly retryAfterMs: number;
  /** The stack's split of C, from infra/budget.ts. */
  readonly budget: EndpointBudget;
  /** The fleet run's gate. */
  readonly fleet: FleetRunSettings;
  /** ⌈N·F/C⌉·L */
  readonly idealMs: number;
  readonly runs: readonly ThroughputRun[];
  /** The same runs as a model in virtual time. */
  readonly modelled: readonly ModelledRun[];
}

export async function runThroughputSection(o: ThroughputOptions): Promise<SectionResult<ThroughputFigures>> {
  const budget = endpointBudget({ capacity: o.capacity, fieldCount: o.fieldsPerImage });
  const idealMs = Math.ceil((o.images * o.fieldsPerImage) / o.capacity) * o.latencyMs;
  const s3 = await startBenchS3();
  const dynamo = await startDynamoDb();
  try {
    const rejectAtOnce = Math.max(budget.concurrentImages + 1, Math.round(budget.concurrentImages * o.oversubscription));
    const fleet: FleetRunSettings = { capacity: rejectAtOnce * budget.perImage, pollMs: o.fleetPollMs ?? 25 };
    const queue = await runMode(s3, o, 'queue', budget.concurrentImages, budget.perImage, idealMs, 0);
    const reject = await runMode(s3, o, 'reject', rejectAtOnce, budget.perImage, idealMs, 0);
    const fleetReject = await runMode(s3, o, 'reject', rejectAtOnce, budget.perImage, idealMs, 0, { dynamo, ...fleet });
    const jittered =
      o.jitter > 0
        ? [await runMode(s3, o, 'queue', budget.concurrentImages, budget.perImage, idealMs, o.latencyMs * o.jitter)]
        : [];
    const modelled = await modelRuns(o, budget, queue, reject, fleet);
    const figures: ThroughputFigures = {
      images: o.images,
      fieldsPerImage: o.fieldsPerImage,
      capacity: o.capacity,
      latencyMs: o.latencyMs,
      retryAfterMs: o.retryAfterMs,
      budget,
      fleet,
      idealMs,
      runs: [queue, reject, fleetReject, ...jittered],
      modelled,
    };
    return { id: 'throughput', title: 'Throughput under the endpoint’s capacity', figures, ...present(figures) };
  } finally {
    await dynamo.close();
    await s3.close();
  }
}

/**
 * The queue and reject runs as models, with an image's time outside its
 * model calls (S3, the handler) and the spread of an answer's time as
 * measured in the queue run, where every image takes one round of L: its
 * wall time less L. That time is split evenly before and after the model
 * calls (three S3 round trips each). The reject run once more with none.
 */
async function modelRuns(
  o: ThroughputOptions,
  budget: EndpointBudget,
  queue: ThroughputRun,
  reject: ThroughputRun,
  fleet: FleetRunSettings,
): Promise<ModelledRun[]> {
  const base = {
    images: o.images,
    fields: syntheticFields(o.fieldsPerImage),
    capacity: o.capacity,
    latencyMs: o.latencyMs,
    retryAfterMs: o.retryAfterMs,
    perImage: budget.perImage,
    noiseMs: queue.answerSpreadMs,
  };
  const outsideMs = round(Math.max(0, queue.medianImageMs - o.latencyMs));
  const cases: Array<{ name: string; options: ThrottleModelOptions }> = [
    {
      name: 'queue',
      options: { ...base, overCapacity: 'queue', environments: queue.imagesAtOnce, beforeModelMs: outsideMs / 2, afterModelMs: outsideMs / 2 },
    },
    {
      name: 'reject',
      options: { ...base, overCapacity: 'reject', environments: reject.imagesAtOnce, beforeModelMs: outsideMs / 2, afterModelMs: outsideMs / 2 },
    },
    { name: 'reject, nothing outside the model', options: { ...base, overCapacity: 'reject', environments: reject.imagesAtOnce, beforeModelMs: 0, afterModelMs: 0 } },
    {
      name: 'reject, fleet gate',
      options: {
        ...base,
        overCapacity: 'reject',
        environments: reject.imagesAtOnce,
        beforeModelMs: outsideMs / 2,
        afterModelMs: outsideMs / 2,
        fleet: { cap: fleet.capacity, storeMs: FLEET_STORE_MS, pollMs: fleet.pollMs },
      },
    },
  ];
  const out: ModelledRun[] = [];
  for (const c of cases) {
    out.push({
      name: c.name,
      mode: c.options.overCapacity,
      imagesAtOnce: c.options.environments,
      outsideMs: c.options.beforeModelMs + c.options.afterModelMs,
      noiseMs: c.options.noiseMs,
      summary: await summarizeThrottleModel(c.options, MODEL_SEEDS),
    });
  }
  return out;
}

async function runMode(
  s3: BenchS3,
  o: ThroughputOptions,
  mode: ServerMode,
  imagesAtOnce: number,
  perImage: number,
  idealMs: number,
  jitterMs: number,
  fleet?: FleetRunSettings & { readonly dynamo: LocalDynamoDb },
): Promise<ThroughputRun> {
  const bench = await startBenchModel({
    capacity: o.capacity,
    overCapacity: mode,
    retryAfterMs: o.retryAfterMs,
    defaultLatencyMs: o.latencyMs,
    jitterMs,
  });
  const fields = syntheticFields(o.fieldsPerImage);
  const image = noisePng(100_000);
  const run = `${mode}-${fleet ? 'fleet' : 'env'}-${jitterMs}`;
  // One table per run: the fleet starts from nothing learnt, as after a deploy.
  if (fleet) await fleet.dynamo.createTable(run);
  const workers: Array<{ handler: BenchHandler; close: () => void }> = await Promise.all(
    Array.from({ length: imagesAtOnce }, async () => {
      const client = localS3Client(s3.endpoint);
      // Each environment its own DynamoDB client, as each Lambda environment has.
      const dynamoDbClient = fleet ? await createDynamoDbClient({ AWS_ENDPOINT_URL_DYNAMODB: fleet.dynamo.endpoint }, LOCAL_AWS) : undefined;
      return {
        handler: await createBenchHandler({
          s3: client,
          model: bench.endpoint,
          fields,
          maxConcurrency: perImage,
          ...(fleet && dynamoDbClient
            ? {
                dynamoDbClient,
                env: { FLEET_GATE_TABLE: run, FLEET_GATE_CAPACITY: String(fleet.capacity), FLEET_GATE_POLL_MS: String(fleet.pollMs) },
              }
            : {}),
        }),
        close: () => {
          client.destroy();
          dynamoDbClient?.destroy();
        },
      };
    }),
  );
  try {
    const events: S3NotificationEvent[] = [];
    for (let i = 0; i < o.images; i++) events.push(await s3.put(`incoming/throughput/${run}/${i}.png`, image.bytes));
    // Each execution environment's first invocation, one at a time and
    // answered at once: connections and code paths are warm, as in a
    // steady stream of uploads.
    await bench.warm(async () => {
      for (const [w, worker] of workers.entries()) {
        await worker.handler.invoke(await s3.put(`incoming/throughput/${run}/warm-${w}.png`, image.bytes));
      }
    });

    const done: Invocation[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      workers.map(async ({ handler }) => {
        for (let i = next++; i < events.length; i = next++) done.push(await handler.invoke(events[i]));
      }),
    );
    const makespanMs = performance.now() - started;

    const server = await bench.stats();
    const statuses: Record<string, number> = {};
    for (const d of done) statuses[d.document.status] = (statuses[d.document.status] ?? 0) + 1;
    return {
      mode,
      gate: fleet ? 'fleet' : 'environment',
      jitterMs: round(jitterMs, 1),
      imagesAtOnce,
      perImage,
      makespanMs: round(makespanMs, 1),
      ratioToIdeal: round(makespanMs / idealMs, 3),
      imagesPerSecond: round(o.images / (makespanMs / 1000), 2),
      complete: statuses.complete ?? 0,
      statuses,
      requests: server.requests,
      rejected429: server.rejected,
      serverMaxInFlight: server.maxInFlight,
      serverMaxServing: server.maxServing,
      maxFieldAttempts: Math.max(0, ...done.flatMap((d) => Object.values(d.document.fieldResults).map((r) => r.attempts))),
      medianImageMs: round(median(done.map((d) => d.wallMs)), 1),
      medianImageS3Ms: round(median(done.map((d) => d.s3.totalMs)), 1),
      answerSpreadMs: round(answerSpread(done), 1),
    };
  } finally {
    await Promise.all(workers.map((w) => w.handler.close()));
    for (const w of workers) w.close();
    await bench.close();
  }
}

/** Region and credentials for the local DynamoDB server (it checks neither). */
const LOCAL_AWS = { region: 'us-east-1', credentials: { accessKeyId: 'fieldlens', secretAccessKey: 'fieldlens' } };

function present(f: ThroughputFigures): Pick<SectionResult, 'tables' | 'checks'> {
  const queue = f.runs.find((r) => r.mode === 'queue' && r.jitterMs === 0)!;
  const reject = f.runs.find((r) => r.mode === 'reject' && r.gate === 'environment')!;
  const fleet = f.runs.find((r) => r.mode === 'reject' && r.gate === 'fleet')!;
  const jittered = f.runs.find((r) => r.mode === 'queue' && r.jitterMs > 0);
  const rejectChecks = (r: ThroughputRun, label: string): Check[] => [
    {
      name: `${label}: images complete despite ${r.rejected429} × 429`,
      target: 'all',
      value: `${r.complete}/${f.images}`,
      pass: r.complete === f.images,
    },
    {
      name: `${label}: 429s per useful request`,
      target: `≤ ${REJECT_MAX_429_PER_REQUEST}`,
      value: `${fixed(per429(r, f), 3)} (${r.rejected429} for ${f.images * f.fieldsPerImage})`,
      pass: per429(r, f) <= REJECT_MAX_429_PER_REQUEST,
    },
  ];
  const checks: Check[] = [
    {
      name: 'queue: makespan / ideal',
      target: `≤ ${QUEUE_MAX_RATIO.toFixed(2)}`,
      value: `${fixed(queue.ratioToIdeal, 3)} (${ms(queue.makespanMs)} ms vs ${f.idealMs} ms)`,
      pass: queue.ratioToIdeal <= QUEUE_MAX_RATIO,
    },
    {
      name: 'queue: most requests at the server at once, with the derived limits',
      target: `≤ C = ${f.capacity}`,
      value: String(queue.serverMaxInFlight),
      pass: queue.serverMaxInFlight <= f.capacity,
    },
    {
      name: 'queue: images complete',
      target: 'all',
      value: `${queue.complete}/${f.images}`,
      pass: queue.complete === f.images,
    },
    // Each environment's own gate (the default) must still complete every
    // image; its 429s and makespan are shown beside the fleet gate's, which
    // carries the over-subscribed run's targets.
    rejectChecks(reject, 'reject')[0]!,
    ...rejectChecks(fleet, 'reject, fleet gate'),
    {
      name: 'reject, fleet gate: makespan / ideal',
      target: `≤ ${REJECT_MAX_RATIO.toFixed(2)}`,
      value:
        `${fixed(fleet.ratioToIdeal, 3)} (${ms(fleet.makespanMs)} ms vs ${f.idealMs} ms; ` +
        `${fixed(reject.ratioToIdeal, 3)} with ${fixed(per429(reject, f), 3)} × 429 per useful request with each environment's own gate)`,
      pass: fleet.ratioToIdeal <= REJECT_MAX_RATIO,
    },
  ];
  const row = (r: ThroughputRun): string[] => [
    r.mode,
    r.gate,
    r.jitterMs > 0 ? `± ${r.jitterMs} ms` : 'fixed',
    String(r.imagesAtOnce),
    String(r.perImage),
    String(r.serverMaxInFlight),
    String(r.serverMaxServing),
    ms(r.makespanMs),
    fixed(r.ratioToIdeal, 3),
    fixed(r.imagesPerSecond, 2),
    String(r.requests),
    String(r.rejected429),
    fixed(per429(r, f), 3),
    String(r.maxFieldAttempts),
    ms(r.medianImageMs),
    ms(r.medianImageS3Ms),
    `${r.complete}/${f.images}`,
    r.jitterMs > 0
      ? 'info'
      : r.mode === 'queue'
      ? mark(r.ratioToIdeal <= QUEUE_MAX_RATIO && r.complete === f.images && r.serverMaxInFlight <= f.capacity)
      : r.gate === 'fleet'
      ? mark(r.complete === f.images && per429(r, f) <= REJECT_MAX_429_PER_REQUEST && r.ratioToIdeal <= REJECT_MAX_RATIO)
      : `${mark(r.complete === f.images)} (429s, makespan: info)`,
  ];
  const b = f.budget;
  return {
    tables: [
      {
        title:
          `N = ${f.images} images × F = ${f.fieldsPerImage} fields, C = ${f.capacity}, L = ${f.latencyMs} ms; ` +
          `ideal ⌈N·F/C⌉·L = ${f.idealMs} ms`,
        columns: ['server', 'gate', 'L', 'images at once', 'cap', 'max in flight', 'max serving', 'makespan ms', '/ ideal', 'images/s', 'requests', '429s', '429/useful', 'max attempts', 'image ms', 'S3 ms', 'complete', 'target'],
        rows: f.runs.map(row),
        notes: [
          `Derived from C by infra/budget.ts endpointBudget: MODEL_MAX_CONCURRENCY = min(F, C) = ${b.perImage}, images at once = ⌊C / ${b.perImage}⌋ = ${b.concurrentImages}.`,
          `queue: the server queues beyond C, run with the derived limits (target makespan ≤ ${QUEUE_MAX_RATIO.toFixed(2)} × ideal).`,
          'image ms / S3 ms = median handler wall time of one image and the S3 part of it: while an image reads and writes S3, its share of C waits.',
          `reject: the server answers 429 (retry-after-ms ${f.retryAfterMs}) beyond C, over-subscribed on purpose with ${reject.imagesAtOnce} images at once; every image must end complete,`,
          `gate environment (the default): each environment's in-flight limit halves on a 429 and grows back one per window of answers; its 429s and makespan`,
          `are shown for comparison. gate fleet (FLEET_GATE_*, functions/core/fleet-gate.ts): one in-flight count and one learnt limit for every environment, in a local`,
          `DynamoDB server (dynalite), FLEET_GATE_CAPACITY = ${f.fleet.capacity} (what the environments would send: the configured capacity overstates the server's twice),`,
          `polled every ${f.fleet.pollMs} ms while full; targets 429s per useful request ≤ ${REJECT_MAX_429_PER_REQUEST} and makespan ≤ ${REJECT_MAX_RATIO} × ideal.`,
          ...(jittered
            ? [
                `info: the queue run again with L ± ${jittered.jitterMs} ms; each image then also waits for the slowest of its ${f.fieldsPerImage} fields, which the ideal does not count.`,
              ]
            : []),
        ],
      },
      {
        title: `The same runs as a model in virtual time (bench/throttle-model.ts), ${MODEL_SEEDS} seeds each`,
        columns: ['run', 'images at once', 'ms outside the model / image', 'answer ± ms', 'makespan / ideal: p10', 'median', 'p90', '429/useful', 'idle: a field waiting', 'none waiting', 'all complete'],
        rows: f.modelled.map((m) => [
          m.name,
          String(m.imagesAtOnce),
          ms(m.outsideMs),
          fixed(m.noiseMs, 1),
          fixed(m.summary.ratio.p10, 3),
          fixed(m.summary.ratio.median, 3),
          fixed(m.summary.ratio.p90, 3),
          fixed(m.summary.medianPer429, 3),
          `${fixed(m.summary.medianIdle.fieldWaiting * 100, 1)}%`,
          `${fixed(m.summary.medianIdle.noneWaiting * 100, 1)}%`,
          `${m.summary.allComplete}/${m.summary.seeds}`,
        ]),
        notes: [
          'The extraction core and the adaptive gate as they run in the handler, against a simulated endpoint with the same C, L and 429s, in virtual time:',
          'no sockets, no S3 server, no other process on the two cores. An image’s time outside its model calls (S3, the handler) is the queue run’s',
          'image ms less L, and the spread of an answer’s time is the queue run’s. queue: with the derived limits nothing fills the endpoint meanwhile,',
          'so each round costs L plus that time (a fixed ratio).',
          `reject: ${reject.imagesAtOnce} environments share C; each one's in-flight limit settles between 1 and ${b.perImage}, and an image of ${f.fieldsPerImage} fields`,
          'at a limit below that needs two or three rounds whose last is not full: the endpoint is idle for slots no environment may use, and the spread',
          'over seeds shows how much one run depends on where the throttles fall. "nothing outside the model": the same with that time at 0,',
          'where environments that start together stay in step and collide every round: the miss is in sharing C, not in S3.',
          'idle = the endpoint’s free slot-time as a share of C × makespan (medians): "a field waiting" while some image had a field neither answered',
          'nor at the endpoint (held by its own environment’s limit, or out a retry wait), "none waiting" while none had (S3, the last images).',
          'What environments sharing one view of the free slots could at most recover is the first.',
          `"fleet gate": the same environments over one fleet gate (FLEET_GATE_CAPACITY = ${f.fleet.capacity}, each store call ${FLEET_STORE_MS} ms, polled every ${f.fleet.pollMs} ms).`,
        ],
      },
    ],
    checks,
  };
}

/** Half the 10th-90th percentile range of the times of the fields answered at the first attempt. */
function answerSpread(done: readonly Invocation[]): number {
  const times = done.flatMap((d) =>
    Object.values(d.document.fieldResults)
      .filter((r) => r.status === 'ok' && r.attempts === 1)
      .map((r) => r.latencyMs),
  );
  return times.length > 0 ? (quantile(times, 0.9) - quantile(times, 0.1)) / 2 : 0;
}

/** 429s per useful request: per field answered (N × F). */
function per429(r: ThroughputRun, f: Pick<ThroughputFigures, 'images' | 'fieldsPerImage'>): number {
  return r.rejected429 / (f.images * f.fieldsPerImage);
}
