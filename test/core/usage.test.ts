import { describe, expect, it } from 'vitest';
import { addUsage, replyUsage } from '../../functions/core/usage';

describe('replyUsage', () => {
  it('takes an OpenAI-compatible usage as it is, cached tokens included', () => {
    const usage = { promptTokens: 900, completionTokens: 12, cachedTokens: 800 };

    expect(replyUsage({ usage })).toEqual(usage);
  });

  it('adds Bedrock cache reads and writes back into the prompt, reads as cached', () => {
    // Prepare: Converse's inputTokens leave both out
    const reply = { usage: { promptTokens: 40, completionTokens: 9 }, cache: { readTokens: 1_500, writeTokens: 0 } };

    // Act / Assess
    expect(replyUsage(reply)).toEqual({ promptTokens: 1_540, completionTokens: 9, cachedTokens: 1_500 });
  });

  it('counts a cache write as prompt tokens, none of them cached', () => {
    const reply = { usage: { promptTokens: 40, completionTokens: 9 }, cache: { readTokens: 0, writeTokens: 1_500 } };

    expect(replyUsage(reply)).toEqual({ promptTokens: 1_540, completionTokens: 9, cachedTokens: 0 });
  });

  it('reports nothing when the endpoint reported nothing', () => {
    expect(replyUsage({})).toBeUndefined();
  });
});

describe('addUsage', () => {
  it('sums every count and keeps cachedTokens when either side has it', () => {
    const a = addUsage(undefined, { promptTokens: 10, completionTokens: 1 });
    const b = addUsage(a, { promptTokens: 10, completionTokens: 2, cachedTokens: 8 });

    expect(a).toEqual({ promptTokens: 10, completionTokens: 1 });
    expect(b).toEqual({ promptTokens: 20, completionTokens: 3, cachedTokens: 8 });
  });
});
