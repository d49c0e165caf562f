/**
 * A request gate whose in-flight limit adapts to the endpoint: it backs off
 * when the endpoint throttles (429, 503) and recovers while it answers,
 * never above the configured cap and never below 1. The Retry-After rules
 * (`retry.ts`) still decide how long a throttled request waits; this decides
 * how many requests may be in flight meanwhile.
 *
 * The rule is AIMD, as TCP's congestion control: halve on a throttle, and
 * grow by one for every window of answers (`+1/limit` per answer), only
 * while the gate is full. Two details keep it from collapsing or creeping:
 * - a burst of throttles from requests that were all in flight together
 *   halves the limit once, not once per request: a throttle counts only if
 *   its request started after the last decrease;
 * - answers grow the limit only while the gate is full (someone waiting, or
 *   every slot in use): an image whose last field is alone in flight says
 *   nothing about whether the endpoint could take more.
 *
 * A request the endpoint refused for load goes again by hand-off
 * (`{ handOff: true }`): once its wait is over it takes the slot of the
 * next of the gate's own requests to be answered, the slot the endpoint has
 * just freed, rather than arriving at a random moment at an endpoint that
 * other clients keep full, where it would most likely be refused again (and
 * each refusal makes its next wait longer, which holds up its image). With
 * nothing of the gate's in flight there is no answer to wait for, and it
 * goes as soon as a slot is free. (In the benchmark's model of the
 * over-subscribed run this cuts the 90th-percentile makespan from about
 * 1.45 to 1.3 × ideal: docs/benchmark.md.)
 *
 * The level (`AimdLevel`) may outlive the gate: a warm Lambda environment
 * keeps it across invocations, so the next image starts from what the last
 * one learnt rather than from the cap. The gate itself, and its count of
 * requests in flight, belongs to one invocation.
 */

/** What a request tells the gate about the endpoint when it ends. */
export interface AttemptFeedback {
  /** The endpoint refused for load (429, 503): the limit backs off. */
  throttled(): void;
  /** The endpoint answered: the limit may grow. */
  succeeded(): void;
}

/**
 * A concurrency gate: runs `task` when a slot is free. An adaptive gate
 * passes the task an {@link AttemptFeedback}; a plain one (`createLimit`)
 * passes nothing, which is why the task must treat it as optional.
 */
export type Gate = <T>(task: (feedback?: AttemptFeedback) => Promise<T>, options?: GateOptions) => Promise<T>;

/** How a task enters a gate. */
export interface GateOptions {
  /**
   * A retry of a request the endpoint refused for load: wait for one of the
   * gate's own requests to be answered and take its slot. A plain gate
   * (`createLimit`) ignores it.
   */
  readonly handOff?: boolean;
}

/**
 * An attempt's feedback that passes on only its first report (an attempt
 * is refused or answered once) and remembers whether it was refused.
 */
export function reportedOnce(on: AttemptFeedback): AttemptFeedback & { readonly refused: boolean } {
  let reported = false;
  let refused = false;
  return {
    get refused() {
      return refused;
    },
    throttled() {
      if (reported) return;
      reported = refused = true;
      on.throttled();
    },
    succeeded() {
      if (reported) return;
      reported = true;
      on.succeeded();
    },
  };
}

/** An adaptive gate, with its state for logs and tests. */
export interface AdaptiveLimit extends Gate {
  /** The in-flight limit now: a whole number from 1 to the cap. */
  readonly limit: number;
  /** Tasks of this gate running now. */
  readonly active: number;
  /** Tasks of this gate waiting for a slot now (hand-offs included). */
  readonly waiting: number;
}

/**
 * The learnt in-flight limit, as a real number in [1, cap] (the gate uses
 * its whole part).
 */
export class AimdLevel {
  readonly cap: number;
  #value: number;
  #epoch = 0;
  #throttles = 0;

  /**
   * @param cap the most requests ever in flight (`MODEL_MAX_CONCURRENCY`).
   * @param initial where the limit starts. @default cap
   * @throws {TypeError} when `cap` is not a whole number ≥ 1 (or Infinity), or `initial` is not in [1, cap].
   */
  constructor(cap: number, initial: number = cap) {
    if (!((Number.isInteger(cap) || cap === Infinity) && cap >= 1)) {
      throw new TypeError(`Expected cap to be a whole number ≥ 1, got ${cap}`);
    }
    if (!(initial >= 1 && initial <= cap)) throw new TypeError(`Expected initial to be from 1 to ${cap}, got ${initial}`);
    this.cap = cap;
    this.#value = initial;
  }

  /** The whole number of slots the limit allows now. */
  get limit(): number {
    return Math.min(this.cap, Math.max(1, Math.floor(this.#value)));
  }

  /** Counts decreases; a request remembers it when it starts. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Throttles reported since the level was made (each one, counted or not). */
  get throttles(): number {
    return this.#throttles;
  }

  /**
   * A request that started in `startedEpoch` was throttled: halve, unless
   * the limit was already halved since that request started.
   */
  throttled(startedEpoch: number): void {
    this.#throttles++;
    if (startedEpoch !== this.#epoch) return;
    // An infinite cap has nothing to halve from until it has a finite value.
    const from = Number.isFinite(this.#value) ? this.limit : 1;
    this.#value = Math.max(1, Math.floor(from / 2));
    this.#epoch++;
  }

  /** A request was answered while the gate was full: one more slot per window of answers. */
  succeeded(): void {
    if (!Number.isFinite(this.#value)) return;
    this.#value = Math.min(this.cap, this.#value + 1 / this.limit);
  }
}

/**
 * An adaptive gate over `level`.
 *
 * @example
 * ```ts
 * const level = new AimdLevel(10);            // once per execution environment
 * const limit = createAdaptiveLimit(level);   // once per invocation
 * await limit(async (feedback) => {
 *   try { const r = await ask(); feedback?.succeeded(); return r; }
 *   catch (e) { if (isThrottle(e)) feedback?.throttled(); throw e; }
 * });
 * ```
 */
export function createAdaptiveLimit(level: AimdLevel): AdaptiveLimit {
  const queue: Array<() => void> = [];
  // Retries waiting for a hand-off: one joins the front of `queue` each time
  // one of this gate's requests is answered, all of them when nothing is in
  // flight (then no answer will come to hand off).
  const handOffs: Array<() => void> = [];
  let active = 0;

  const next = (): void => {
    if (active === 0) queue.unshift(...handOffs.splice(0));
    while (active < level.limit && queue.length > 0) queue.shift()!();
  };

  const gate = <T>(task: (feedback?: AttemptFeedback) => Promise<T>, options?: GateOptions): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start = (): void => {
        active++;
        const epoch = level.epoch;
        const feedback = reportedOnce({
          throttled: () => level.throttled(epoch),
          succeeded: () => {
            // Full: every slot taken (this one included) or someone waiting.
            if (queue.length + handOffs.length > 0 || active >= level.limit) level.succeeded();
          },
        });
        // A task that throws synchronously still releases its slot.
        Promise.resolve()
          .then(() => task(feedback))
          .then(resolve, reject)
          .finally(() => {
            active--;
            // A refused request held no slot at the endpoint: it frees none to hand off.
            if (!feedback.refused && handOffs.length > 0) queue.unshift(handOffs.shift()!);
            next();
          });
      };
      if (options?.handOff && active > 0) handOffs.push(start);
      else queue.push(start);
      next();
    });

  return Object.defineProperties(gate, {
    limit: { get: () => level.limit, enumerable: true },
    active: { get: () => active, enumerable: true },
    waiting: { get: () => queue.length + handOffs.length, enumerable: true },
  }) as AdaptiveLimit;
}
