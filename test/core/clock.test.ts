import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../functions/core/clock';

describe('systemClock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleeps for the given time', async () => {
    // Prepare
    let done = false;
    const sleeping = systemClock.sleep(100).then(() => {
      done = true;
    });

    // Act
    await vi.advanceTimersByTimeAsync(99);
    const early = done;
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;

    // Assess
    expect(early).toBe(false);
    expect(done).toBe(true);
  });

  it('rejects with the signal’s reason when it aborts during the sleep', async () => {
    // Prepare
    const controller = new AbortController();
    const sleeping = systemClock.sleep(10_000, controller.signal);
    const reason = new Error('deadline');

    // Act
    controller.abort(reason);

    // Assess
    await expect(sleeping).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once when the signal has already aborted', async () => {
    const reason = new Error('already');

    await expect(systemClock.sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('tells the time as epoch milliseconds', () => {
    vi.setSystemTime(new Date('2026-01-02T03:04:05.000Z'));

    expect(systemClock.now()).toBe(Date.parse('2026-01-02T03:04:05.000Z'));
  });
});
