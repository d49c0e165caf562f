import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../functions/adapters/retry-after';

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);

  it('reads retry-after-ms as milliseconds', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '1500' }, now)).toBe(1500);
  });

  it('prefers retry-after-ms over Retry-After', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '9' }, now)).toBe(250);
  });

  it('reads Retry-After in seconds', () => {
    expect(parseRetryAfter({ 'retry-after': '2' }, now)).toBe(2000);
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500);
  });

  it('reads Retry-After as an HTTP date relative to now', () => {
    // Prepare
    const in30s = new Date(now + 30_000).toUTCString();

    // Act
    const wait = parseRetryAfter({ 'retry-after': in30s }, now);

    // Assess
    expect(wait).toBe(30_000);
  });

  it('waits nothing for an HTTP date in the past', () => {
    expect(parseRetryAfter({ 'retry-after': new Date(now - 10_000).toUTCString() }, now)).toBe(0);
  });

  it('ignores garbage, empty values and absent headers', () => {
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': ' ' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
  });

  it('falls back to Retry-After when retry-after-ms is garbage', () => {
    expect(parseRetryAfter({ 'retry-after-ms': 'abc', 'retry-after': '3' }, now)).toBe(3000);
  });

  it('reads the first of repeated headers', () => {
    expect(parseRetryAfter({ 'retry-after': ['4', '8'] }, now)).toBe(4000);
  });
});
