import { describe, expect, it } from 'vitest';
import { costOf, createCostMeter, formatCost, type TokenPrices } from '../../functions/core/cost';
import { mergeResult, rejectedResult, type DocumentFrame, type FieldOutcome } from '../../functions/core/document';
import { ErrorCode } from '../../functions/core/errors';

const PRICES: TokenPrices = { currency: 'USD', inputPerMillion: 0.4, cachedInputPerMillion: 0.1, outputPerMillion: 1.6 };

const frame = (overrides: Partial<DocumentFrame> = {}): DocumentFrame => ({
  source: { bucket: 'labels', key: 'incoming/a.png', etag: 'e1', bytes: 10 },
  modelName: 'm',
  fingerprint: 'f'.repeat(64),
  startedAt: new Date('2026-01-01T00:00:00Z'),
  finishedAt: new Date('2026-01-01T00:00:01Z'),
  ...overrides,
});

const ok = (name: string, usage?: FieldOutcome['result']['usage']): FieldOutcome => ({
  name,
  value: 'v',
  result: { status: 'ok', attempts: 1, latencyMs: 5, ...(usage ? { usage } : {}) },
});

describe('costOf', () => {
  it('bills uncached prompt tokens at the input price, cached ones at the cached price, the answer at the output price', () => {
    // Act
    const cost = costOf({ promptTokens: 1_200, cachedTokens: 1_000, completionTokens: 20 }, PRICES);

    // Assess: 200 × 0.4 + 1000 × 0.1 + 20 × 1.6, per million
    expect(cost).toEqual({ currency: 'USD', input: 0.00008, cachedInput: 0.0001, output: 0.000032, total: 0.000212 });
  });

  it('bills cached tokens at the input price when no cached price is set', () => {
    const cost = costOf({ promptTokens: 1_000, cachedTokens: 600, completionTokens: 0 }, { currency: 'EUR', inputPerMillion: 2, outputPerMillion: 8 });

    expect(cost.total).toBe(0.002);
    expect(cost.cachedInput).toBe(0.0012);
  });

  it('costs nothing without usage', () => {
    expect(costOf(undefined, PRICES)).toEqual({ currency: 'USD', input: 0, cachedInput: 0, output: 0, total: 0 });
  });

  it('never counts more cached tokens than prompt tokens', () => {
    const cost = costOf({ promptTokens: 100, cachedTokens: 500, completionTokens: 0 }, PRICES);

    expect(cost.input).toBe(0);
    expect(cost.cachedInput).toBe(0.00001);
  });

  it('formats a cost for a summary line', () => {
    expect(formatCost({ currency: 'USD', total: 0.000212 })).toBe('USD 0.000212');
  });
});

describe('the cost and usage of a document', () => {
  it('sums prompt, cached and completion tokens over its fields and prices them', () => {
    // Prepare
    const outcomes = [
      ok('a', { promptTokens: 1_200, completionTokens: 10 }),
      ok('b', { promptTokens: 1_200, completionTokens: 20, cachedTokens: 1_100 }),
      ok('c'),
    ];

    // Act
    const doc = mergeResult(frame({ prices: PRICES }), outcomes, { fields: [] });

    // Assess
    expect(doc.usage).toEqual({ promptTokens: 2_400, completionTokens: 30, cachedTokens: 1_100 });
    expect(doc.cost).toEqual(costOf({ promptTokens: 2_400, completionTokens: 30, cachedTokens: 1_100 }, PRICES));
  });

  it('has usage but no cost when no prices are set', () => {
    const doc = mergeResult(frame(), [ok('a', { promptTokens: 10, completionTokens: 1 })], { fields: [] });

    expect(doc.usage).toEqual({ promptTokens: 10, completionTokens: 1 });
    expect(doc).not.toHaveProperty('cost');
  });

  it('gives a rejected document no cost, since no model was asked', () => {
    const doc = rejectedResult(frame({ prices: PRICES }), { code: ErrorCode.INPUT_EMPTY, message: 'empty' });

    expect(doc).not.toHaveProperty('cost');
    expect(doc).not.toHaveProperty('usage');
  });
});

describe('createCostMeter', () => {
  it('keeps a running total of the documents it was given', () => {
    const meter = createCostMeter();

    meter.add(costOf({ promptTokens: 1_000_000, completionTokens: 0 }, PRICES));
    const total = meter.add(costOf({ promptTokens: 0, completionTokens: 1_000_000 }, PRICES));

    expect(total).toBe(2);
    expect(meter.total).toBe(2);
    expect(meter.documents).toBe(2);
  });
});
