import { describe, expect, it } from 'vitest';
import { VirtualTime } from '../../bench/throttle-model';
import type { AttemptFeedback } from '../../functions/core/adaptive-limit';
import { ErrorCode } from '../../functions/core/errors';
import { createFleetGate, FleetStoreBusyError, FleetView, splitHolders, type FleetGateOptions } from '../../functions/core/fleet-gate';
import { MemoryFleetStore } from '../support/memory-fleet-store';
import { memoryLogger } from './fakes';

const START = Date.UTC(2026, 11, 2, 10, 0, 0);

/** Virtual time starting at a real-looking epoch (leases are epoch times). */
class Time extends VirtualTime {
  override now(): number {
    return START + super.now();
  }
}

function rig(cap: number, storeMs = 2) {
  const time = new Time();
  const store = new MemoryFleetStore(cap, time, storeMs);
  let running = 0;
  let most = 0;
  const gateOf = (over: Partial<FleetGateOptions> = {}) =>
    createFleetGate({
      store,
      view: new FleetView(cap),
      localCap: 5,
      owner: `inv-${Math.random().toString(36).slice(2, 8)}`,
      attemptMs: 60_000,
      pollMs: 20,
      clock: time,
      random: () => 0.5,
      logger: memoryLogger(),
      ...over,
    });
  /** A task of `ms` that counts how many run at once and may report to its feedback. */
  const task =
    (ms: number, report: (f: AttemptFeedback | undefined) => void = (f) => f?.succeeded()) =>
    async (f?: AttemptFeedback): Promise<number> => {
      running++;
      most = Math.max(most, running);
      await time.sleep(ms);
      running--;
      report(f);
      return ms;
    };
  return { time, store, gateOf, task, most: () => most };
}

describe('createFleetGate', () => {
  it('keeps the whole fleet to its limit, across environments', async () => {
    const { time, store, gateOf, task, most } = rig(4);
    const gates = [gateOf(), gateOf(), gateOf()];

    const all = Promise.all(gates.flatMap((gate) => Array.from({ length: 5 }, () => gate(task(100)))));
    await time.run();

    expect(await all).toHaveLength(15);
    expect(most()).toBe(4);
    expect(store.state.holders).toEqual({});
  });

  it('passes a slot to its own next request without a write, and releases it when nothing waits', async () => {
    const { time, store, gateOf, task } = rig(10);
    const gate = gateOf({ localCap: 2 });

    const all = Promise.all(Array.from({ length: 6 }, () => gate(task(100))));
    await time.run();
    await all;

    expect(store.calls.claim).toBe(1); // both slots in one claim
    expect(store.calls.release).toBe(2); // the last two requests, one each
    expect(store.state.holders).toEqual({});
  });

  it('has released its slot before the caller hears back', async () => {
    const { time, store, gateOf, task } = rig(10);
    const gate = gateOf();

    const one = gate(task(100)).then(() => Object.keys(store.state.holders).length);
    await time.run();

    expect(await one).toBe(0);
  });

  it('lowers the level to the slots held when a refused request claimed its own, less one', async () => {
    const { time, store, gateOf, task } = rig(10);
    const gate = gateOf({ localCap: 8 });
    let n = 0;
    // The eighth request's claim saw 8 held (itself included): the endpoint had room for 7.
    const refuseEighth = (f: AttemptFeedback | undefined) => (++n === 8 ? f?.throttled() : f?.succeeded());

    const all = Promise.all(Array.from({ length: 8 }, (_, i) => gate(task(100 + i, refuseEighth))));
    await time.run();
    await all;

    expect(store.state.level).toBe(7);
    expect(store.state.epoch).toBe(1);
  });

  it('never lowers the level below half on one refusal, whatever its position (a refusal not about load)', async () => {
    const { time, store, gateOf, task } = rig(10);
    const gate = gateOf();

    const one = gate(task(100, (f) => f?.throttled()));
    await time.run();
    await one;

    expect(store.state.level).toBe(5);
  });

  it('never raises the level on a throttle, and lowers it once for requests that saw the same room', async () => {
    const { time, store, gateOf, task } = rig(10);
    store.set({ level: 2, epoch: 0, holders: {} });
    const gate = gateOf();

    const all = Promise.all(Array.from({ length: 2 }, () => gate(task(100, (f) => f?.throttled()))));
    await time.run();
    await all;

    // positions 1 and 2: to max(1, 0) and 1; from 2 that is one lowering, to 1
    expect(store.state.level).toBe(1);
    expect(store.state.epoch).toBe(1);
  });

  it('grows the level while the fleet is full, never above the cap', async () => {
    const { time, store, gateOf, task } = rig(3);
    store.set({ level: 2, epoch: 0, holders: {} });
    const gate = gateOf();

    const all = Promise.all(Array.from({ length: 40 }, () => gate(task(100))));
    await time.run();
    await all;

    expect(store.state.level).toBe(3);
  });

  it('does not grow the level when the fleet has room and nothing waits', async () => {
    const { time, store, gateOf, task } = rig(10);
    store.set({ level: 6, epoch: 0, holders: {} });
    const gate = gateOf();

    const one = gate(task(100));
    await time.run();
    await one;

    expect(store.state.level).toBe(6);
  });

  it('waits while another environment holds every slot, and takes the first it frees', async () => {
    const { time, store, gateOf, task, most } = rig(2);
    const first = gateOf();
    const second = gateOf();
    const order: string[] = [];

    const a = Promise.all([first(task(300)), first(task(300))]).then(() => order.push('first'));
    const b = second(task(100)).then(() => order.push('second'));
    await time.run();
    await Promise.all([a, b]);

    expect(order).toEqual(['first', 'second']);
    expect(most()).toBe(2);
    expect(store.calls.read).toBeGreaterThan(2); // it polled
  });

  it("reclaims a crashed environment's slots once their leases end", async () => {
    const { time, store, gateOf, task } = rig(1);
    store.set({ level: 1, epoch: 0, holders: { 'crashed:1': START - 60_000 } });
    const gate = gateOf();

    const one = gate(task(100));
    await time.run();

    expect(await one).toBe(100);
    expect(store.state.holders).toEqual({});
  });

  it('counts a lease within the clock-skew allowance as live', () => {
    const state = { level: 2, epoch: 0, holders: { a: START - 1_000, b: START - 10_000, c: START + 1_000 } };

    expect(splitHolders(state, START)).toEqual({ live: 2, expired: { b: START - 10_000 } });
  });

  it('goes on under its local limit when the store fails, and says so once', async () => {
    const { time, store, gateOf, task, most } = rig(10);
    store.failWith = new Error('connect ECONNREFUSED');
    const logger = memoryLogger();
    const gate = gateOf({ localCap: 2, logger });

    const all = Promise.all(Array.from({ length: 5 }, () => gate(task(100))));
    await time.run();

    expect(await all).toHaveLength(5);
    expect(most()).toBe(2);
    expect(gate.degraded).toBe(true);
    const warnings = logger.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.data).toMatchObject({ code: ErrorCode.FLEET_GATE_UNAVAILABLE, error: { message: 'connect ECONNREFUSED' } });
  });

  it('sits out a store that refuses for its own load, waiting longer each time, without giving the gate up', async () => {
    // Prepare: the first three reads are refused as DynamoDB refuses a hot item
    const { time, store, gateOf, task } = rig(4);
    const read = store.read.bind(store);
    let refusals = 3;
    store.read = () => (refusals-- > 0 ? Promise.reject(new FleetStoreBusyError('throttled')) : read());
    const logger = memoryLogger();
    const gate = gateOf({ logger });

    // Act
    const one = gate(task(100)).then(() => time.now() - START);
    await time.run();

    // Assess: waits of about 2, 4 and 8 × the poll interval (± half), then the slot
    expect(await one).toBeGreaterThanOrEqual((40 + 80 + 160) / 2 + 100);
    expect(gate.degraded).toBe(false);
    expect(store.calls.claim).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('stops waiting for the fleet once the invocation deadline passes', async () => {
    const { time, store, gateOf, task } = rig(1);
    store.set({ level: 1, epoch: 0, holders: { 'other:1': START + 600_000 } });
    const deadline = new AbortController();
    const gate = gateOf({ signal: deadline.signal });
    void time.sleep(500).then(() => deadline.abort(new Error('deadline')));

    const one = gate(task(10)).then(() => time.now() - START);
    await time.run();

    expect(await one).toBeGreaterThanOrEqual(500);
    expect(store.state.holders).toEqual({ 'other:1': START + 600_000 });
  });

  it("lets a refused request's retry take its environment's next answered slot (hand-off)", async () => {
    const { time, store, gateOf, task } = rig(3);
    const gate = gateOf();

    const others = Promise.all([gate(task(200)), gate(task(200))]);
    const refused = gate(task(10, (f) => f?.throttled()));
    const retry = time.sleep(50).then(() =>
      gate(
        async (f) => {
          f?.succeeded();
          return time.now() - START;
        },
        { handOff: true },
      ),
    );
    await time.run();
    await Promise.all([others, refused]);

    expect(store.calls.lower).toBe(1);
    expect(store.state.epoch).toBe(1);
    expect(await retry).toBeGreaterThanOrEqual(200); // not at 50: after an answer, in its slot
    expect(store.calls.claim).toBe(1);
    expect(store.state.holders).toEqual({});
  });
});
