/**
 * One deadline per invocation. Every wait and every request of the
 * invocation hangs off its signal, so a slow model ends in a `partial`
 * document written in time, never in a killed invocation with nothing written.
 */
import type { Clock } from './ports';
import { ErrorCode, FieldlensError } from './errors';

export interface Deadline {
  /** Aborts, with a `DEADLINE_EXCEEDED` error as its reason, when the time is up. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds at which the signal aborts. */
  readonly at: number;
  /** Milliseconds left (never negative). */
  remaining(): number;
  /** Stops the timer (call when the work is done so nothing keeps the process alive). */
  dispose(): void;
}

/**
 * Starts a deadline `budgetMs` from now.
 *
 * @param budgetMs the time the work may take: for a Lambda, its remaining
 *   time minus the margin kept to write the result (see {@link budgetFromRemaining}).
 */
export function startDeadline(budgetMs: number, clock: Pick<Clock, 'now'>): Deadline {
  if (!Number.isFinite(budgetMs)) throw new TypeError(`budgetMs must be a finite number, got ${budgetMs}`);
  const at = clock.now() + Math.max(0, budgetMs);
  const controller = new AbortController();
  const abort = (): void =>
    controller.abort(new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, `the invocation deadline passed`));
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (budgetMs <= 0) abort();
  else {
    timer = setTimeout(abort, budgetMs);
    // Never the reason a process stays up; the work it guards holds the loop open.
    timer.unref?.();
  }
  return {
    signal: controller.signal,
    at,
    remaining: () => Math.max(0, at - clock.now()),
    dispose: () => clearTimeout(timer),
  };
}

/**
 * The model work's budget from the Lambda's remaining time: `marginMs` is
 * kept back for merging and writing the result. A nearly expired invocation
 * gets a zero budget: its fields fail at once with `DEADLINE_EXCEEDED` and
 * the (failed) document is still written.
 */
export function budgetFromRemaining(remainingMs: number, marginMs: number): number {
  return Math.max(0, remainingMs - marginMs);
}
