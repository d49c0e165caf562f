import { describe, expect, it } from 'vitest';
import { EXECUTION_NAME_MAX_LENGTH, executionNameFor } from '../../../functions/core/stepfunctions/execution-name';

const ETAG = '9b2cf535f27731c974343645a3985328';
const ALLOWED = /^[A-Za-z0-9_-]+$/;

describe('executionNameFor', () => {
  it('is fl-, 32 hex characters of the hash, and a readable tail of the key', () => {
    const name = executionNameFor({ bucket: 'labels', key: 'incoming/2026/a.jpg', etag: ETAG });

    expect(name).toMatch(/^fl-[0-9a-f]{32}-incoming-2026-a-jpg$/);
  });

  it('is deterministic', () => {
    const version = { bucket: 'labels', key: 'incoming/a.jpg', etag: ETAG };

    expect(executionNameFor(version)).toBe(executionNameFor({ ...version }));
  });

  it('differs for a different ETag, key or bucket', () => {
    const base = { bucket: 'labels', key: 'incoming/a.jpg', etag: ETAG };
    const names = new Set([
      executionNameFor(base),
      executionNameFor({ ...base, etag: `${ETAG.slice(0, -1)}9` }),
      executionNameFor({ ...base, key: 'incoming/b.jpg' }),
      executionNameFor({ ...base, bucket: 'labels-2' }),
    ]);

    expect(names.size).toBe(4);
  });

  it('keeps bucket and key apart: ("ab", "c") and ("a", "bc") differ', () => {
    const a = executionNameFor({ bucket: 'ab', key: 'c', etag: ETAG });
    const b = executionNameFor({ bucket: 'a', key: 'bc', etag: ETAG });

    expect(a.slice(0, 35)).not.toBe(b.slice(0, 35));
  });

  it.each([
    ['a long key', `incoming/${'deep/'.repeat(200)}label.png`],
    ['spaces and plus signs', 'incoming/my label + copy (2).png'],
    ['non-ASCII characters', 'incoming/乙醇/标签.png'],
    ['only characters that need replacing', '乙醇'],
    ['a multipart ETag', 'incoming/a.png'],
  ])('fits Step Functions\' rules for %s: at most 80 characters of [A-Za-z0-9_-]', (_case, key) => {
    const name = executionNameFor({ bucket: 'labels', key, etag: `${ETAG}-12` });

    expect(name.length).toBeLessThanOrEqual(EXECUTION_NAME_MAX_LENGTH);
    expect(name).toMatch(ALLOWED);
    expect(name).toMatch(/^fl-[0-9a-f]{32}/);
  });

  it('keeps the end of a long key, where the file name is', () => {
    const name = executionNameFor({ bucket: 'labels', key: `incoming/${'x'.repeat(100)}/label-0042.png`, etag: ETAG });

    expect(name.endsWith('label-0042-png')).toBe(true);
    expect(name).toHaveLength(EXECUTION_NAME_MAX_LENGTH);
  });

  it('rejects an empty part with a TypeError naming it', () => {
    expect(() => executionNameFor({ bucket: 'labels', key: 'incoming/a.jpg', etag: '' })).toThrow(TypeError);
    expect(() => executionNameFor({ bucket: 'labels', key: '', etag: ETAG })).toThrow(/non-empty key/);
  });
});
