/**
 * The soak at a tiny scale, through the real handler, the local S3 server
 * and the test server: nothing is lost and the accounting adds up. Every
 * per-key decision of the plan (which key's writes are stuck, which image
 * has an outage, which key is replaced, which events are duplicated) is a
 * pure function of the seed, so seed 27 is known to exercise each of them
 * at these rates. No timing is asserted.
 *
 * The accounting's definition of a model call spent on a duplicate is
 * pinned on a hand-made record.
 */
import { describe, expect, it } from 'vitest';
import { accountSoak, soakChecks, type SoakRecord } from '../../bench/soak-accounting';
import { SOAK_DEFAULTS, type SoakOptions } from '../../bench/soak-options';
import { runSoak } from '../../bench/soak-run';

const TINY: SoakOptions = {
  ...SOAK_DEFAULTS,
  images: 12,
  concurrency: 2,
  seconds: 60,
  seed: 27,
  latencyMs: [10, 40],
  modelFaults: 0.15,
  outages: 0.15,
  writeFailures: 0,
  stuckKeys: 0.1,
  duplicates: 0.2,
  inFlightDuplicates: 0.2,
  replacements: 0.15,
  modelTimeoutMs: 300,
  remainingMs: 10_000,
  retryDelaysMs: [50, 100],
  imageBytes: 2_000,
};

describe('bench: soak', () => {
  it('loses no image under duplicates, replacements, model faults and stuck writes, and its accounting adds up', { timeout: 60_000 }, async () => {
    // Act
    const { record, figures } = await runSoak(TINY);

    // Assess: nothing lost; every object has a current document or a dead letter
    expect(figures.lostExamples).toEqual([]);
    expect(figures.lost).toBe(0);
    expect(figures.images).toBe(12);
    expect(figures.documents.total + figures.deadLettered.objectsWithoutDocument + figures.lost).toBe(figures.images);
    expect(figures.documents.total + figures.deadLettered.events).toBeGreaterThanOrEqual(figures.images);

    // Assess: the stuck key's event went to the dead-letter list after Lambda's two retries
    expect(record.deadLetters.map((d) => d.version)).toContain('incoming/01.png#1');
    for (const dead of record.deadLetters) {
      expect(record.invocations.filter((i) => i.deliveryId === dead.deliveryId).map((i) => i.attempt)).toEqual([1, 2, 3]);
    }
    // The outage image's first run failed every field; its retry resumed it
    expect(figures.invocations.failed.RESULT_RETRYABLE).toBeGreaterThanOrEqual(1);
    // The replaced key was counted against its new version
    expect(figures.versions).toBe(13);
    expect(figures.deliveries.byKind.replacement).toBe(1);

    // Assess: every delivery and request is accounted for
    expect(figures.deliveries.undelivered).toBe(0);
    expect(figures.stoppedByTime).toBe(false);
    expect(figures.invocations.total).toBe(figures.deliveries.total + figures.invocations.retries);
    expect(figures.modelCalls.unattributed).toBe(0);
    expect(figures.modelCalls.total).toBe(figures.modelCalls.serverReceived);
    expect(figures.modelCalls.total).toBeGreaterThanOrEqual(figures.images * TINY.fields);
    // The per-invocation cap holds the endpoint to the budget
    expect(figures.inFlight.budget).toBe(8);
    expect(figures.inFlight.max).toBeLessThanOrEqual(figures.inFlight.budget);
    expect(JSON.parse(JSON.stringify(figures))).toEqual(figures);
  });

  it('leaves no fleet slot held when every invocation shares one fleet gate, through the same faults', { timeout: 60_000 }, async () => {
    // Act
    const { figures } = await runSoak({ ...TINY, fleetGate: true });

    // Assess: the same guarantees, and every slot released (hangs, retries and failed writes included)
    expect(figures.lostExamples).toEqual([]);
    expect(figures.lost).toBe(0);
    expect(figures.modelCalls.spentOnDuplicates).toBe(0);
    expect(figures.fleetGate).toMatchObject({ held: 0 });
    expect(figures.fleetGate!.level).toBeGreaterThanOrEqual(1);
    expect(figures.fleetGate!.level).toBeLessThanOrEqual(TINY.capacity);
    expect(soakChecks(figures).find((c) => c.name === 'fleet gate: slots held at the end')?.pass).toBe(true);
  });
});

describe('bench: soak accounting', () => {
  /** a#1: an original, an in-flight duplicate and a later duplicate; b#1 dead-lettered; c's document is stale. */
  const record: SoakRecord = {
    images: 3,
    versions: [
      { label: 'incoming/a#1', key: 'incoming/a', etag: 'ea', resultKey: 'results/a.json' },
      { label: 'incoming/b#1', key: 'incoming/b', etag: 'eb', resultKey: 'results/b.json' },
      { label: 'incoming/c#1', key: 'incoming/c', etag: 'ec1', resultKey: 'results/c.json' },
      { label: 'incoming/c#2', key: 'incoming/c', etag: 'ec2', resultKey: 'results/c.json' },
    ],
    deliveries: [
      { id: 0, version: 'incoming/a#1', kind: 'original' },
      { id: 1, version: 'incoming/a#1', kind: 'in-flight duplicate', overlapped: true },
      { id: 2, version: 'incoming/a#1', kind: 'duplicate' },
      { id: 3, version: 'incoming/b#1', kind: 'original' },
    ],
    invocations: [
      { seq: 0, deliveryId: 0, attempt: 1, startedAt: 0, endedAt: 100, outcomes: ['written partial retryable'] },
      { seq: 1, deliveryId: 1, attempt: 1, startedAt: 20, endedAt: 120, outcomes: ['written partial retryable'] },
      { seq: 2, deliveryId: 2, attempt: 1, startedAt: 200, endedAt: 300, outcomes: ['written complete'] },
      { seq: 3, deliveryId: 3, attempt: 1, startedAt: 0, endedAt: 50, error: 'RESULT_WRITE_FAILED', outcomes: [] },
      { seq: 4, deliveryId: 3, attempt: 2, startedAt: 60, endedAt: 90, error: 'RESULT_WRITE_FAILED', outcomes: [] },
      { seq: 5, deliveryId: 3, attempt: 3, startedAt: 100, endedAt: 130, error: 'RESULT_WRITE_FAILED', outcomes: [] },
    ],
    deadLetters: [{ deliveryId: 3, version: 'incoming/b#1', error: 'RESULT_WRITE_FAILED' }],
    undelivered: 0,
    stoppedByTime: false,
    modelCalls: [
      // The original asks both fields; f2 needs a retry.
      { invocation: 0, version: 'incoming/a#1', field: 'f1', at: 10 },
      { invocation: 0, version: 'incoming/a#1', field: 'f2', at: 10 },
      { invocation: 0, version: 'incoming/a#1', field: 'f2', at: 40 },
      // The in-flight duplicate asks f1 while the original is still asking it: concurrent.
      { invocation: 1, version: 'incoming/a#1', field: 'f1', at: 30 },
      // The later duplicate asks f2, which the stored document had failed (legitimate), and f1, which it had answered.
      { invocation: 2, version: 'incoming/a#1', field: 'f2', at: 210 },
      { invocation: 2, version: 'incoming/a#1', field: 'f1', at: 210 },
      // b: every try asks again after a failed write (legitimate: nothing was on record).
      { invocation: 3, version: 'incoming/b#1', field: 'f1', at: 10 },
      { invocation: 4, version: 'incoming/b#1', field: 'f1', at: 70 },
    ],
    resultWrites: [
      { key: 'results/a.json', invocation: 0, at: 90, ok: true, injected: false, sourceEtag: 'ea', fields: { f1: 'ok', f2: 'MODEL_SERVER_ERROR' } },
      { key: 'results/b.json', invocation: 3, at: 45, ok: false, injected: true, sourceEtag: 'eb', fields: { f1: 'ok' } },
      { key: 'results/b.json', invocation: 4, at: 85, ok: false, injected: true, sourceEtag: 'eb', fields: { f1: 'ok' } },
    ],
    objects: [
      { key: 'incoming/a', etag: 'ea', document: { sourceEtag: 'ea', status: 'complete', retryable: false } },
      { key: 'incoming/b', etag: 'eb' },
      { key: 'incoming/c', etag: 'ec2', document: { sourceEtag: 'ec1', status: 'complete', retryable: false } },
    ],
    server: { requests: 8, maxInFlight: 3, capacity429: 0 },
    faults: { '503': 1, '429 without hint': 2 },
    budget: { capacity: 10, perInvocation: 2, concurrency: 4, maxInFlight: 8 },
    wallMs: 300,
  };

  it('counts a call as spent on a duplicate only when its answer was on record or being asked by another invocation', () => {
    // Act
    const f = accountSoak(record);

    // Assess
    expect(f.modelCalls).toMatchObject({ total: 8, spentOnDuplicates: 2, duplicateAnswered: 1, duplicateConcurrent: 1, unattributed: 0 });
    expect(soakChecks(f).find((c) => c.name === 'model calls spent on duplicates')?.pass).toBe(false);
  });

  it('fails the run when the fleet gate still holds a slot at the end', () => {
    const f = accountSoak({ ...record, fleetGate: { held: 2, level: 6, epoch: 1 } });

    expect(soakChecks(f).find((c) => c.name === 'fleet gate: slots held at the end')).toMatchObject({ value: '2', pass: false });
    expect(soakChecks(accountSoak(record)).some((c) => c.name.startsWith('fleet gate'))).toBe(false);
  });

  it('finds the object whose document is for an older ETag lost, and the dead-lettered one not', () => {
    // Act
    const f = accountSoak(record);

    // Assess
    expect(f.documents).toEqual({ total: 1, byStatus: { complete: 1 }, retryable: 0 });
    expect(f.deadLettered).toEqual({ events: 1, objectsWithoutDocument: 1 });
    expect(f.lost).toBe(1);
    expect(f.lostExamples).toEqual(['incoming/c: document for ETag ec1, object has ec2']);
    expect(f.throttled.injected429).toBe(2);
    expect(f.invocations).toEqual({ total: 6, retries: 2, failed: { RESULT_WRITE_FAILED: 3 } });
  });
});
