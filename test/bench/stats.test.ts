import { describe, expect, it } from 'vitest';
import { median, quantile } from '../../bench/stats';

describe('quantile', () => {
  it('interpolates between neighbours of the sorted values', () => {
    expect(quantile([40, 10, 30, 20], 0)).toBe(10);
    expect(quantile([40, 10, 30, 20], 1)).toBe(40);
    expect(quantile([40, 10, 30, 20], 0.5)).toBe(25);
    expect(quantile([0, 10], 0.9)).toBe(9);
  });

  it('agrees with the median, and is NaN for nothing', () => {
    const values = [3, 9, 1, 7, 5];
    expect(quantile(values, 0.5)).toBe(median(values));
    expect(quantile([], 0.5)).toBeNaN();
  });
});
