import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../functions/core/errors';
import { failedResult, mergeResult, rejectedResult, resultDocumentSchema, RESULT_VERSION, slowestField, type DocumentFrame, type FieldOutcome, type TrustSettings } from '../../functions/core/document';
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
