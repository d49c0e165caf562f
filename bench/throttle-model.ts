/**
 * The throughput section's runs as a model in virtual time: the real
 * extraction core (`extractFields` with its retry waits, and each execution
 * environment's adaptive gate over the `AimdLevel` it keeps between
 * invocations) against a simulated endpoint that serves C requests at once
 * and, beyond C, queues them or answers 429. An image's time outside its
 * model calls (its S3 calls, the handler's own work) is a fixed wait before
 * and after them.
 *
 * There are no sockets, no S3 server and no second process competing for
 * the two cores, so what is left is what the scheduling itself costs; and
 * since a run takes milliseconds rather than a quarter of a minute, the
 * same run is repeated over many seeds to give its spread. The benchmark
 * prints it beside the measured runs so that a missed target can be told
 * apart from noise: with the time outside the model calls it measured, and
 * with none.
 *
 * Virtual time: every wait is a `Clock.sleep` on {@link VirtualTime}, which
 * lets all promise callbacks run before it moves to the next timer, so
 * the core runs unchanged and nothing ever waits for real.
 */
import { AimdLevel, createAdaptiveLimit, type Gate } from '../functions/core/adaptive-limit';
import { createFleetGate, FleetView } from '../functions/core/fleet-gate';
import { ErrorCode, ModelError } from '../functions/core/errors';
import { extractFields } from '../functions/core/extract';
import type { FieldSet } from '../functions/core/fields';
import { prepareImage } from '../functions/core/image';
import type { Clock, CompleteOptions, Logger, ModelClient, ModelReply, ModelRequest } from '../functions/core/ports';
import { MemoryFleetStore } from '../test/support/memory-fleet-store';
import { noisePng } from './images';
import { quantile } from './stats';

/** A clock whose time moves only from one timer to the next. */
export class VirtualTime implements Clock {
  #now = 0;
  #seq = 0;
  // Sorted by time, then by when the timer was set: equal times fire in order.
  readonly #timers: Array<{ readonly at: number; readonly seq: number; readonly fire: () => void }> = [];

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((fire) => {
      const timer = { at: this.#now + Math.max(0, ms), seq: ++this.#seq, fire };
      let i = this.#timers.length;
      while (i > 0 && this.#timers[i - 1]!.at > timer.at) i--;
      this.#timers.splice(i, 0, timer);
    });
  }

  /**
   * Fires timers in order until none is left and every promise callback has run.
   * @param between called before time moves on, with the span about to pass:
   *   nothing changes during it, so the state seen then holds for all of it.
   */
  async run(between?: (from: number, to: number) => void): Promise<void> {
    for (;;) {
      // setImmediate runs after every queued promise callback (and those they queue).
      await new Promise<void>((r) => setImmediate(r));
      const timer = this.#timers.shift();
      if (!timer) return;
      if (timer.at > this.#now) between?.(this.#now, timer.at);
      this.#now = timer.at;
      timer.fire();
    }
  }
}

/** The time a refusal takes to come back: a round trip with no work behind it. */
const REFUSAL_MS = 1;

/** An endpoint that serves `capacity` requests at once, each for `latencyMs`; beyond that it queues or refuses. */
class SimulatedEndpoint implements ModelClient {
  readonly modelName = 'simulated';
  requests = 0;
  rejected = 0;
  #serving = 0;

  /** Requests it is computing now (never above C). */
  get serving(): number {
    return this.#serving;
  }
  readonly #queue: Array<() => void> = [];

  constructor(
    private readonly time: VirtualTime,
    private readonly o: Pick<ThrottleModelOptions, 'capacity' | 'latencyMs' | 'retryAfterMs' | 'overCapacity' | 'noiseMs'>,
    private readonly random: () => number,
  ) {}

  async complete(request: ModelRequest, _options: CompleteOptions): Promise<ModelReply> {
    this.requests++;
    if (this.#serving >= this.o.capacity) {
      if (this.o.overCapacity === 'reject') {
        this.rejected++;
        await this.time.sleep(REFUSAL_MS);
        throw new ModelError(ErrorCode.MODEL_RATE_LIMITED, 'over capacity', {
          retryable: true,
          retryAfterMs: this.o.retryAfterMs,
          status: 429,
        });
      }
      await new Promise<void>((resume) => this.#queue.push(resume));
    } else {
      this.#serving++;
    }
    await this.time.sleep(this.o.latencyMs + (this.random() * 2 - 1) * this.o.noiseMs);
    // A queued request takes the slot over; otherwise it is free.
    const next = this.#queue.shift();
    if (next) next();
    else this.#serving--;
    return { text: JSON.stringify({ value: `value of ${request.schemaName}` }), finishReason: 'stop' };
  }
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** mulberry32: a small seeded generator, so a seed gives the same run every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ThrottleModelOptions {
  readonly images: number;
  readonly fields: FieldSet;
  readonly capacity: number;
  readonly latencyMs: number;
  readonly retryAfterMs: number;
  /**
   * ± this on every answer's time. The measured runs' answers take L plus
   * a few milliseconds of event loop and network that differ from request
   * to request; with none at all, environments that start together stay in
   * lockstep and collide at every round, which no real run does.
   */
  readonly noiseMs: number;
  readonly overCapacity: 'queue' | 'reject';
  /** Execution environments at once, each taking the next image when done with the last. */
  readonly environments: number;
  /** `MODEL_MAX_CONCURRENCY`: each environment's cap. */
  readonly perImage: number;
  /** An image's time outside its model calls (S3, the handler): before the first and after the last. */
  readonly beforeModelMs: number;
  readonly afterModelMs: number;
  /**
   * The environments share one fleet gate (`fleet-gate.ts`) over a store
   * whose every call takes `storeMs`, capped at `cap`, polled every
   * `pollMs`; absent, each environment has its own adaptive gate.
   */
  readonly fleet?: { readonly cap: number; readonly storeMs: number; readonly pollMs: number };
}

export interface ThrottleModelRun {
  readonly makespanMs: number;
  readonly complete: number;
  readonly requests: number;
  readonly rejected: number;
  /**
   * The endpoint's idle slot-time (C × makespan less what it computed), as
   * shares of C × makespan: while some image had a field neither answered
   * nor at the endpoint (waiting in its environment's gate, or out a retry
   * wait), and while none had.
   */
  readonly idle: { readonly fieldWaiting: number; readonly noneWaiting: number };
}

/** One environment's image now, for the idle accounting: its fields not yet answered, and those at the endpoint. */
interface ImageInProgress {
  unanswered: number;
  atEndpoint: number;
}

/** The endpoint as one environment sees it, counting that environment's image's fields. */
function countingFor(endpoint: ModelClient, image: ImageInProgress): ModelClient {
  return {
    modelName: endpoint.modelName,
    async complete(request, options) {
      image.atEndpoint++;
      try {
        const reply = await endpoint.complete(request, options);
        image.unanswered--;
        return reply;
      } finally {
        image.atEndpoint--;
      }
    },
  };
}

/** One run with one seed. */
export async function runThrottleModel(o: ThrottleModelOptions, seed: number): Promise<ThrottleModelRun> {
  const time = new VirtualTime();
  const random = seeded(seed);
  const endpoint = new SimulatedEndpoint(time, o, seeded(seed ^ 0x5eed));
  const image = prepareImage(noisePng(2_000).bytes, 'image/png');
  const never = new AbortController().signal;
  let next = 0;
  let complete = 0;
  let finishedAt = 0;
  const images: ImageInProgress[] = [];
  const store = o.fleet ? new MemoryFleetStore(o.fleet.cap, time, o.fleet.storeMs) : undefined;
  let invocations = 0;
  const environment = async (): Promise<void> => {
    const level = new AimdLevel(o.perImage);
    const view = new FleetView(o.fleet?.cap ?? 1);
    const gateFor = (): Gate =>
      o.fleet && store
        ? createFleetGate({
            store,
            view,
            localCap: o.perImage,
            owner: `i${++invocations}`,
            attemptMs: 60_000,
            pollMs: o.fleet.pollMs,
            clock: time,
            random,
            logger: silent,
          })
        : createAdaptiveLimit(level);
    const current: ImageInProgress = { unanswered: 0, atEndpoint: 0 };
    images.push(current);
    const model = countingFor(endpoint, current);
    while (next < o.images) {
      next++;
      await time.sleep(o.beforeModelMs);
      current.unanswered = o.fields.length;
      const outcomes = await extractFields({
        image,
        fields: o.fields,
        model,
        deadline: never,
        deadlineAt: Number.MAX_SAFE_INTEGER,
        limit: gateFor(),
        timeoutMs: 60_000,
        maxRetries: 2,
        maxTokens: 256,
        clock: time,
        logger: silent,
        random,
      });
      await time.sleep(o.afterModelMs);
      if (outcomes.every((f) => f.result.status === 'ok')) complete++;
      finishedAt = Math.max(finishedAt, time.now());
    }
  };
  let settled = false;
  const all = Promise.all(Array.from({ length: o.environments }, environment)).finally(() => (settled = true));
  const idleMs = { fieldWaiting: 0, noneWaiting: 0 };
  await time.run((from, to) => {
    if (settled) return;
    const idle = (o.capacity - endpoint.serving) * (to - from);
    const waiting = images.some((i) => i.unanswered > i.atEndpoint);
    idleMs[waiting ? 'fieldWaiting' : 'noneWaiting'] += idle;
  });
  // Every timer has fired: a run still pending now would never finish.
  if (!settled) throw new Error('the throttle model stalled: environments wait with no timer left');
  await all;
  const slotMs = o.capacity * finishedAt;
  return {
    makespanMs: finishedAt,
    complete,
    requests: endpoint.requests,
    rejected: endpoint.rejected,
    idle: { fieldWaiting: idleMs.fieldWaiting / slotMs, noneWaiting: idleMs.noneWaiting / slotMs },
  };
}

export interface ThrottleModelSummary {
  readonly seeds: number;
  /** Makespan / ideal ⌈N·F/C⌉·L over the seeds. */
  readonly ratio: { readonly p10: number; readonly median: number; readonly p90: number };
  /** 429s per useful request (N·F), median over the seeds. */
  readonly medianPer429: number;
  /** {@link ThrottleModelRun.idle}, medians over the seeds. */
  readonly medianIdle: { readonly fieldWaiting: number; readonly noneWaiting: number };
  /** Seeds whose every image ended complete. */
  readonly allComplete: number;
}

/** `seeds` runs (seeds 1 … n), summarised against the ideal. */
export async function summarizeThrottleModel(o: ThrottleModelOptions, seeds: number): Promise<ThrottleModelSummary> {
  const useful = o.images * o.fields.length;
  const idealMs = Math.ceil(useful / o.capacity) * o.latencyMs;
  const runs: ThrottleModelRun[] = [];
  for (let seed = 1; seed <= seeds; seed++) runs.push(await runThrottleModel(o, seed));
  const ratios = runs.map((r) => r.makespanMs / idealMs);
  return {
    seeds,
    ratio: { p10: quantile(ratios, 0.1), median: quantile(ratios, 0.5), p90: quantile(ratios, 0.9) },
    medianPer429: quantile(
      runs.map((r) => r.rejected / useful),
      0.5,
    ),
    medianIdle: {
      fieldWaiting: quantile(
        runs.map((r) => r.idle.fieldWaiting),
        0.5,
      ),
      noneWaiting: quantile(
        runs.map((r) => r.idle.noneWaiting),
        0.5,
      ),
    },
    allComplete: runs.filter((r) => r.complete === o.images).length,
  };
}
