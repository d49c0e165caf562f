import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../functions/core/errors';
import { failedResult, mergeResult, rejectedResult, resultDocumentSchema, RESULT_VERSION, slowestField, type DocumentFrame, type FieldOutcome, type TrustSettings } from '../../functions/core/document';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { resultKeyFor } from '../../functions/core/keys';

/** A field set that names no checks. */
const NO_CHECKS: TrustSettings = { fields: [] };

function aFrame(overrides: Partial<DocumentFrame> = {}): DocumentFrame {
  return {
    source: { bucket: 'labels', key: 'incoming/2026/a.jpg', etag: 'abc123', bytes: 123_456, contentType: 'image/jpeg' },
    modelName: 'qwen2.5-vl-7b',
    fingerprint: 'a'.repeat(64),
    startedAt: new Date('2026-01-02T03:04:05.000Z'),
    finishedAt: new Date('2026-01-02T03:04:06.234Z'),
    ...overrides,
  };
}

function ok(name: string, value: unknown): FieldOutcome {
  return {
    name,
    value,
    result: { status: 'ok', attempts: 1, latencyMs: 812, usage: { promptTokens: 900, completionTokens: 12 } },
  };
}

function failed(name: string, code: ErrorCode = ErrorCode.MODEL_TIMEOUT): FieldOutcome {
  return {
    name,
    // A failed outcome's value must never leak into the document.
    value: 'stale',
    result: { status: 'error', attempts: 4, latencyMs: 60_000, error: { code, message: `${code} happened` } },
  };
}

describe('mergeResult', () => {
  it('is complete when every field is ok, with the values and per-field results', () => {
    // Act
    const doc = mergeResult(aFrame(), [ok('name', '乙醇'), ok('tag', ['危险', 'GHS02'])], NO_CHECKS);

    // Assess
    expect(doc.status).toBe('complete');
    expect(doc.version).toBe(RESULT_VERSION);
    expect(doc.fields).toEqual({ name: '乙醇', tag: ['危险', 'GHS02'] });
    expect(doc.fieldResults.name).toEqual({
      status: 'ok',
      attempts: 1,
      latencyMs: 812,
      usage: { promptTokens: 900, completionTokens: 12 },
    });
    expect(doc.model).toEqual({ name: 'qwen2.5-vl-7b' });
    expect(doc.error).toBeUndefined();
  });

  it('records the frame: source, ISO times and the duration', () => {
    const doc = mergeResult(aFrame(), [ok('name', 'x')], NO_CHECKS);

    expect(doc.source).toEqual(aFrame().source);
    expect(doc.startedAt).toBe('2026-01-02T03:04:05.000Z');
    expect(doc.finishedAt).toBe('2026-01-02T03:04:06.234Z');
    expect(doc.durationMs).toBe(1234);
  });

  it('is partial when some fields failed, keeping the others', () => {
    // Act
    const doc = mergeResult(aFrame(), [ok('name', '乙醇'), failed('suppliers')], NO_CHECKS);

    // Assess
    expect(doc.status).toBe('partial');
    expect(doc.fields).toEqual({ name: '乙醇', suppliers: null });
    expect(doc.fieldResults.suppliers).toEqual({
      status: 'error',
      attempts: 4,
      latencyMs: 60_000,
      error: { code: 'MODEL_TIMEOUT', message: 'MODEL_TIMEOUT happened' },
    });
  });

  it('is failed when no field succeeded, every value null with its own error', () => {
    const doc = mergeResult(aFrame(), [failed('name', ErrorCode.ANSWER_INVALID), failed('tag')], NO_CHECKS);

    expect(doc.status).toBe('failed');
    expect(doc.fields).toEqual({ name: null, tag: null });
    expect(doc.fieldResults.name!.error!.code).toBe('ANSWER_INVALID');
    expect(doc.fieldResults.tag!.error!.code).toBe('MODEL_TIMEOUT');
  });

  it('is failed when there are no fields at all', () => {
    expect(mergeResult(aFrame(), [], NO_CHECKS).status).toBe('failed');
  });

  it('keeps an ok null ("not on the image") as a success', () => {
    const doc = mergeResult(aFrame(), [ok('suppliers', null)], NO_CHECKS);

    expect(doc.status).toBe('complete');
    expect(doc.fields).toEqual({ suppliers: null });
  });

  it('writes a document its own schema accepts', () => {
    const doc = mergeResult(aFrame(), [ok('name', 'x'), failed('tag')], NO_CHECKS);

    expect(resultDocumentSchema.safeParse(JSON.parse(JSON.stringify(doc))).success).toBe(true);
  });
});

describe('rejectedResult', () => {
  it('says why in error and has no fields', () => {
    // Act
    const doc = rejectedResult(aFrame(), { code: ErrorCode.INPUT_NOT_IMAGE, message: 'not an image' });

    // Assess
    expect(doc.status).toBe('rejected');
    expect(doc.error).toEqual({ code: 'INPUT_NOT_IMAGE', message: 'not an image' });
    expect(doc.fields).toEqual({});
    expect(doc.fieldResults).toEqual({});
  });
});

describe('failedResult', () => {
  it('lists every field as failed with the run’s error', () => {
    // Prepare
    const error = { code: ErrorCode.INTERNAL, message: 'boom' };

    // Act
    const doc = failedResult(aFrame(), ['name', 'tag'], error);

    // Assess
    expect(doc.status).toBe('failed');
    expect(doc.error).toEqual(error);
    expect(doc.fields).toEqual({ name: null, tag: null });
    expect(doc.fieldResults.tag).toEqual({ status: 'error', attempts: 0, latencyMs: 0, error });
  });
});

describe('resultDocumentSchema', () => {
  const base = () => JSON.parse(JSON.stringify(mergeResult(aFrame(), [ok('name', 'x'), failed('tag')], NO_CHECKS))) as Record<string, unknown>;

  it('refuses a document whose status contradicts its field results', () => {
    // Prepare: one field failed, yet the document claims to be complete
    const doc = { ...base(), status: 'complete' };

    // Act
    const parsed = resultDocumentSchema.safeParse(doc);

    // Assess
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.message).toContain('status "complete" does not match the field results (expected "partial")');
  });

  it('refuses a rejected document without an error', () => {
    const doc = { ...base(), status: 'rejected', fields: {}, fieldResults: {} };

    expect(resultDocumentSchema.safeParse(doc).success).toBe(false);
  });

  it('refuses a field result with status error but no error', () => {
    const doc = base();
    (doc.fieldResults as Record<string, unknown>).tag = { status: 'error', attempts: 1, latencyMs: 5 };

    expect(resultDocumentSchema.safeParse(doc).success).toBe(false);
  });

  it('refuses an unknown error code', () => {
    const doc = { ...base(), status: 'rejected', fields: {}, fieldResults: {}, error: { code: 'OOPS', message: 'm' } };

    expect(resultDocumentSchema.safeParse(doc).success).toBe(false);
  });

  it('refuses another version and unknown top-level keys', () => {
    expect(resultDocumentSchema.safeParse({ ...base(), version: 2 }).success).toBe(false);
    expect(resultDocumentSchema.safeParse({ ...base(), extra: true }).success).toBe(false);
  });
});

describe('resultKeyFor', () => {
  it('puts the key without the input prefix under the output prefix, with .json', () => {
    expect(resultKeyFor('incoming/2026/a.jpg', 'incoming/', 'results/')).toBe('results/2026/a.jpg.json');
  });

  it('keeps spaces and non-ASCII characters of decoded keys', () => {
    expect(resultKeyFor('incoming/标签 1.png', 'incoming/', 'results/')).toBe('results/标签 1.png.json');
  });

  it('works with an empty input prefix', () => {
    expect(resultKeyFor('a.jpg', '', 'results/')).toBe('results/a.jpg.json');
  });

  it('keeps the whole key when it is not under the input prefix', () => {
    expect(resultKeyFor('other/a.jpg', 'incoming/', 'results/')).toBe('results/other/a.jpg.json');
  });
});

describe('slowestField', () => {
  it('names the field with the highest latency, and is undefined without field results', () => {
    const doc = {
      fieldResults: {
        name: { status: 'ok' as const, attempts: 1, latencyMs: 120 },
        tag: { status: 'ok' as const, attempts: 2, latencyMs: 480 },
        suppliers: { status: 'ok' as const, attempts: 1, latencyMs: 300 },
      },
    };
    expect(slowestField(doc)).toEqual({ name: 'tag', latencyMs: 480 });
    expect(slowestField({ fieldResults: {} })).toBeUndefined();
  });
});

describe('mergeResult: checks and review', () => {
  const LABEL: TrustSettings = { fields: DEFAULT_LABEL_FIELDS };
  const good = (): FieldOutcome[] => [
    ok('name', '乙醇'),
    ok('tag', ['危险', 'GHS02']),
    ok('risk_notice', ['H225 高度易燃液体和蒸气']),
    ok('pre_notice', ['P210 远离热源、热表面、火花、明火和其他点火源。禁止吸烟。']),
    ok('suppliers', { name: '示例化工有限公司', address: '上海市', phone: '021-12345678', emergency_phone: '0532-83889090' }),
  ];
  const withOutcome = (outcomes: FieldOutcome[], replacement: FieldOutcome): FieldOutcome[] =>
    outcomes.map((o) => (o.name === replacement.name ? replacement : o));

  it('records every checked field, empty when nothing was found, and needs no review for a clean label', () => {
    // Act
    const doc = mergeResult(aFrame(), good(), LABEL);

    // Assess
    expect(doc.checks).toEqual({
      byField: { tag: [], risk_notice: [], pre_notice: [], suppliers: [] },
      summary: { errors: 0, warnings: 0, infos: 0, codes: [] },
    });
    expect(doc.review).toEqual({ needed: false, reasons: [] });
  });

  it('flags a label whose pictograms lack one its hazard statements require, with the check’s code', () => {
    // Prepare: H225 requires GHS02 (flame), which the tag does not show
    const outcomes = withOutcome(good(), ok('tag', ['危险']));

    // Act
    const doc = mergeResult(aFrame(), outcomes, LABEL);

    // Assess
    expect(doc.checks!.byField.tag).toEqual([
      expect.objectContaining({ code: 'GHS_PICTOGRAM_MISSING', severity: 'error', field: 'tag', values: ['GHS02', 'H225'] }),
    ]);
    expect(doc.checks!.summary).toEqual({ errors: 1, warnings: 0, infos: 0, codes: ['GHS_PICTOGRAM_MISSING'] });
    expect(doc.review).toEqual({ needed: true, reasons: ['check:GHS_PICTOGRAM_MISSING:tag'] });
    // Checks never change a value or fail a field.
    expect(doc.fields.tag).toEqual(['危险']);
    expect(doc.status).toBe('complete');
  });

  it('does not flag a label for an info finding', () => {
    const doc = mergeResult(aFrame(), withOutcome(good(), ok('pre_notice', ['P337+P313 如仍觉眼刺激：求医/就诊。'])), LABEL);

    expect(doc.checks!.summary).toMatchObject({ infos: 1, codes: ['GHS_CODE_SUPERSEDED'] });
    expect(doc.review).toEqual({ needed: false, reasons: [] });
  });

  it('leaves a failed field out of the checks and gives it a failed reason instead', () => {
    const doc = mergeResult(aFrame(), withOutcome(good(), failed('suppliers')), LABEL);

    expect(Object.keys(doc.checks!.byField)).toEqual(['tag', 'risk_notice', 'pre_notice']);
    expect(doc.review).toEqual({ needed: true, reasons: ['failed:suppliers'] });
  });

  it('names a required field that came back empty as missing, not failed', () => {
    const doc = mergeResult(aFrame(), withOutcome(good(), failed('name', ErrorCode.ANSWER_MISSING)), LABEL);

    expect(doc.review!.reasons).toEqual(['missing:name']);
  });

  it('names a field whose value came from the re-ask', () => {
    const reasked = ok('name', '乙醇');
    const doc = mergeResult(aFrame(), withOutcome(good(), { ...reasked, result: { ...reasked.result, attempts: 2, reasked: true } }), LABEL);

    expect(doc.fieldResults.name!.reasked).toBe(true);
    expect(doc.review).toEqual({ needed: true, reasons: ['reask:name'] });
  });

  it('flags a confidence under the threshold, and not one at or above it or a null one', () => {
    // Prepare
    const confident = (name: string, value: unknown, confidence: number | null): FieldOutcome => {
      const o = ok(name, value);
      return { ...o, result: { ...o.result, confidence } };
    };
    const outcomes = [confident('name', '乙醇', 0.62), confident('tag', ['危险', 'GHS02'], 0.8), confident('risk_notice', ['H225'], null)];

    // Act
    const byDefault = mergeResult(aFrame(), outcomes, LABEL);
    const stricter = mergeResult(aFrame(), outcomes, { ...LABEL, reviewThreshold: 0.9 });

    // Assess
    expect(byDefault.fieldResults.name!.confidence).toBe(0.62);
    expect(byDefault.fieldResults.risk_notice!.confidence).toBeNull();
    expect(byDefault.review!.reasons).toEqual(['confidence:name<0.80']);
    expect(stricter.review!.reasons).toEqual(['confidence:name<0.90', 'confidence:tag<0.90']);
  });

  it('has no checks when the field set names none, and still a review flag', () => {
    const doc = mergeResult(aFrame(), [ok('colour', 'red')], NO_CHECKS);

    expect(doc.checks).toBeUndefined();
    expect(doc.review).toEqual({ needed: false, reasons: [] });
  });

  it('gives a rejected document no checks and a review reason with the rejection’s code', () => {
    const doc = rejectedResult(aFrame(), { code: ErrorCode.INPUT_TOO_LARGE, message: 'too large' });

    expect(doc.checks).toBeUndefined();
    expect(doc.review).toEqual({ needed: true, reasons: ['rejected:INPUT_TOO_LARGE'] });
  });

  it('gives a document that failed as a whole no checks and every field as a failed reason', () => {
    const doc = failedResult(aFrame(), ['tag', 'name'], { code: ErrorCode.INTERNAL, message: 'boom' });

    expect(doc.checks).toBeUndefined();
    expect(doc.review).toEqual({ needed: true, reasons: ['failed:name', 'failed:tag'] });
  });
});

describe('resultDocumentSchema: the trust fields', () => {
  const base = () => JSON.parse(JSON.stringify(mergeResult(aFrame(), [ok('tag', ['危险'])], { fields: DEFAULT_LABEL_FIELDS }))) as Record<string, any>;

  it('accepts the checks, the review and a confidence of a number or null', () => {
    const doc = base();
    doc.fieldResults.tag.confidence = 0.42;
    const nullConfidence = base();
    nullConfidence.fieldResults.tag.confidence = null;

    expect(doc.checks.byField).toHaveProperty('tag');
    expect(resultDocumentSchema.safeParse(doc).success).toBe(true);
    expect(resultDocumentSchema.safeParse(nullConfidence).success).toBe(true);
  });

  it('still accepts a document written before it had checks, review or confidences', () => {
    const { checks: _c, review: _r, ...older } = base();

    expect(resultDocumentSchema.safeParse(older).success).toBe(true);
  });

  it('refuses a confidence outside 0-1, an unknown check code and a review without reasons', () => {
    const outside = base();
    outside.fieldResults.tag.confidence = 1.5;
    const unknownCode = base();
    unknownCode.checks.byField.tag[0].code = 'GHS_MADE_UP';
    const noReasons = base();
    delete noReasons.review.reasons;

    for (const doc of [outside, unknownCode, noReasons]) expect(resultDocumentSchema.safeParse(doc).success).toBe(false);
  });
});
