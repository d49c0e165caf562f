import { describe, expect, it } from 'vitest';
import type { ChecksResult } from '../../functions/core/checks/findings';
import { reviewFor, reviewSchema } from '../../functions/core/review';

const checks: Pick<ChecksResult, 'byField'> = {
  byField: {
    tag: [{ code: 'GHS_PICTOGRAM_MISSING', severity: 'error', field: 'tag', message: 'H319 require GHS07' }],
    suppliers: [{ code: 'SUPPLIER_PHONE_MISSING', severity: 'warning', field: 'suppliers', message: 'no phone' }],
    pre_notice: [{ code: 'GHS_CODE_SUPERSEDED', severity: 'info', field: 'pre_notice', message: 'P310' }],
  },
};

describe('reviewFor', () => {
  it('needs no review for a clean document', () => {
    expect(reviewFor({ checks: { byField: { tag: [] } }, confidences: { name: 0.99 } })).toEqual({ needed: false, reasons: [] });
    expect(reviewFor({})).toEqual({ needed: false, reasons: [] });
  });

  it('flags errors and warnings, not infos', () => {
    expect(reviewFor({ checks })).toEqual({
      needed: true,
      reasons: ['check:GHS_PICTOGRAM_MISSING:tag', 'check:SUPPLIER_PHONE_MISSING:suppliers'],
    });
  });

  it('lets the caller choose the severities that flag', () => {
    expect(reviewFor({ checks, severities: ['error'] }).reasons).toEqual(['check:GHS_PICTOGRAM_MISSING:tag']);
  });

  it('flags low confidences against the threshold, skipping fields without one', () => {
    expect(reviewFor({ confidences: { name: 0.62, tag: 0.95, risk_notice: null }, threshold: 0.8 }).reasons).toEqual(['confidence:name<0.80']);
    expect(reviewFor({ confidences: { name: 0.62 }, threshold: 0.5 }).needed).toBe(false);
  });

  it('lists failed, missing and re-asked fields first, in a fixed order, once each', () => {
    const review = reviewFor({ checks, confidences: { name: 0.1 }, reasked: ['risk_notice', 'risk_notice'], missing: ['name'], failed: ['suppliers'] });
    expect(review.reasons).toEqual([
      'failed:suppliers',
      'missing:name',
      'reask:risk_notice',
      'check:GHS_PICTOGRAM_MISSING:tag',
      'check:SUPPLIER_PHONE_MISSING:suppliers',
      'confidence:name<0.80',
    ]);
    expect(reviewSchema.parse(review)).toEqual(review);
  });

  it('rejects a threshold outside 0-1', () => {
    expect(() => reviewFor({ threshold: 1.5 })).toThrow(TypeError);
    expect(() => reviewFor({ threshold: Number.NaN })).toThrow(/threshold/);
  });
});
