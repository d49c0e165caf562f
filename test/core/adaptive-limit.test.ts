import { describe, expect, it } from 'vitest';
import { AimdLevel, createAdaptiveLimit, type AttemptFeedback } from '../../functions/core/adaptive-limit';
import { deferred, flush } from './fakes';

/** A gate's task that waits for its gate and counts how many run at once. */
function tracked(): {
  task: (gate: Promise<void>, onFeedback?: (f: AttemptFeedback | undefined) => void) => (f?: AttemptFeedback) => Promise<void>;
  running: () => number;
  most: () => number;
} {
  let running = 0;
  let most = 0;
  return {
    task: (gate, onFeedback) => async (f) => {
      running++;
      most = Math.max(most, running);
      onFeedback?.(f);
      await gate;
      running--;
    },
    running: () => running,
    most: () => most,
  };
}

describe('AimdLevel', () => {
  it('starts at the cap', () => {
    expect(new AimdLevel(8).limit).toBe(8);
  });

  it('halves on a throttle', () => {
    // Prepare
    const level = new AimdLevel(8);

    // Act
    level.throttled(level.epoch);

    // Assess
    expect(level.limit).toBe(4);
  });

  it('halves once for a burst of throttles from requests that started together', () => {
    // Prepare: four requests started in the same epoch
    const level = new AimdLevel(8);
    const startedIn = level.epoch;

    // Act
    for (let i = 0; i < 4; i++) level.throttled(startedIn);

    // Assess
    expect(level.limit).toBe(4);
    expect(level.throttles).toBe(4);
  });

  it('halves again for a request that started after the last decrease', () => {
    const level = new AimdLevel(8);
    level.throttled(level.epoch);

    level.throttled(level.epoch);

    expect(level.limit).toBe(2);
  });

  it('never goes below 1', () => {
    const level = new AimdLevel(2);

    for (let i = 0; i < 5; i++) level.throttled(level.epoch);

    expect(level.limit).toBe(1);
  });

  it('grows by one for each window of answers: +1 after `limit` successes', () => {
    // Prepare: down to 2
    const level = new AimdLevel(8);
    level.throttled(level.epoch);
    level.throttled(level.epoch);
    expect(level.limit).toBe(2);

    // Act / Assess: two answers at 2 make 3, three answers at 3 make 4
    level.succeeded();
    expect(level.limit).toBe(2);
    level.succeeded();
    expect(level.limit).toBe(3);
    level.succeeded();
    level.succeeded();
    level.succeeded();
    expect(level.limit).toBe(4);
  });

  it('never grows above the cap', () => {
    const level = new AimdLevel(3);

    for (let i = 0; i < 100; i++) level.succeeded();

    expect(level.limit).toBe(3);
  });

  it.each([0, 1.5, NaN, -1])('refuses a cap of %s with a TypeError naming the expectation', (cap) => {
    expect(() => new AimdLevel(cap)).toThrow(/whole number ≥ 1/);
  });

  it('refuses a start outside [1, cap]', () => {
    expect(() => new AimdLevel(4, 5)).toThrow(TypeError);
    expect(() => new AimdLevel(4, 0)).toThrow(TypeError);
  });
});

describe('createAdaptiveLimit', () => {
  it('never runs more tasks than the cap', async () => {
    // Prepare
    const limit = createAdaptiveLimit(new AimdLevel(3));
    const gates = Array.from({ length: 7 }, () => deferred());
    const t = tracked();

    // Act
    const all = Promise.all(gates.map((g) => limit(t.task(g.promise))));
    await flush();
    const first = t.running();
    for (const g of gates) {
      g.resolve();
      await flush();
    }
    await all;

    // Assess
    expect(first).toBe(3);
    expect(t.most()).toBe(3);
  });

  it('starts nothing new while as many run as the lowered limit allows', async () => {
    // Prepare: 4 running at a cap of 4, 4 more waiting
    const level = new AimdLevel(4);
    const limit = createAdaptiveLimit(level);
    const gates = Array.from({ length: 8 }, () => deferred());
    const feedbacks: Array<AttemptFeedback | undefined> = [];
    const t = tracked();
    const all = Promise.all(gates.map((g) => limit(t.task(g.promise, (f) => feedbacks.push(f)))));
    await flush();
    expect(t.running()).toBe(4);

    // Act: the first one is throttled (limit 4 → 2), then two finish
    feedbacks[0]!.throttled();
    gates[0]!.resolve();
    await flush();
    const afterOne = t.running();
    gates[1]!.resolve();
    await flush();
    const afterTwo = t.running();
    gates[2]!.resolve();
    await flush();
    const afterThree = t.running();

    // Assess: 3 still running > 2, so nothing starts; at 1 running, one more starts
    expect(limit.limit).toBe(2);
    expect(afterOne).toBe(3);
    expect(afterTwo).toBe(2);
    expect(afterThree).toBe(2);
    expect(limit.waiting).toBe(3);
    for (const g of gates) g.resolve();
    await all;
  });

  it('lets a throttled gate grow back while it is full, one slot per window of answers', async () => {
    // Prepare: cap 4, down to 1 after a throttle, 6 tasks queued
    const level = new AimdLevel(4);
    level.throttled(level.epoch);
    level.throttled(level.epoch);
    const limit = createAdaptiveLimit(level);
    const t = tracked();
    const gates = Array.from({ length: 6 }, () => deferred());
    const feedbacks: Array<AttemptFeedback | undefined> = [];
    const all = Promise.all(gates.map((g) => limit(t.task(g.promise, (f) => feedbacks.push(f)))));
    await flush();
    expect(t.running()).toBe(1);

    // Act: the first answers (full: others waiting) → limit 2
    feedbacks[0]!.succeeded();
    gates[0]!.resolve();
    await flush();

    // Assess
    expect(limit.limit).toBe(2);
    expect(t.running()).toBe(2);
    for (const g of gates) g.resolve();
    await all;
  });

  it('does not grow from answers while the gate is not full', async () => {
    // Prepare: cap 4 lowered to 2; only one task
    const level = new AimdLevel(4);
    level.throttled(level.epoch);
    const limit = createAdaptiveLimit(level);

    // Act
    for (let i = 0; i < 10; i++) await limit(async (f) => f?.succeeded());

    // Assess
    expect(level.limit).toBe(2);
  });

  it('counts one report per task, whatever the task reports', async () => {
    const level = new AimdLevel(8);
    const limit = createAdaptiveLimit(level);

    await limit(async (f) => {
      f?.throttled();
      f?.throttled();
    });

    expect(level.throttles).toBe(1);
  });

  it('shares what it learnt with the next gate over the same level', async () => {
    // Prepare: one invocation is throttled
    const level = new AimdLevel(6);
    await createAdaptiveLimit(level)(async (f) => f?.throttled());

    // Act: the next invocation's gate
    const next = createAdaptiveLimit(level);
    const t = tracked();
    const gate = deferred();
    const all = Promise.all(Array.from({ length: 6 }, () => next(t.task(gate.promise))));
    await flush();

    // Assess
    expect(t.running()).toBe(3);
    gate.resolve();
    await all;
  });

  it('releases the slot of a task that rejects and passes its error on', async () => {
    const limit = createAdaptiveLimit(new AimdLevel(1));

    const failing = limit(async () => {
      throw new Error('boom');
    });
    const after = limit(async () => 'next');

    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('next');
  });
});

describe('createAdaptiveLimit: retries by hand-off', () => {
  it('holds a hand-off while one of its requests is in flight, though the limit has room, and starts it on that answer', async () => {
    // Prepare: cap 4, one request in flight
    const limit = createAdaptiveLimit(new AimdLevel(4));
    const t = tracked();
    const inFlight = deferred();
    const retry = deferred();
    const first = limit(t.task(inFlight.promise));
    await flush();

    // Act
    const handedOff = limit(t.task(retry.promise), { handOff: true });
    await flush();
    const whileWaiting = { running: t.running(), waiting: limit.waiting };
    inFlight.resolve();
    await first;
    await flush();
    const afterAnswer = { running: t.running(), waiting: limit.waiting };
    retry.resolve();
    await handedOff;

    // Assess
    expect(whileWaiting).toEqual({ running: 1, waiting: 1 });
    expect(afterAnswer).toEqual({ running: 1, waiting: 0 });
  });

  it('starts a hand-off at once when nothing is in flight', async () => {
    const limit = createAdaptiveLimit(new AimdLevel(4));

    await expect(limit(async () => 'went', { handOff: true })).resolves.toBe('went');
  });

  it('gives an answered slot to a hand-off before the tasks queued for a slot', async () => {
    // Prepare: cap 1, one running, a new task queued, then a hand-off
    const limit = createAdaptiveLimit(new AimdLevel(1));
    const order: string[] = [];
    const inFlight = deferred();
    const first = limit(() => inFlight.promise);
    const queued = limit(async () => void order.push('queued'));
    const handedOff = limit(async () => void order.push('hand-off'), { handOff: true });
    await flush();

    // Act
    inFlight.resolve();
    await Promise.all([first, queued, handedOff]);

    // Assess
    expect(order).toEqual(['hand-off', 'queued']);
  });

  it('hands off nothing when a request is refused (it held no slot), until nothing is left in flight', async () => {
    // Prepare: cap 4, two requests in flight, one hand-off waiting
    const limit = createAdaptiveLimit(new AimdLevel(4));
    const t = tracked();
    const a = deferred();
    const b = deferred();
    const feedbacks: Array<AttemptFeedback | undefined> = [];
    const first = limit(t.task(a.promise, (f) => feedbacks.push(f)));
    const second = limit(t.task(b.promise, (f) => feedbacks.push(f)));
    await flush();
    const retry = deferred();
    const handedOff = limit(t.task(retry.promise), { handOff: true });
    await flush();

    // Act: the first is refused; then the second is refused too, leaving nothing in flight
    feedbacks[0]!.throttled();
    a.resolve();
    await first;
    await flush();
    const afterRefusal = limit.waiting;
    feedbacks[1]!.throttled();
    b.resolve();
    await second;
    await flush();
    const afterAllGone = { running: t.running(), waiting: limit.waiting };
    retry.resolve();
    await handedOff;

    // Assess
    expect(afterRefusal).toBe(1);
    expect(afterAllGone).toEqual({ running: 1, waiting: 0 });
  });
});

