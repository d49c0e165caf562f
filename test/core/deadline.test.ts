import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../functions/core/clock';
import { budgetFromRemaining, startDeadline } from '../../functions/core/deadline';
import { ErrorCode, FieldlensError } from '../../functions/core/errors';

describe('startDeadline', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('aborts with a DEADLINE_EXCEEDED reason once the budget has passed', () => {
    // Prepare
    const deadline = startDeadline(1000, systemClock);

    // Act
    vi.advanceTimersByTime(999);
    const before = deadline.signal.aborted;
    vi.advanceTimersByTime(1);

    // Assess
    expect(before).toBe(false);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toBeInstanceOf(FieldlensError);
    expect((deadline.signal.reason as FieldlensError).code).toBe(ErrorCode.DEADLINE_EXCEEDED);
  });

  it('reports the abort time and a remaining time that decreases to zero', () => {
    // Prepare
    const start = Date.now();
    const deadline = startDeadline(1000, systemClock);

    // Act
    const first = deadline.remaining();
    vi.advanceTimersByTime(400);
    const second = deadline.remaining();
    vi.advanceTimersByTime(5000);

    // Assess
    expect(deadline.at).toBe(start + 1000);
    expect(first).toBe(1000);
    expect(second).toBe(600);
    expect(deadline.remaining()).toBe(0);
  });

  it('aborts at once with a zero budget', () => {
    const deadline = startDeadline(0, systemClock);

    expect(deadline.signal.aborted).toBe(true);
    expect((deadline.signal.reason as FieldlensError).code).toBe(ErrorCode.DEADLINE_EXCEEDED);
    expect(deadline.remaining()).toBe(0);
  });

  it('aborts at once with a negative budget, without putting `at` in the past', () => {
    const start = Date.now();

    const deadline = startDeadline(-50, systemClock);

    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.at).toBe(start);
  });

  it('never aborts after dispose', () => {
    // Prepare
    const deadline = startDeadline(1000, systemClock);

    // Act
    deadline.dispose();
    vi.advanceTimersByTime(5000);

    // Assess
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses a budget that is not a finite number', () => {
    expect(() => startDeadline(NaN, systemClock)).toThrow(TypeError);
    expect(() => startDeadline(Infinity, systemClock)).toThrow(TypeError);
  });

  it('computes remaining() from the injected clock', () => {
    let now = 10_000;
    const deadline = startDeadline(500, { now: () => now });

    now += 200;

    expect(deadline.at).toBe(10_500);
    expect(deadline.remaining()).toBe(300);
    deadline.dispose();
  });
});

describe('budgetFromRemaining', () => {
  it('keeps the margin back from the Lambda’s remaining time', () => {
    expect(budgetFromRemaining(900_000, 5_000)).toBe(895_000);
  });

  it('is zero for a nearly expired invocation, never negative', () => {
    expect(budgetFromRemaining(3_000, 5_000)).toBe(0);
    expect(budgetFromRemaining(5_000, 5_000)).toBe(0);
  });
});
