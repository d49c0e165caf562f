import { describe, expect, it } from 'vitest';
import { valueConfidence, type TokenLogprob } from '../../functions/core/confidence';

/** Tokens with log-probabilities; `bytes` filled in as OpenAI does. */
const toks = (...pairs: [string, number][]): TokenLogprob[] =>
  pairs.map(([token, logprob]) => ({ token, logprob, bytes: [...new TextEncoder().encode(token)] }));

describe('valueConfidence', () => {
  it('uses only the tokens of the value, not the JSON around it', () => {
    // Prepare: the punctuation tokens are very unlikely, so counting one would show.
    const lp = toks(['{"', -5], ['value', -5], ['":', -5], [' "', -5], ['乙', -0.1], ['醇', -0.3], ['"}', -5]);

    // Act
    const c = valueConfidence(lp);

    // Assess
    expect(c?.tokens).toBe(2);
    expect(c?.min).toBeCloseTo(Math.exp(-0.3), 12);
    expect(c?.confidence).toBe(c?.min);
    expect(c?.geometricMean).toBeCloseTo(Math.exp(-0.2), 12);
  });

  it('counts a token that straddles punctuation and value, and skips the separators of an array', () => {
    const lp = toks(['{"', -9], ['value', -9], ['":', -9], [' ["', -9], ['危险', -0.2], ['",', -9], [' "', -9], ['GHS', -0.01], ['02', -0.4], ['"]', -9], ['}', -9]);
    // '["H…' style: a token holding the opening quote and the first value characters.
    const straddle = toks(['{"value": ["H', -0.5], ['225', -0.1], ['"]}', -9]);

    expect(valueConfidence(lp)).toMatchObject({ tokens: 3 });
    expect(valueConfidence(lp)?.min).toBeCloseTo(Math.exp(-0.4), 12);
    expect(valueConfidence(straddle)).toMatchObject({ tokens: 2 });
    expect(valueConfidence(straddle)?.min).toBeCloseTo(Math.exp(-0.5), 12);
  });

  it('maps a Chinese character split over two byte tokens to both', () => {
    // 乙 is E4 B9 99 in UTF-8; the server sends it as two partial tokens.
    const lp: TokenLogprob[] = [
      ...toks(['{"value": "', -9]),
      { token: '\ufffd', logprob: -0.7, bytes: [0xe4, 0xb9] },
      { token: '\ufffd', logprob: -0.2, bytes: [0x99] },
      ...toks(['醇', -0.1], ['"}', -9]),
    ];

    const c = valueConfidence(lp);

    expect(c?.tokens).toBe(3);
    expect(c?.min).toBeCloseTo(Math.exp(-0.7), 12);
  });

  it('reads the "bytes:\\x.." spelling of partial tokens when bytes are absent', () => {
    const lp: TokenLogprob[] = [
      { token: '{"value": "', logprob: -9 },
      { token: 'bytes:\\xe4\\xb9', logprob: -0.6 },
      { token: 'bytes:\\x99', logprob: -0.1 },
      { token: '"}', logprob: -9 },
    ];

    expect(valueConfidence(lp)).toMatchObject({ tokens: 2 });
    expect(valueConfidence(lp)?.min).toBeCloseTo(Math.exp(-0.6), 12);
  });

  it('takes the confidence of a null value from the null token', () => {
    const c = valueConfidence(toks(['{"', -9], ['value', -9], ['":', -9], [' null', -0.05], ['}', -9]));
    expect(c?.tokens).toBe(1);
    expect(c?.min).toBeCloseTo(Math.exp(-0.05), 12);
  });

  it('finds the object after leading prose and inside a code fence', () => {
    const lp = toks(['Here', -9], [' is', -9], [':\n```json\n{"', -9], ['value', -9], ['": "', -9], ['Ac', -0.3], ['etone', -0.02], ['"}', -9], ['\n```', -9]);
    expect(valueConfidence(lp)).toMatchObject({ tokens: 2 });
  });

  it('skips a <think> block that holds an object of its own', () => {
    const lp = toks(['<think>{"value": ', -9], ['1', -3], ['}</think>', -9], ['{"value": ', -9], ['2', -0.1], ['}', -9]);
    expect(valueConfidence(lp)?.min).toBeCloseTo(Math.exp(-0.1), 12);
  });

  it('counts the leaves of an object value, not its keys', () => {
    const lp = toks(['{"value": {"', -9], ['name', -9], ['": "', -9], ['Ac', -0.2], ['me', -0.1], ['", "', -9], ['phone', -9], ['": ', -9], ['null', -0.4], ['}}', -9]);
    expect(valueConfidence(lp)).toMatchObject({ tokens: 3 });
    expect(valueConfidence(lp)?.min).toBeCloseTo(Math.exp(-0.4), 12);
  });

  it('counts escaped characters inside a string', () => {
    const lp = toks(['{"value": "', -9], ['\\"', -0.3], ['A', -0.1], ['"}', -9]);
    expect(valueConfidence(lp)).toMatchObject({ tokens: 2 });
  });

  it('falls back to the tokens of an empty value', () => {
    const lp = toks(['{"value": ', -9], ['[]', -0.25], ['}', -9]);
    expect(valueConfidence(lp)?.min).toBeCloseTo(Math.exp(-0.25), 12);
  });

  it('is null without log-probabilities or without a value object', () => {
    expect(valueConfidence(null)).toBeNull();
    expect(valueConfidence(undefined)).toBeNull();
    expect(valueConfidence([])).toBeNull();
    expect(valueConfidence(toks(['乙醇', -0.1]))).toBeNull();
    expect(valueConfidence(toks(['{"answer": ', -9], ['1', -0.1], ['}', -9]))).toBeNull();
    expect(valueConfidence(toks(['{"value": "', -9], ['unterminated', -0.1]))).toBeNull();
  });

  it('ignores value tokens whose log-probability is not a number', () => {
    const lp: TokenLogprob[] = [...toks(['{"value": "', -9], ['A', -0.1]), { token: 'B', logprob: Number.NaN }, ...toks(['"}', -9])];
    expect(valueConfidence(lp)).toMatchObject({ tokens: 1 });
  });
});
