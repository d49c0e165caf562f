/**
 * Lambda's asynchronous invocation, simulated closely enough to soak a
 * handler: an event queue, a fixed number of execution environments
 * (reserved concurrency) each running one invocation at a time, and for an
 * invocation that throws (or overruns its time) two more tries after a
 * delay, then the dead-letter list. Retries keep the event's request id, as
 * Lambda's do; a second delivery of the same event is a new event with a
 * new id.
 *
 * Events become ready at their `readyAt`; among ready events the ones
 * marked `priority` go first (a redelivery meant to overlap the first),
 * then the oldest. No invocation starts after `stopAfterMs`; what is
 * still queued then is reported as undelivered.
 *
 * Times are `performance.now()` milliseconds, the clock the soak's probes
 * record with, so they compare with each other exactly.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { toErrorInfo } from '../functions/core/errors';

/** One delivery of an event (retries of it included). */
export interface Delivery<E> {
  readonly id: number;
  readonly event: E;
  /** The Lambda request id, the same for every retry of this delivery. */
  readonly requestId: string;
}

/** One invocation as it happened. */
export interface InvocationRecord<R> {
  /** Global order of starts, from 0. */
  readonly seq: number;
  readonly deliveryId: number;
  /** 1 for the first try, 2 and 3 for the retries. */
  readonly attempt: number;
  /** Which execution environment ran it. */
  readonly worker: number;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly result?: R;
  /** Why it failed (a thrown error's code, or `LAMBDA_TIMEOUT`). */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface DeadLetter<E> {
  readonly delivery: Delivery<E>;
  readonly error: { readonly code: string; readonly message: string };
  readonly attempts: number;
}

/** What one invocation is given. */
export interface InvocationCall<E> {
  readonly delivery: Delivery<E>;
  readonly attempt: number;
  readonly seq: number;
  readonly worker: number;
  /** Epoch milliseconds (`Date.now()`) when Lambda would end it. */
  readonly endsAt: number;
}

export interface AsyncLambdaOptions<E, R> {
  /** Execution environments, each one invocation at a time. */
  readonly concurrency: number;
  /** Waits before each retry; its length is the number of retries (Lambda: 2). */
  readonly retryDelaysMs: readonly number[];
  /** The function's timeout: an invocation longer than this failed. */
  readonly timeoutMs: number;
  /** No invocation starts after this long. */
  readonly stopAfterMs: number;
  readonly invoke: (call: InvocationCall<E>) => Promise<R>;
  /** Called as an invocation starts. */
  readonly onStart?: (call: InvocationCall<E>) => void;
  /** Called once a delivery is done with: succeeded, or dead-lettered after its last try. */
  readonly onSettled?: (delivery: Delivery<E>, outcome: 'succeeded' | 'dead-lettered') => void;
}

export interface AsyncLambdaSummary<E, R> {
  readonly invocations: ReadonlyArray<InvocationRecord<R>>;
  readonly deadLetters: ReadonlyArray<DeadLetter<E>>;
  /** Deliveries still queued when `stopAfterMs` passed (never invoked, or waiting for a retry). */
  readonly undelivered: ReadonlyArray<Delivery<E>>;
  readonly stoppedByTime: boolean;
}

export interface AsyncLambda<E, R> {
  /** Queues a new delivery of `event` (a new request id); returns it. */
  deliver(event: E, options?: { readonly delayMs?: number; readonly priority?: boolean }): Delivery<E>;
  /**
   * Keeps the queue open while something may still deliver (an upload in
   * progress); call the returned function when it is done.
   */
  hold(): () => void;
  /** Whether the delivery has an invocation running now. */
  running(deliveryId: number): boolean;
  /** Resolves when the queue is empty, no invocation runs and nothing holds it (or `stopAfterMs` passed). */
  readonly done: Promise<AsyncLambdaSummary<E, R>>;
}

interface Queued<E> {
  readonly delivery: Delivery<E>;
  readonly attempt: number;
  readonly readyAt: number;
  readonly priority: boolean;
  readonly order: number;
}

/** The platform's own code for an invocation that overran its timeout. */
export const LAMBDA_TIMEOUT = 'LAMBDA_TIMEOUT';

/**
 * Starts the execution environments. Queue the first deliveries, or
 * {@link AsyncLambda.hold} the queue, before awaiting anything: a queue
 * found empty with nothing holding it ends the run.
 *
 * @throws {TypeError} when `concurrency` is not a whole number ≥ 1.
 */
export function startAsyncLambda<E, R>(o: AsyncLambdaOptions<E, R>): AsyncLambda<E, R> {
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
    throw new TypeError(`expected concurrency to be a whole number ≥ 1, got ${o.concurrency}`);
  }
  const stopAt = performance.now() + o.stopAfterMs;
  const queue: Array<Queued<E>> = [];
  const invocations: Array<InvocationRecord<R>> = [];
  const deadLetters: Array<DeadLetter<E>> = [];
  const runningDeliveries = new Map<number, number>();
  let nextDelivery = 0;
  let nextOrder = 0;
  let nextSeq = 0;
  let active = 0;
  let holds = 0;
  let stoppedByTime = false;
  let wake: Array<() => void> = [];

  const poke = (): void => {
    const waiting = wake;
    wake = [];
    for (const w of waiting) w();
  };
  const push = (item: Omit<Queued<E>, 'order'>): void => {
    queue.push({ ...item, order: nextOrder++ });
    poke();
  };

  /** The next invocation to run, or undefined when the run is over. */
  async function take(): Promise<Queued<E> | undefined> {
    for (;;) {
      const now = performance.now();
      if (now >= stopAt) {
        if (queue.length > 0) stoppedByTime = true;
        poke();
        return undefined;
      }
      let best = -1;
      for (let i = 0; i < queue.length; i++) {
        const q = queue[i]!;
        if (q.readyAt > now) continue;
        const b = best >= 0 ? queue[best]! : undefined;
        if (!b || (q.priority && !b.priority) || (q.priority === b.priority && (q.readyAt < b.readyAt || (q.readyAt === b.readyAt && q.order < b.order)))) {
          best = i;
        }
      }
      if (best >= 0) {
        active++;
        return queue.splice(best, 1)[0]!;
      }
      if (queue.length === 0 && active === 0 && holds === 0) {
        poke();
        return undefined;
      }
      const nextReady = Math.min(stopAt, ...queue.map((q) => q.readyAt));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, nextReady - now));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        wake.push(done);
      });
    }
  }

  async function worker(index: number): Promise<void> {
    for (let item = await take(); item; item = await take()) {
      const { delivery, attempt } = item;
      const seq = nextSeq++;
      const startedAt = performance.now();
      const call: InvocationCall<E> = { delivery, attempt, seq, worker: index, endsAt: Date.now() + o.timeoutMs };
      runningDeliveries.set(delivery.id, (runningDeliveries.get(delivery.id) ?? 0) + 1);
      let result: R | undefined;
      let error: { code: string; message: string } | undefined;
      try {
        o.onStart?.(call);
        result = await o.invoke(call);
      } catch (err) {
        error = toErrorInfo(err);
      }
      const endedAt = performance.now();
      // Lambda would have ended it at its timeout; the simulation waits for
      // it (an environment runs one invocation at a time) and counts it failed.
      if (!error && endedAt - startedAt > o.timeoutMs) {
        error = { code: LAMBDA_TIMEOUT, message: `ran ${Math.round(endedAt - startedAt)} ms, over the ${o.timeoutMs} ms timeout` };
      }
      runningDeliveries.set(delivery.id, runningDeliveries.get(delivery.id)! - 1);
      invocations.push({ seq, deliveryId: delivery.id, attempt, worker: index, startedAt, endedAt, ...(result !== undefined ? { result } : {}), ...(error ? { error } : {}) });
      if (!error) {
        o.onSettled?.(delivery, 'succeeded');
      } else if (attempt <= o.retryDelaysMs.length) {
        push({ delivery, attempt: attempt + 1, readyAt: endedAt + o.retryDelaysMs[attempt - 1]!, priority: false });
      } else {
        deadLetters.push({ delivery, error, attempts: attempt });
        o.onSettled?.(delivery, 'dead-lettered');
      }
      active--;
      poke();
    }
  }

  // The environments start after the caller's synchronous code, so it can
  // queue deliveries or hold the queue before an empty queue ends the run.
  const done = Promise.resolve()
    .then(() => Promise.all(Array.from({ length: o.concurrency }, (_, i) => worker(i))))
    .then(
    (): AsyncLambdaSummary<E, R> => ({
      invocations: [...invocations].sort((a, b) => a.seq - b.seq),
      deadLetters,
      undelivered: queue.map((q) => q.delivery),
      stoppedByTime,
    }),
  );

  return {
    deliver(event, options = {}) {
      const delivery: Delivery<E> = { id: nextDelivery++, event, requestId: randomUUID() };
      push({ delivery, attempt: 1, readyAt: performance.now() + (options.delayMs ?? 0), priority: options.priority ?? false });
      return delivery;
    },
    hold() {
      holds++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        holds--;
        poke();
      };
    },
    running: (id) => (runningDeliveries.get(id) ?? 0) > 0,
    done,
  };
}
