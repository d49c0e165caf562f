import { describe, expect, it } from 'vitest';
import { backoffDelay, decideRetry, MAX_RETRY_AFTER_MS, type RetryPolicy } from '../../functions/core/retry';

const policy: RetryPolicy = { maxRetries: 3 };

/** A decideRetry input that would retry; tests change one thing. */
function aFailure(overrides: Partial<Parameters<typeof decideRetry>[0]> = {}): Parameters<typeof decideRetry>[0] {
  return { retryable: true, retriesSoFar: 0, retryAfterMs: undefined, remainingMs: 60_000, policy, random: 0.5, ...overrides };
}

describe('backoffDelay', () => {
  it('waits nothing when the jitter draws 0', () => {
    expect(backoffDelay(0, policy, undefined, 0)).toBe(0);
    expect(backoffDelay(5, policy, undefined, 0)).toBe(0);
  });

  it('stays below the ceiling when the jitter draws just under 1', () => {
    // Act
    const delays = [0, 1, 2, 3].map((retry) => backoffDelay(retry, policy, undefined, 0.999));

    // Assess: ceilings 500, 1000, 2000, 4000
    expect(delays).toEqual([499, 999, 1998, 3996]);
  });

  it('doubles the ceiling per retry and caps it at 8000 ms', () => {
    // Prepare: random 0.5 shows half the ceiling
    const retries = [0, 1, 2, 3, 4, 5, 10];

    // Act
    const delays = retries.map((retry) => backoffDelay(retry, policy, undefined, 0.5));

    // Assess
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000]);
    expect(backoffDelay(30, policy, undefined, 0.999)).toBeLessThan(8000);
  });

  it('uses the policy’s own base and cap', () => {
    const custom: RetryPolicy = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 300 };

    expect([0, 1, 2].map((r) => backoffDelay(r, custom, undefined, 0.5))).toEqual([50, 100, 150]);
  });

  it('honours a server’s Retry-After longer than the backoff, rounding up', () => {
    expect(backoffDelay(0, policy, 1500, 0.9)).toBe(1500);
    expect(backoffDelay(0, policy, 1200.2, 0)).toBe(1201);
  });

  it('never waits less than the equal-jitter backoff when the hint is 0, negative or in the past', () => {
    // Prepare: the floor of retry n is half its ceiling plus up to half again.
    const floors = [0, 1, 2, 3].map((retry) => backoffDelay(retry, policy, undefined, 0, true));

    // Act: hints that would make a naive client retry at once.
    const zero = [0, 1, 2, 3].map((retry) => backoffDelay(retry, policy, 0, 0));
    const negative = [0, 1, 2, 3].map((retry) => backoffDelay(retry, policy, -5_000, 0));
    const tiny = [0, 1, 2, 3].map((retry) => backoffDelay(retry, policy, 12.2, 0));

    // Assess
    expect(floors).toEqual([250, 500, 1000, 2000]);
    expect(zero).toEqual(floors);
    expect(negative).toEqual(floors);
    expect(tiny).toEqual(floors);
  });

  it('keeps throttled waits growing while the server keeps refusing, up to the cap', () => {
    const waits = Array.from({ length: 8 }, (_, retry) => backoffDelay(retry, policy, 0, 0.99, true));

    for (let i = 1; i < waits.length; i++) expect(waits[i]!).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(waits[0]).toBeGreaterThanOrEqual(250);
    expect(waits.at(-1)).toBeLessThan(8000);
    expect(waits.at(-1)).toBeGreaterThanOrEqual(4000);
  });

  it('keeps full jitter (down to 0) for a transport error without a hint', () => {
    expect(backoffDelay(2, policy, undefined, 0)).toBe(0);
  });
});

describe('decideRetry', () => {
  it('retries a retryable failure with the backoff delay', () => {
    expect(decideRetry(aFailure({ retriesSoFar: 1, random: 0.5 }))).toEqual({ retry: true, delayMs: 500 });
  });

  it('does not retry what is not retryable', () => {
    expect(decideRetry(aFailure({ retryable: false }))).toEqual({ retry: false, reason: 'not retryable' });
  });

  it('stops once the retries are exhausted', () => {
    expect(decideRetry(aFailure({ retriesSoFar: 3 }))).toEqual({ retry: false, reason: 'retries exhausted' });
  });

  it('never retries with maxRetries 0', () => {
    expect(decideRetry(aFailure({ policy: { maxRetries: 0 } })).retry).toBe(false);
  });

  it('waits the server’s Retry-After when it fits the deadline', () => {
    expect(decideRetry(aFailure({ retryAfterMs: 2000 }))).toEqual({ retry: true, delayMs: 2000 });
  });

  it('stops when the wait plus a minimal attempt would overrun the deadline', () => {
    // Act
    const decision = decideRetry(aFailure({ retryAfterMs: 2000, remainingMs: 2100 }));

    // Assess
    expect(decision).toEqual({ retry: false, reason: 'waiting 2000 ms would overrun the deadline' });
  });

  it('takes minAttemptMs into account for the deadline', () => {
    expect(decideRetry(aFailure({ random: 0, remainingMs: 100, minAttemptMs: 50 }))).toEqual({ retry: true, delayMs: 0 });
    expect(decideRetry(aFailure({ random: 0, remainingMs: 100, minAttemptMs: 150 })).retry).toBe(false);
  });

  it('stops when the server asks for more than 60 s, even with time to spare', () => {
    // Act
    const decision = decideRetry(aFailure({ retryAfterMs: MAX_RETRY_AFTER_MS + 1, remainingMs: 900_000 }));

    // Assess
    expect(decision).toEqual({ retry: false, reason: 'the server asked to wait 60001 ms' });
  });

  it('accepts a Retry-After of exactly 60 s', () => {
    expect(decideRetry(aFailure({ retryAfterMs: MAX_RETRY_AFTER_MS, remainingMs: 900_000 }))).toEqual({
      retry: true,
      delayMs: MAX_RETRY_AFTER_MS,
    });
  });
});
