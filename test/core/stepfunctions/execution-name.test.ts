import { describe, expect, it } from 'vitest';
import {
  EXECUTION_NAME_MAX_LENGTH,
  executionNameFor,
  runGenerationOf,
  type RunIdentity,
} from '../../../functions/core/stepfunctions/execution-name';
import type { StoredResult } from '../../../functions/core/result-writer';

const ETAG = '9b2cf535f27731c974343645a3985328';
const FINGERPRINT = 'c'.repeat(64);
const ALLOWED = /^[A-Za-z0-9_-]+$/;

const aRun = (overrides: Partial<RunIdentity> = {}): RunIdentity => ({
  bucket: 'labels',
  key: 'incoming/2026/a.jpg',
  etag: ETAG,
  fingerprint: FINGERPRINT,
  generation: 0,
  ...overrides,
});

const stored = (overrides: Partial<StoredResult> = {}): StoredResult => ({
  etag: 'result-etag-1',
  sourceEtag: ETAG,
  fingerprint: FINGERPRINT,
  state: 'retryable',
  runs: 1,
  ...overrides,
});

describe('executionNameFor', () => {
  it('is fl-, 32 hex characters of the hash, the generation and a readable tail of the key', () => {
    expect(executionNameFor(aRun())).toMatch(/^fl-[0-9a-f]{32}-g0-incoming-2026-a-jpg$/);
    expect(executionNameFor(aRun({ generation: 3 }))).toMatch(/^fl-[0-9a-f]{32}-g3-incoming-2026-a-jpg$/);
  });

  it('is deterministic: a redelivery while the run is going computes the same name', () => {
    expect(executionNameFor(aRun({ resultEtag: 'r1' }))).toBe(executionNameFor({ ...aRun(), resultEtag: 'r1' }));
  });

  it('differs for a different ETag, key, bucket, fingerprint, generation or stored result', () => {
    const names = new Set([
      executionNameFor(aRun()),
      executionNameFor(aRun({ etag: `${ETAG.slice(0, -1)}9` })),
      executionNameFor(aRun({ key: 'incoming/b.jpg' })),
      executionNameFor(aRun({ bucket: 'labels-2' })),
      executionNameFor(aRun({ fingerprint: 'd'.repeat(64) })),
      executionNameFor(aRun({ generation: 1 })),
      executionNameFor(aRun({ resultEtag: 'r1' })),
    ]);

    expect(names.size).toBe(7);
  });

  it('keeps bucket and key apart: ("ab", "c") and ("a", "bc") differ', () => {
    const a = executionNameFor(aRun({ bucket: 'ab', key: 'c' }));
    const b = executionNameFor(aRun({ bucket: 'a', key: 'bc' }));

    expect(a.slice(0, 35)).not.toBe(b.slice(0, 35));
  });

  it.each([
    ['a long key', `incoming/${'deep/'.repeat(200)}label.png`, 0],
    ['spaces and plus signs', 'incoming/my label + copy (2).png', 0],
    ['non-ASCII characters', 'incoming/乙醇/标签.png', 0],
    ['only characters that need replacing', '乙醇', 0],
    ['a multipart ETag', 'incoming/a.png', 0],
    ['a huge generation', `incoming/${'x'.repeat(100)}.png`, Number.MAX_SAFE_INTEGER],
  ])("fits Step Functions' rules for %s: at most 80 characters of [A-Za-z0-9_-]", (_case, key, generation) => {
    const name = executionNameFor(aRun({ key, etag: `${ETAG}-12`, generation }));

    expect(name.length).toBeLessThanOrEqual(EXECUTION_NAME_MAX_LENGTH);
    expect(name).toMatch(ALLOWED);
    expect(name).toMatch(/^fl-[0-9a-f]{32}-g\d+/);
  });

  it('keeps the end of a long key, where the file name is', () => {
    const name = executionNameFor(aRun({ key: `incoming/${'x'.repeat(100)}/label-0042.png` }));

    expect(name.endsWith('label-0042-png')).toBe(true);
    expect(name).toHaveLength(EXECUTION_NAME_MAX_LENGTH);
  });

  it('rejects an empty part or a bad generation with a TypeError naming it', () => {
    expect(() => executionNameFor(aRun({ etag: '' }))).toThrow(TypeError);
    expect(() => executionNameFor(aRun({ key: '' }))).toThrow(/non-empty key/);
    expect(() => executionNameFor(aRun({ fingerprint: '' }))).toThrow(/non-empty fingerprint/);
    expect(() => executionNameFor(aRun({ generation: -1 }))).toThrow(/generation/);
    expect(() => executionNameFor(aRun({ generation: 1.5 }))).toThrow(/generation/);
  });
});

describe('runGenerationOf', () => {
  it('is generation 0 when there is no result yet', () => {
    expect(runGenerationOf(undefined, ETAG, FINGERPRINT)).toEqual({ generation: 0 });
  });

  it('is nothing to do (undefined) for a final result of this version and configuration: a true duplicate', () => {
    expect(runGenerationOf(stored({ state: 'final' }), ETAG, FINGERPRINT)).toBeUndefined();
  });

  it("is the stored result's runs for a current retryable one, so a retry gets a new name", () => {
    // Prepare: the name of the first run, and the result it wrote.
    const first = executionNameFor(aRun(runGenerationOf(undefined, ETAG, FINGERPRINT)!));
    const afterFirst = stored({ runs: 1, etag: 'after-run-1' });

    // Act
    const generation = runGenerationOf(afterFirst, ETAG, FINGERPRINT);

    // Assess
    expect(generation).toEqual({ generation: 1, resultEtag: 'after-run-1' });
    expect(executionNameFor(aRun(generation!))).not.toBe(first);
  });

  it.each([
    ['another source version', { sourceEtag: 'older', state: 'final' }],
    ['another configuration', { fingerprint: 'e'.repeat(64), state: 'final' }],
    ['a result without a state (written before results had one)', { state: undefined }],
  ] satisfies Array<[string, Partial<StoredResult>]>)('is generation 0 for a stale result (%s), named apart by its ETag', (_case, overrides) => {
    const generation = runGenerationOf(stored(overrides), ETAG, FINGERPRINT);

    expect(generation).toEqual({ generation: 0, resultEtag: 'result-etag-1' });
  });

  it('names a return to an earlier configuration apart from that configuration\'s first run', () => {
    // Prepare: configuration A ran first (no result then); B wrote the result now stored.
    const firstUnderA = executionNameFor(aRun(runGenerationOf(undefined, ETAG, FINGERPRINT)!));
    const writtenUnderB = stored({ fingerprint: 'b'.repeat(64), state: 'final', etag: 'written-by-b' });

    // Act: back to A.
    const again = executionNameFor(aRun(runGenerationOf(writtenUnderB, ETAG, FINGERPRINT)!));

    // Assess
    expect(again).not.toBe(firstUnderA);
  });
});
