/**
 * Retry decisions, kept pure so they can be tested without a network.
 *
 * The conventions follow the best OpenAI clients: exponential backoff with
 * full jitter, and the server's own `retry-after-ms` / `Retry-After` when it
 * gives one. A wait that would overrun the deadline, or that is longer than
 * one invocation should sit idle (over 60 s), ends the retries instead: the
 * server asked us not to come back sooner, so we do not.
 */

export interface RetryPolicy {
  /** Transport retries after the first attempt. */
  readonly maxRetries: number;
  /** First backoff ceiling. @default 500 */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling. @default 8000 */
  readonly maxDelayMs?: number;
}

/** Server hints beyond this are not a wait worth paying for inside one invocation. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * How long to wait before retry number `retry` (0 for the first retry).
 *
 * Without a server hint this is exponential backoff with full jitter. A
 * throttled request (or any with a hint) waits at least an "equal jitter"
 * backoff (half the ceiling, plus up to half again): a `Retry-After` of 0, a
 * negative one or a date in the past must never turn into a hot loop, and
 * the waits keep growing while the server keeps refusing. A longer hint
 * than that is honoured as it is.
 *
 * @param random a number in [0, 1): jitter spreads clients that failed
 *   together so they do not come back together.
 * @param throttled the server refused for load (429, or a hint was sent).
 */
export function backoffDelay(
  retry: number,
  policy: RetryPolicy,
  retryAfterMs: number | undefined,
  random: number,
  throttled = false,
): number {
  const base = policy.baseDelayMs ?? 500;
  const cap = policy.maxDelayMs ?? 8_000;
  const ceiling = Math.min(cap, base * 2 ** retry);
  if (retryAfterMs === undefined && !throttled) return Math.floor(random * ceiling);
  const floor = Math.floor(ceiling / 2 + (random * ceiling) / 2);
  const hint = retryAfterMs !== undefined && retryAfterMs > 0 ? Math.ceil(retryAfterMs) : 0;
  return Math.max(hint, floor);
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

/**
 * Whether to retry a failed attempt.
 *
 * @param retriesSoFar transport retries already made for this field.
 * @param remainingMs time left before the invocation's deadline.
 * @param minAttemptMs the least time worth starting another attempt with.
 */
export function decideRetry(input: {
  readonly retryable: boolean;
  readonly retriesSoFar: number;
  readonly retryAfterMs: number | undefined;
  readonly remainingMs: number;
  readonly policy: RetryPolicy;
  readonly random: number;
  readonly minAttemptMs?: number;
  /** The server refused for load (429): waits have a growing floor whatever the hint (see {@link backoffDelay}). */
  readonly throttled?: boolean;
}): RetryDecision {
  if (!input.retryable) return { retry: false, reason: 'not retryable' };
  if (input.retriesSoFar >= input.policy.maxRetries) return { retry: false, reason: 'retries exhausted' };
  if (input.retryAfterMs !== undefined && input.retryAfterMs > MAX_RETRY_AFTER_MS) {
    return { retry: false, reason: `the server asked to wait ${input.retryAfterMs} ms` };
  }
  const delayMs = backoffDelay(input.retriesSoFar, input.policy, input.retryAfterMs, input.random, input.throttled);
  if (delayMs + (input.minAttemptMs ?? 250) > input.remainingMs) {
    return { retry: false, reason: `waiting ${delayMs} ms would overrun the deadline` };
  }
  return { retry: true, delayMs };
}
