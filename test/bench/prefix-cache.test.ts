import { describe, expect, it } from 'vitest';
import { commonPrefixShare, PrefixCacheModel, promptOf, sharedPrefixBytes, tokensOf, type PromptSegment } from '../../bench/prefix-cache';

const IMAGE: PromptSegment = { kind: 'image', sha256: 'a'.repeat(64), bytes: 10 * 1024 };
const OTHER_IMAGE: PromptSegment = { kind: 'image', sha256: 'b'.repeat(64), bytes: 10 * 1024 };
const text = (t: string): PromptSegment => ({ kind: 'text', text: t });
const COST = { baseMs: 10, msPerPromptKiB: 1, msPerOutputToken: 2 };

describe('sharedPrefixBytes', () => {
  it('shares text character by character and an image whole', () => {
    expect(sharedPrefixBytes([text('system'), IMAGE, text('q1')], [text('system'), IMAGE, text('q2')])).toBe(6 + 10 * 1024 + 1);
  });

  it('stops at a different image, or at an image where the other has text', () => {
    expect(sharedPrefixBytes([text('system'), IMAGE], [text('system'), OTHER_IMAGE])).toBe(6);
    expect(sharedPrefixBytes([text('system'), text('q1'), IMAGE], [text('system'), IMAGE])).toBe(6);
  });
});

describe('PrefixCacheModel', () => {
  it('computes a prompt whole the first time and only its new part after that', () => {
    // Prepare
    const model = new PrefixCacheModel({ ...COST, capacity: 4 });

    // Act: two questions about one image, the second after the first is done
    const first = model.serve([text('sys'), IMAGE, text('question one')], 5, 0);
    const second = model.serve([text('sys'), IMAGE, text('question two')], 5, 1_000);

    // Assess
    expect(first.cachedBytes).toBe(0);
    expect(first.computeMs).toBeCloseTo(10 + (3 + 10 * 1024 + 12) / 1024 + 10, 6);
    expect(second.cachedBytes).toBe(3 + 10 * 1024 + 9);
    expect(second.computeMs).toBeCloseTo(10 + 3 / 1024 + 10, 6);
    expect(model.totals().busyMs).toBeCloseTo(first.computeMs + second.computeMs, 6);
  });

  it('makes a request that shares a prefix still being computed wait for it, holding no compute meanwhile', () => {
    // Prepare
    const model = new PrefixCacheModel({ ...COST, capacity: 2 });

    // Act: both arrive at once
    const first = model.serve([text('s'), IMAGE, text('a')], 1, 0);
    const second = model.serve([text('s'), IMAGE, text('b')], 1, 0);
    const unrelated = model.serve([text('t')], 1, 0);

    // Assess: the second starts when the first's prefill ends; the unrelated request uses the idle unit before it
    const prefillEnd = 10 + (1 + 10 * 1024) / 1024; // the shared part: 's' and the image
    expect(second.waitMs).toBeCloseTo(prefillEnd, 6);
    expect(second.latencyMs).toBeCloseTo(prefillEnd + second.computeMs, 6);
    expect(unrelated.waitMs).toBe(0);
    expect(first.waitMs).toBe(0);
  });

  it('computes at most `capacity` requests at once, the others in turn', () => {
    const model = new PrefixCacheModel({ ...COST, capacity: 1 });

    const a = model.serve([OTHER_IMAGE], 0, 0);
    const b = model.serve([IMAGE], 0, 0);

    expect(b.waitMs).toBeCloseTo(a.computeMs, 6);
  });

  it('forgets its cache and totals on reset', () => {
    const model = new PrefixCacheModel({ ...COST, capacity: 1 });
    model.serve([IMAGE], 1, 0);

    model.reset();
    const again = model.serve([IMAGE], 1, 0);

    expect(again.cachedBytes).toBe(0);
    expect(model.totals().requests).toBe(1);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new PrefixCacheModel({ ...COST, capacity: 0 })).toThrow(TypeError);
  });
});

describe('promptOf, tokensOf, commonPrefixShare', () => {
  it('renders a recorded chat request as its messages in order, the image in its place', () => {
    const body = {
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: '<image>' } }, { type: 'text', text: 'q' }] },
      ],
    };

    expect(promptOf(body, { sha256: IMAGE.kind === 'image' ? IMAGE.sha256 : '', length: 42 })).toEqual([
      text('<system>'),
      text('sys'),
      text('<user>'),
      { kind: 'image', sha256: 'a'.repeat(64), bytes: 42 },
      text('q'),
    ]);
  });

  it('counts four bytes a token, at least one', () => {
    expect(tokensOf('')).toBe(1);
    expect(tokensOf('12345678')).toBe(2);
  });

  it('measures the longest common prefix of byte strings as a share of the first', () => {
    expect(commonPrefixShare([Buffer.from('abcd'), Buffer.from('abxy'), Buffer.from('abcz')])).toBe(0.5);
    expect(commonPrefixShare([Buffer.from('abcd')])).toBe(1);
  });
});
