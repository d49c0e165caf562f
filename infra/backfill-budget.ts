/**
 * One endpoint, two kinds of traffic: live uploads and the backfill. The
 * capacity `C` is split once, at synth, into two fixed parts, and each part
 * becomes its own budget (see `budget.ts`) with its own platform limits:
 *
 * ```
 * backfill  Cb = max(1, floor(C × share))   → the backfill function's reserved
 *                                             concurrency and the Distributed Map's MaxConcurrency
 * uploads   Cu = C − Cb                     → the pipeline's limits, as without a backfill
 * together  Cu + Cb = C                     → never more in flight than the endpoint serves
 * ```
 *
 * A fixed split is what the platform can enforce without a counter of our
 * own: while no backfill runs, its part of the capacity stays unused. The
 * share is the user's trade-off between finishing the backlog and leaving
 * room for uploads.
 *
 * Pure: no CDK, no I/O, so `npm run backfill` computes the same figures.
 */
import { endpointBudget, TRIGGER_LIMITS, type ConcurrentImageLimits, type EndpointBudget } from './budget';

/** The default backfill share of the endpoint's capacity. */
export const DEFAULT_BACKFILL_SHARE = 0.5;

/** Inputs of {@link shareEndpoint}. */
export interface SharedBudgetInput {
  /** Requests the endpoint serves at once (`C`). */
  readonly capacity: number;
  /** Questions asked per image (`F`). */
  readonly fieldCount: number;
  /**
   * The backfill's part of the capacity, above 0 and below 1.
   * @default DEFAULT_BACKFILL_SHARE
   */
  readonly share?: number;
  /**
   * What the uploads' platform limit can express (an SQS event source runs at least 2).
   * @default TRIGGER_LIMITS.direct
   */
  readonly liveLimits?: ConcurrentImageLimits;
}

/** The two budgets of one endpoint. */
export interface SharedBudget {
  readonly share: number;
  /** `Cu`: the uploads' part of the capacity. */
  readonly liveCapacity: number;
  /** `Cb`: the backfill's part. */
  readonly backfillCapacity: number;
  readonly live: EndpointBudget;
  readonly backfill: EndpointBudget;
  /** `live.maxInFlight + backfill.maxInFlight`, never above the capacity. */
  readonly maxInFlight: number;
}

/**
 * Splits the endpoint's capacity between uploads and the backfill.
 *
 * @throws {TypeError} when `share` is not a number between 0 and 1 (both excluded).
 * @throws {RangeError} when the capacity cannot give both parts what their
 *   platform limits need (the backfill 1 request, the uploads their
 *   trigger's minimum).
 * @example
 * ```ts
 * shareEndpoint({ capacity: 10, fieldCount: 5 });
 * // → uploads 5 requests per image x 1 image, backfill 5 x 1: 10 in flight at most
 * ```
 */
export function shareEndpoint(input: SharedBudgetInput): SharedBudget {
  const { capacity, fieldCount, share = DEFAULT_BACKFILL_SHARE, liveLimits = TRIGGER_LIMITS.direct } = input;
  if (typeof share !== 'number' || !(share > 0 && share < 1)) {
    throw new TypeError(`expected the backfill share to be a number above 0 and below 1 (0.5 is half the capacity), got ${String(share)}`);
  }
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new TypeError(`expected capacity to be a whole number of at least 1, got ${String(capacity)}`);
  }
  if (capacity < liveLimits.min + 1) {
    throw new RangeError(
      `an endpoint capacity of ${capacity} cannot be shared: the uploads need at least ${liveLimits.min} ` +
        `request${liveLimits.min === 1 ? '' : 's'} at once and the backfill at least 1, so the capacity must be at least ${liveLimits.min + 1}; ` +
        'raise the capacity (modelMaxConcurrency) or turn the backfill off',
    );
  }
  const backfillCapacity = Math.min(Math.max(1, Math.floor(capacity * share)), capacity - liveLimits.min);
  const liveCapacity = capacity - backfillCapacity;
  const live = endpointBudget({ capacity: liveCapacity, fieldCount, limits: liveLimits });
  const backfill = endpointBudget({ capacity: backfillCapacity, fieldCount });
  return Object.freeze({
    share,
    liveCapacity,
    backfillCapacity,
    live,
    backfill,
    maxInFlight: live.maxInFlight + backfill.maxInFlight,
  });
}

/** One budget as the `EndpointBudget` output words it. */
export function describeBudget(budget: EndpointBudget): string {
  return `${budget.perImage} requests per image x ${budget.concurrentImages} images at once = ${budget.maxInFlight} in flight at most`;
}

/** The shared budget as the `EndpointBudget` output words it. */
export function describeSharedBudget(shared: SharedBudget, capacity: number): string {
  return (
    `uploads: ${describeBudget(shared.live)}; ` +
    `backfill (share ${shared.share}): ${describeBudget(shared.backfill)}; ` +
    `together ${shared.maxInFlight} of the endpoint's ${capacity}`
  );
}
