import { describe, expect, it } from 'vitest';
import { syntheticFields } from '../../bench/fields';
import { runThrottleModel, summarizeThrottleModel, VirtualTime, type ThrottleModelOptions } from '../../bench/throttle-model';

const BASE: ThrottleModelOptions = {
  images: 20,
  fields: syntheticFields(5),
  capacity: 10,
  latencyMs: 500,
  retryAfterMs: 100,
  noiseMs: 0,
  overCapacity: 'queue',
  environments: 2,
  perImage: 5,
  beforeModelMs: 0,
  afterModelMs: 0,
};

describe('VirtualTime', () => {
  it('fires timers in time order (equal times in the order set) and moves its clock to each', async () => {
    // Prepare
    const time = new VirtualTime();
    const fired: Array<[string, number]> = [];
    const at = (name: string, ms: number) => void time.sleep(ms).then(() => fired.push([name, time.now()]));
    at('late', 30);
    at('early', 10);
    at('tie-first', 20);
    at('tie-second', 20);

    // Act
    await time.run();

    // Assess
    expect(fired).toEqual([
      ['early', 10],
      ['tie-first', 20],
      ['tie-second', 20],
      ['late', 30],
    ]);
  });

  it('runs timers set by the callbacks of earlier ones', async () => {
    const time = new VirtualTime();
    let last = 0;
    void time.sleep(5).then(async () => {
      await time.sleep(7);
      last = time.now();
    });

    await time.run();

    expect(last).toBe(12);
  });

  it('shows each span of time before it passes, with nothing yet changed', async () => {
    // Prepare
    const time = new VirtualTime();
    let state = 'start';
    void time.sleep(10).then(() => (state = 'after 10'));
    void time.sleep(25).then(() => (state = 'after 25'));
    const spans: Array<[number, number, string]> = [];

    // Act
    await time.run((from, to) => spans.push([from, to, state]));

    // Assess
    expect(spans).toEqual([
      [0, 10, 'start'],
      [10, 25, 'after 10'],
    ]);
  });

  it('rejects a sleep whose signal has already fired', async () => {
    const time = new VirtualTime();
    const aborted = AbortSignal.abort(new Error('gone'));

    await expect(time.sleep(5, aborted)).rejects.toThrow('gone');
  });
});

describe('runThrottleModel', () => {
  it('gives exactly the ideal when the derived limits fill a queueing endpoint and nothing else takes time', async () => {
    // 20 images × 5 fields over C = 10: 10 rounds of 500 ms.
    const run = await runThrottleModel(BASE, 1);

    expect(run).toEqual({ makespanMs: 5_000, complete: 20, requests: 100, rejected: 0, idle: { fieldWaiting: 0, noneWaiting: 0 } });
  });

  it('adds each image’s S3 time to every round when the limits leave no one to fill the endpoint meanwhile', async () => {
    const run = await runThrottleModel({ ...BASE, beforeModelMs: 40, afterModelMs: 30 }, 1);

    // 10 images per environment, each 40 + 500 + 30 ms.
    expect(run.makespanMs).toBe(10 * 570);
    // The endpoint idles through the S3 time, with no field waiting.
    expect(run.idle.fieldWaiting).toBe(0);
    expect(run.idle.noneWaiting).toBeCloseTo(70 / 570, 12);
  });

  it('tells idle slots with a field held back by its limit from idle slots with nothing left to ask', async () => {
    // Prepare: 2 environments with a limit of 2 for 5 fields: rounds of 2, 2, then 1
    const o: ThrottleModelOptions = { ...BASE, images: 2, perImage: 2 };

    // Act
    const run = await runThrottleModel(o, 1);

    // Assess: two rounds with 6 slots free while 3 fields wait, then one with 8 free and none waiting
    expect(run.makespanMs).toBe(1_500);
    expect(run.idle.fieldWaiting).toBeCloseTo((6 + 6) / 30, 12);
    expect(run.idle.noneWaiting).toBeCloseTo(8 / 30, 12);
  });

  it('completes every image against an endpoint that refuses beyond C, counting each refusal as a request', async () => {
    // Prepare: twice the environments the limits allow
    const o: ThrottleModelOptions = { ...BASE, overCapacity: 'reject', environments: 4, noiseMs: 5, beforeModelMs: 35, afterModelMs: 35 };

    // Act
    const run = await runThrottleModel(o, 7);

    // Assess
    expect(run.complete).toBe(20);
    expect(run.rejected).toBeGreaterThan(0);
    expect(run.requests).toBe(100 + run.rejected);
    expect(run.makespanMs).toBeGreaterThan(5_000);
  });

  it('keeps the fleet at the endpoint\'s capacity with one fleet gate, where each environment alone over-subscribes it', async () => {
    // Prepare: twice the environments the limits allow; the fleet gate's capacity says 20, the endpoint serves 10
    const o: ThrottleModelOptions = { ...BASE, overCapacity: 'reject', environments: 4, noiseMs: 5, beforeModelMs: 35, afterModelMs: 35 };

    // Act
    const alone = await runThrottleModel(o, 7);
    const shared = await runThrottleModel({ ...o, fleet: { cap: 20, storeMs: 5, pollMs: 25 } }, 7);

    // Assess: the fleet learns C from its first refusals and then probes about once per window
    expect(shared.complete).toBe(20);
    expect(shared.requests).toBe(100 + shared.rejected);
    expect(shared.rejected).toBeLessThan(alone.rejected);
    expect(shared.makespanMs).toBeLessThan(alone.makespanMs);
    expect(shared.idle.fieldWaiting).toBeLessThan(alone.idle.fieldWaiting);
  });

  it('repeats a run exactly for the same seed', async () => {
    const o: ThrottleModelOptions = { ...BASE, overCapacity: 'reject', environments: 4, noiseMs: 5 };

    expect(await runThrottleModel(o, 3)).toEqual(await runThrottleModel(o, 3));
  });
});

describe('summarizeThrottleModel', () => {
  it('puts the seeds’ makespans against the ideal, in order', async () => {
    const s = await summarizeThrottleModel({ ...BASE, overCapacity: 'reject', environments: 4, noiseMs: 5 }, 9);

    expect(s.seeds).toBe(9);
    expect(s.allComplete).toBe(9);
    expect(s.ratio.p10).toBeGreaterThanOrEqual(1);
    expect(s.ratio.p10).toBeLessThanOrEqual(s.ratio.median);
    expect(s.ratio.median).toBeLessThanOrEqual(s.ratio.p90);
    expect(s.medianPer429).toBeGreaterThan(0);
    expect(s.medianIdle.fieldWaiting).toBeGreaterThan(0);
    expect(s.medianIdle.fieldWaiting + s.medianIdle.noneWaiting).toBeLessThan(1);
  });
});
