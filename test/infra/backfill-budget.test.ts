import { describe, expect, it } from 'vitest';
import { describeSharedBudget, shareEndpoint } from '../../infra/backfill-budget';
import { TRIGGER_LIMITS } from '../../infra/budget';

describe('shareEndpoint', () => {
  it('gives half of a 10-request endpoint to each side by default', () => {
    // Act
    const shared = shareEndpoint({ capacity: 10, fieldCount: 5 });

    // Assess
    expect(shared).toMatchObject({ share: 0.5, liveCapacity: 5, backfillCapacity: 5, maxInFlight: 10 });
    expect(shared.live).toMatchObject({ perImage: 5, concurrentImages: 1 });
    expect(shared.backfill).toMatchObject({ perImage: 5, concurrentImages: 1 });
  });

  it('rounds the backfill part down, in favour of the uploads', () => {
    const shared = shareEndpoint({ capacity: 16, fieldCount: 5, share: 0.3 });

    expect(shared.backfillCapacity).toBe(4);
    expect(shared.liveCapacity).toBe(12);
    expect(shared.live).toMatchObject({ perImage: 5, concurrentImages: 2 });
    expect(shared.backfill).toMatchObject({ perImage: 4, concurrentImages: 1 });
  });

  it('keeps at least one request for the backfill and the trigger minimum for the uploads', () => {
    expect(shareEndpoint({ capacity: 2, fieldCount: 5, share: 0.1 })).toMatchObject({ backfillCapacity: 1, liveCapacity: 1 });
    expect(shareEndpoint({ capacity: 3, fieldCount: 5, share: 0.9, liveLimits: TRIGGER_LIMITS.queue })).toMatchObject({
      backfillCapacity: 1,
      liveCapacity: 2,
    });
  });

  it('never has more in flight, uploads and backfill together, than the endpoint serves', () => {
    for (let capacity = 2; capacity <= 40; capacity++) {
      for (const fieldCount of [1, 3, 5, 8, 20]) {
        for (const share of [0.05, 0.25, 0.5, 0.75, 0.95]) {
          const shared = shareEndpoint({ capacity, fieldCount, share });
          expect(shared.live.maxInFlight + shared.backfill.maxInFlight, `${capacity}/${fieldCount}/${share}`).toBeLessThanOrEqual(capacity);
          expect(shared.liveCapacity + shared.backfillCapacity).toBe(capacity);
        }
      }
    }
  });

  it('refuses a capacity that cannot be shared, saying how to fix it', () => {
    expect(() => shareEndpoint({ capacity: 1, fieldCount: 5 })).toThrow(/capacity of 1 cannot be shared.*at least 2.*turn the backfill off/);
    expect(() => shareEndpoint({ capacity: 2, fieldCount: 5, liveLimits: TRIGGER_LIMITS.queue })).toThrow(RangeError);
  });

  it.each([[0], [1], [-0.5], [Number.NaN]])('refuses a share of %s', (share) => {
    expect(() => shareEndpoint({ capacity: 10, fieldCount: 5, share })).toThrow(TypeError);
  });

  it('words both parts and their sum for the EndpointBudget output', () => {
    const text = describeSharedBudget(shareEndpoint({ capacity: 10, fieldCount: 5 }), 10);

    expect(text).toBe(
      'uploads: 5 requests per image x 1 images at once = 5 in flight at most; ' +
        "backfill (share 0.5): 5 requests per image x 1 images at once = 5 in flight at most; together 10 of the endpoint's 10",
    );
  });
});
