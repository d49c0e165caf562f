import { describe, expect, it } from 'vitest';
import { endpointBudget, TRIGGER_LIMITS } from '../../infra/budget';

describe('endpointBudget: direct trigger (reserved concurrency)', () => {
  it('turns a 10-request endpoint and 5 fields into 2 images of 5 requests', () => {
    // Act
    const budget = endpointBudget({ capacity: 10, fieldCount: 5 });

    // Assess
    expect(budget).toEqual({ perImage: 5, concurrentImages: 2, maxInFlight: 10, roundsPerImage: 1 });
  });

  it('asks every field at once and fits as many images as whole ones fit', () => {
    const budget = endpointBudget({ capacity: 10, fieldCount: 3 });

    expect(budget).toMatchObject({ perImage: 3, concurrentImages: 3, maxInFlight: 9 });
  });

  it('gives one image the whole endpoint when it has fewer slots than fields', () => {
    const budget = endpointBudget({ capacity: 4, fieldCount: 5 });

    expect(budget).toEqual({ perImage: 4, concurrentImages: 1, maxInFlight: 4, roundsPerImage: 2 });
  });

  it('serves a one-request endpoint one field at a time', () => {
    const budget = endpointBudget({ capacity: 1, fieldCount: 5 });

    expect(budget).toEqual({ perImage: 1, concurrentImages: 1, maxInFlight: 1, roundsPerImage: 5 });
  });

  it('keeps each image under a per-image maximum, fitting more images beside it', () => {
    const budget = endpointBudget({ capacity: 100, fieldCount: 50, perImageMax: 40 });

    expect(budget).toEqual({ perImage: 40, concurrentImages: 2, maxInFlight: 80, roundsPerImage: 2 });
  });

  it('uses the direct limits when none are given', () => {
    const implicit = endpointBudget({ capacity: 7, fieldCount: 2 });

    const explicit = endpointBudget({ capacity: 7, fieldCount: 2, limits: TRIGGER_LIMITS.direct });

    expect(implicit).toEqual(explicit);
  });
});

describe('endpointBudget: queue trigger (event source maximum concurrency, 2 to 1000)', () => {
  it('keeps 2 images of 5 requests for a 10-request endpoint and 5 fields', () => {
    const budget = endpointBudget({ capacity: 10, fieldCount: 5, limits: TRIGGER_LIMITS.queue });

    expect(budget).toMatchObject({ perImage: 5, concurrentImages: 2, maxInFlight: 10 });
  });

  it('shrinks each image\'s share when the platform cannot run fewer than 2 images', () => {
    // Prepare: 6 fields would fill 6 of 10 slots, leaving room for one image only.
    const input = { capacity: 10, fieldCount: 6, limits: TRIGGER_LIMITS.queue };

    // Act
    const budget = endpointBudget(input);

    // Assess
    expect(budget).toEqual({ perImage: 5, concurrentImages: 2, maxInFlight: 10, roundsPerImage: 2 });
  });

  it('caps images at the event source maximum of 1000', () => {
    const budget = endpointBudget({ capacity: 5000, fieldCount: 1, limits: TRIGGER_LIMITS.queue });

    expect(budget).toMatchObject({ perImage: 1, concurrentImages: 1000, maxInFlight: 1000 });
  });

  it('refuses a one-request endpoint, which 2 concurrent invocations would overload', () => {
    const act = () => endpointBudget({ capacity: 1, fieldCount: 5, limits: TRIGGER_LIMITS.queue });

    expect(act).toThrow(RangeError);
    expect(act).toThrow(/capacity must be at least 2/);
  });
});

describe('endpointBudget: the invariant', () => {
  it('never exceeds the capacity, never asks more than the fields, for every small combination', () => {
    // Prepare
    const cases: Array<[number, number, keyof typeof TRIGGER_LIMITS]> = [];
    for (let capacity = 1; capacity <= 64; capacity++) {
      for (let fieldCount = 1; fieldCount <= 16; fieldCount++) {
        cases.push([capacity, fieldCount, 'direct']);
        if (capacity >= 2) cases.push([capacity, fieldCount, 'queue']);
      }
    }

    for (const [capacity, fieldCount, trigger] of cases) {
      // Act
      const b = endpointBudget({ capacity, fieldCount, limits: TRIGGER_LIMITS[trigger] });

      // Assess
      const where = `${trigger} C=${capacity} F=${fieldCount}`;
      expect(b.perImage * b.concurrentImages, where).toBeLessThanOrEqual(capacity);
      expect(b.maxInFlight, where).toBe(b.perImage * b.concurrentImages);
      expect(b.perImage, where).toBeGreaterThanOrEqual(1);
      expect(b.perImage, where).toBeLessThanOrEqual(fieldCount);
      expect(b.concurrentImages, where).toBeGreaterThanOrEqual(TRIGGER_LIMITS[trigger].min);
      expect(b.roundsPerImage, where).toBe(Math.ceil(fieldCount / b.perImage));
    }
  });
});

describe('endpointBudget: bad arguments', () => {
  it.each([
    ['capacity', { capacity: 0, fieldCount: 5 }],
    ['capacity', { capacity: 2.5, fieldCount: 5 }],
    ['capacity', { capacity: Number.NaN, fieldCount: 5 }],
    ['fieldCount', { capacity: 10, fieldCount: 0 }],
    ['fieldCount', { capacity: 10, fieldCount: -1 }],
    ['perImageMax', { capacity: 10, fieldCount: 5, perImageMax: 0 }],
  ])('rejects a bad %s with a TypeError naming it', (name, input) => {
    const act = () => endpointBudget(input);

    expect(act).toThrow(TypeError);
    expect(act).toThrow(new RegExp(`expected ${name} to be a whole number`));
  });

  it('rejects limits whose maximum is below their minimum', () => {
    const act = () => endpointBudget({ capacity: 10, fieldCount: 5, limits: { min: 3, max: 2 } });

    expect(act).toThrow(/limits.max \(2\) to be at least limits.min \(3\)/);
  });
});
