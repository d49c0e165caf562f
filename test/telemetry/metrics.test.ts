import { describe, expect, it } from 'vitest';
import { createEmfMetrics } from '../../functions/adapters/emf-metrics';
import { ErrorCode, ModelError } from '../../functions/core/errors';
import type { ImagePayload, ModelClient, ModelRequest } from '../../functions/core/ports';
import { errorCodeDimension, metric, type MetricRecord } from '../../functions/telemetry/catalogue';
import { createModelMeter } from '../../functions/telemetry/model-meter';
import { formatMetricsSummary, summariseMetrics } from '../../functions/telemetry/summary';

const image: ImagePayload = { mime: 'image/png', bytes: 1, base64: Buffer.from('AA==') };
const request = (field: string, followUp = 0): ModelRequest => ({
  image,
  system: 's',
  prompt: 'p',
  followUp: Array.from({ length: followUp }, () => ({ role: 'user' as const, content: 'again' })),
  schemaName: field,
  answerSchema: {},
  maxTokens: 10,
});
const options = { signal: new AbortController().signal, timeoutMs: 1000 };
const total = (records: readonly MetricRecord[], name: string) =>
  records.filter((r) => r.name === name && !r.dimensions).reduce((s, r) => s + r.value, 0);

describe('the metric catalogue', () => {
  it('publishes a value as its total and once more under its own dimension, never another', () => {
    expect(metric('Documents', 1, 'complete')).toEqual([
      { name: 'Documents', unit: 'Count', value: 1 },
      { name: 'Documents', unit: 'Count', value: 1, dimensions: { status: 'complete' } },
    ]);
    expect(metric('FieldLatency', 812, 'name')).toEqual([{ name: 'FieldLatency', unit: 'Milliseconds', value: 812 }]);
  });

  it('turns a code outside the error table into OTHER, so no string adds a dimension value', () => {
    expect(errorCodeDimension(ErrorCode.MODEL_TIMEOUT)).toBe('MODEL_TIMEOUT');
    expect(errorCodeDimension('incoming/secret-key.png')).toBe('OTHER');
    expect(errorCodeDimension(undefined)).toBe('OTHER');
  });
});

describe('createModelMeter', () => {
  it('counts requests, a retry after a failure of the same field, a re-ask once, rate limits and tokens', async () => {
    // Prepare: name is rate-limited once, tag is re-asked (and that re-ask fails once), price sums the rest
    let calls = 0;
    const model: ModelClient = {
      modelName: 'm',
      async complete(req) {
        calls++;
        if (req.schemaName === 'name' && calls === 1) throw new ModelError(ErrorCode.MODEL_RATE_LIMITED, '429', { retryable: true });
        if (req.schemaName === 'tag' && req.followUp.length > 0 && calls === 4) throw new ModelError(ErrorCode.MODEL_SERVER_ERROR, '500', { retryable: true });
        return { text: '{}', finishReason: 'stop', usage: { promptTokens: 100, completionTokens: 10, cachedTokens: 60 } };
      },
    };
    let now = 0;
    const meter = createModelMeter(() => (now += 5));
    const m = meter.wrap(model);

    // Act
    await m.complete(request('name'), options).catch(() => undefined);
    await m.complete(request('name'), options);
    await m.complete(request('tag'), options);
    await m.complete(request('tag', 2), options).catch(() => undefined);
    await m.complete(request('tag', 2), options);
    const records = meter.records({ currency: 'USD', inputPerMillion: 1, cachedInputPerMillion: 0.5, outputPerMillion: 2 });

    // Assess
    expect(total(records, 'ModelRequests')).toBe(5);
    expect(total(records, 'Retries')).toBe(2);
    expect(total(records, 'ReAsks')).toBe(1);
    expect(total(records, 'RateLimited')).toBe(1);
    expect(total(records, 'ModelErrors')).toBe(2);
    expect(records).toContainEqual({ name: 'ModelErrors', unit: 'Count', value: 1, dimensions: { errorCode: 'MODEL_SERVER_ERROR' } });
    expect(total(records, 'InputTokens')).toBe(300);
    expect(total(records, 'CachedInputTokens')).toBe(180);
    expect(total(records, 'OutputTokens')).toBe(30);
    expect(records.filter((r) => r.name === 'ModelLatency')).toHaveLength(5);
    // (120 × 1 + 180 × 0.5 + 30 × 2) / 1e6
    expect(total(records, 'Cost')).toBeCloseTo(0.00027, 10);
  });

  it('publishes nothing when no request was made', () => {
    expect(createModelMeter(() => 0).records()).toEqual([]);
  });
});

describe('createEmfMetrics', () => {
  it('writes one EMF line per dimension set, and splits a metric with 100 values or more', () => {
    // Prepare
    const lines: string[] = [];
    const emf = createEmfMetrics({ serviceName: 'Fieldlens', write: (l) => lines.push(l) });
    const records = [...metric('Documents', 1, 'complete'), ...Array.from({ length: 150 }, (_, i) => metric('FieldLatency', i)).flat()];

    // Act
    emf.publish(records);

    // Assess
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> } });
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    const dims = parsed.map((p) => p._aws.CloudWatchMetrics[0]!.Dimensions);
    expect(dims).toContainEqual([['service', 'status']]);
    const latency = parsed.filter((p) => p.FieldLatency !== undefined).map((p) => p.FieldLatency as number[]);
    expect(latency.map((v) => v.length).sort()).toEqual([51, 99]);
    expect(parsed.find((p) => p.status === 'complete')).toMatchObject({ Documents: 1, service: 'Fieldlens' });
  });
});

describe('the summary', () => {
  it('adds the records up into a few lines: documents by status, field latency, requests and tokens', () => {
    // Prepare
    const records = [
      ...metric('Documents', 1, 'complete'),
      ...metric('Documents', 1, 'partial'),
      ...[100, 300, 200].flatMap((v) => metric('FieldLatency', v)),
      ...metric('FieldErrors', 1, 'MODEL_TIMEOUT'),
      ...metric('ModelRequests', 7),
      ...metric('InputTokens', 900),
      ...metric('OutputTokens', 30),
    ];

    // Act
    const lines = formatMetricsSummary(summariseMetrics(records));

    // Assess
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('documents 2 (complete 1, partial 1)');
    expect(lines[1]).toContain('errors (MODEL_TIMEOUT 1)');
    expect(lines[1]).toContain('field latency p50 200 ms, max 300 ms');
    expect(lines[2]).toContain('model requests 7');
    expect(lines[2]).toContain('tokens in 900, out 30');
  });
});
