import { describe, expect, it } from 'vitest';
import { createLimit } from '../../functions/core/limit';
import { deferred, flush } from './fakes';

describe('createLimit', () => {
  it('never runs more than N tasks at once', async () => {
    // Prepare
    const limit = createLimit(2);
    const gates = Array.from({ length: 5 }, () => deferred());
    let running = 0;
    let most = 0;
    const task = (i: number) => async (): Promise<number> => {
      running++;
      most = Math.max(most, running);
      await gates[i]!.promise;
      running--;
      return i;
    };

    // Act
    const all = Promise.all(gates.map((_, i) => limit(task(i))));
    await flush();
    const startedFirst = running;
    for (const g of gates) {
      g.resolve();
      await flush();
    }

    // Assess
    expect(startedFirst).toBe(2);
    expect(most).toBe(2);
    expect(await all).toEqual([0, 1, 2, 3, 4]);
  });

  it('starts waiting tasks in the order they arrived', async () => {
    // Prepare
    const limit = createLimit(1);
    const started: number[] = [];
    const gates = Array.from({ length: 4 }, () => deferred());

    // Act
    const all = Promise.all(
      gates.map((g, i) =>
        limit(async () => {
          started.push(i);
          await g.promise;
        }),
      ),
    );
    // Let each running task finish in turn; the next one to start shows the queue order.
    for (let i = 0; i < gates.length; i++) {
      await flush();
      gates[i]!.resolve();
    }
    await all;

    // Assess
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it('releases the slot of a task that rejects, and passes its error on', async () => {
    // Prepare
    const limit = createLimit(1);

    // Act
    const failing = limit(async () => {
      throw new Error('boom');
    });
    const after = limit(async () => 'next');

    // Assess
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('next');
  });

  it('releases the slot of a task that throws synchronously', async () => {
    const limit = createLimit(1);

    const failing = limit((() => {
      throw new Error('sync boom');
    }) as () => Promise<never>);
    const after = limit(async () => 42);

    await expect(failing).rejects.toThrow('sync boom');
    await expect(after).resolves.toBe(42);
  });

  it('runs everything at once with Infinity', async () => {
    // Prepare
    const limit = createLimit(Infinity);
    const gate = deferred();
    let running = 0;

    // Act
    const all = Promise.all(
      Array.from({ length: 20 }, () =>
        limit(async () => {
          running++;
          await gate.promise;
        }),
      ),
    );
    await flush();
    const concurrent = running;
    gate.resolve();
    await all;

    // Assess
    expect(concurrent).toBe(20);
  });

  it.each([0, 1.5, NaN, -1, -Infinity])('refuses %s with a TypeError naming the expectation', (n) => {
    expect(() => createLimit(n)).toThrow(TypeError);
    expect(() => createLimit(n)).toThrow(/whole number ≥ 1/);
  });
});
