/**
 * The metrics the on-upload handler publishes: its EMF lines, as Lambda's
 * log pipeline reads them, parsed and checked for names, units and
 * dimensions. The real handler, the real adapters, a real S3-compatible
 * server and a real OpenAI-compatible server on loopback.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { METRICS, METRICS_NAMESPACE } from '../functions/telemetry/catalogue';
import { labelHandler, lambdaContext, startRig, TINY_PNG, type Rig } from './support/harness';

/** One metric of one EMF line: its name, unit, the dimension names and their values, and its value(s). */
interface EmfMetric {
  readonly name: string;
  readonly unit: string;
  readonly dimensionSets: readonly (readonly string[])[];
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: readonly number[];
}

/** Every metric of every EMF line among the handler's output lines. */
function emfMetrics(lines: readonly string[]): EmfMetric[] {
  const out: EmfMetric[] = [];
  for (const line of lines) {
    const obj = JSON.parse(line) as Record<string, unknown> & {
      _aws?: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
    };
    if (!obj._aws) continue;
    expect(typeof obj._aws.Timestamp).toBe('number');
    for (const directive of obj._aws.CloudWatchMetrics) {
      expect(directive.Namespace).toBe(METRICS_NAMESPACE);
      const names = [...new Set(directive.Dimensions.flat())];
      const dimensions = Object.fromEntries(names.map((n) => [n, obj[n] as string]));
      for (const m of directive.Metrics) {
        const raw = obj[m.Name];
        out.push({
          name: m.Name,
          unit: m.Unit,
          dimensionSets: directive.Dimensions,
          dimensions,
          values: Array.isArray(raw) ? (raw as number[]) : [raw as number],
        });
      }
    }
  }
  return out;
}

/** The sum of `name`'s values published with exactly these extra dimensions (besides `service`). */
function sumOf(metrics: readonly EmfMetric[], name: string, dims: Record<string, string> = {}): number {
  return metrics
    .filter((m) => m.name === name && m.name !== 'ColdStart')
    .filter((m) => {
      const extra = Object.entries(m.dimensions).filter(([k]) => k !== 'service');
      return extra.length === Object.keys(dims).length && extra.every(([k, v]) => dims[k] === v);
    })
    .reduce((s, m) => s + m.values.reduce((a, b) => a + b, 0), 0);
}

let rig: Rig;
const initialization = process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
beforeAll(async () => {
  // What Lambda sets in an on-demand environment: Powertools counts a cold start only then.
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
  rig = await startRig();
});
afterAll(async () => {
  if (initialization === undefined) delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
  else process.env.AWS_LAMBDA_INITIALIZATION_TYPE = initialization;
  await rig?.close();
});
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
  rig.logLines.length = 0;
});

describe('the handler’s EMF metrics', () => {
  it('publishes documents, fields, latencies, requests and tokens of a complete image, with the catalogue’s units and bounded dimensions', async () => {
    // Prepare
    const handler = rig.handlerWith({ POWERTOOLS_SERVICE_NAME: 'FieldlensTest' });
    const event = await rig.put('incoming/metrics/a.png', TINY_PNG);

    // Act
    await handler(event, { ...lambdaContext(), functionName: 'fieldlens-on-upload' });

    // Assess: every metric has the catalogue's unit, and `service` in every dimension set.
    const metrics = emfMetrics(rig.logLines);
    expect(metrics.length).toBeGreaterThan(0);
    for (const m of metrics) {
      for (const set of m.dimensionSets) expect(set[0]).toBe('service');
      expect(m.dimensions.service).toBe('FieldlensTest');
      if (m.name === 'ColdStart') continue;
      const spec = METRICS[m.name as keyof typeof METRICS];
      expect(spec, `${m.name} is in the catalogue`).toBeDefined();
      expect(m.unit).toBe(spec.unit);
      // At most one dimension besides service, and only the metric's own.
      const extra = Object.keys(m.dimensions).filter((k) => k !== 'service');
      expect(extra.length).toBeLessThanOrEqual(1);
      if (extra.length === 1) expect(extra[0]).toBe((spec as { by?: string }).by);
    }
    // No key, field name or value ever becomes a dimension value.
    const values = metrics.flatMap((m) => Object.values(m.dimensions));
    for (const v of values) expect(['incoming/metrics/a.png', 'name', 'tag', 'risk_notice', 'pre_notice', 'suppliers', '乙醇']).not.toContain(v);

    // Assess: the figures.
    expect(sumOf(metrics, 'Documents')).toBe(1);
    expect(sumOf(metrics, 'Documents', { status: 'complete' })).toBe(1);
    expect(sumOf(metrics, 'Fields', { outcome: 'ok' })).toBe(5);
    expect(metrics.filter((m) => m.name === 'FieldLatency').flatMap((m) => m.values)).toHaveLength(5);
    expect(metrics.filter((m) => m.name === 'SlowestFieldLatency').flatMap((m) => m.values)).toHaveLength(1);
    expect(metrics.filter((m) => m.name === 'ImageDuration').flatMap((m) => m.values)).toHaveLength(1);
    expect(sumOf(metrics, 'ModelRequests')).toBe(5);
    expect(metrics.filter((m) => m.name === 'ModelLatency').flatMap((m) => m.values)).toHaveLength(5);
    expect(sumOf(metrics, 'ModelErrors')).toBe(0);
    expect(sumOf(metrics, 'InputTokens')).toBe(500);
    expect(sumOf(metrics, 'OutputTokens')).toBe(50);
    expect(sumOf(metrics, 'Retries')).toBe(0);

    // Assess: Powertools' cold-start metric, once per execution environment.
    const cold = metrics.filter((m) => m.name === 'ColdStart');
    expect(cold).toHaveLength(1);
    expect(cold[0]!.dimensions).toEqual({ service: 'FieldlensTest', function_name: 'fieldlens-on-upload' });
    rig.logLines.length = 0;
    await handler(await rig.put('incoming/metrics/b.png', TINY_PNG), lambdaContext());
    expect(emfMetrics(rig.logLines).filter((m) => m.name === 'ColdStart')).toHaveLength(0);
  });

  it('counts a rate limit, a retry, a re-ask and a final error by their codes', async () => {
    // Prepare
    rig.model.setHandler(
      labelHandler({
        name: (r) => (r.attempt === 1 ? { kind: 'status', status: 429, headers: { 'retry-after-ms': '10' } } : { kind: 'answer', value: '乙醇' }),
        tag: (r) => (r.turns === 2 ? { kind: 'text', content: '{"value": [' } : { kind: 'answer', value: ['危险'] }),
        risk_notice: () => ({ kind: 'status', status: 400, body: { error: { message: 'prompt too long', type: 'invalid_request_error' } } }),
      }),
    );
    const event = await rig.put('incoming/metrics/faults.png', TINY_PNG);

    // Act
    await rig.handlerWith()(event, lambdaContext());

    // Assess
    const metrics = emfMetrics(rig.logLines);
    expect(sumOf(metrics, 'Documents', { status: 'partial' })).toBe(1);
    expect(sumOf(metrics, 'ModelRequests')).toBe(7);
    expect(sumOf(metrics, 'RateLimited')).toBe(1);
    expect(sumOf(metrics, 'Retries')).toBe(1);
    expect(sumOf(metrics, 'ReAsks')).toBe(1);
    expect(sumOf(metrics, 'ModelErrors')).toBe(2);
    expect(sumOf(metrics, 'ModelErrors', { errorCode: 'MODEL_RATE_LIMITED' })).toBe(1);
    expect(sumOf(metrics, 'ModelErrors', { errorCode: 'MODEL_BAD_REQUEST' })).toBe(1);
    expect(sumOf(metrics, 'Fields', { outcome: 'error' })).toBe(1);
    expect(sumOf(metrics, 'FieldErrors', { errorCode: 'MODEL_BAD_REQUEST' })).toBe(1);
    expect(sumOf(metrics, 'ReviewNeeded')).toBe(1);
  });

  it('counts a duplicate delivery as skipped, with no model metrics', async () => {
    // Prepare
    const handler = rig.handlerWith();
    const event = await rig.put('incoming/metrics/dup.png', TINY_PNG);
    await handler(event, lambdaContext());
    rig.logLines.length = 0;

    // Act
    await handler(event, lambdaContext(60_000, 'req-2'));

    // Assess
    const metrics = emfMetrics(rig.logLines);
    expect(sumOf(metrics, 'DuplicatesSkipped')).toBe(1);
    expect(sumOf(metrics, 'Documents')).toBe(0);
    expect(metrics.some((m) => m.name === 'ModelRequests')).toBe(false);
  });

  it('writes log lines in the Powertools format, with the Lambda context and the object’s key', async () => {
    // Prepare
    const event = await rig.put('incoming/metrics/log.png', TINY_PNG);

    // Act
    await rig.handlerWith({ POWERTOOLS_SERVICE_NAME: 'FieldlensTest' })(event, {
      ...lambdaContext(60_000, 'req-log'),
      functionName: 'fieldlens-on-upload',
      memoryLimitInMB: '512',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fieldlens-on-upload',
    });

    // Assess
    const written = rig.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === 'result written');
    expect(written).toMatchObject({
      level: 'INFO',
      service: 'FieldlensTest',
      cold_start: true,
      function_name: 'fieldlens-on-upload',
      function_request_id: 'req-log',
      requestId: 'req-log',
      key: 'incoming/metrics/log.png',
      status: 'complete',
    });
    expect(Number.isNaN(Date.parse(written!.timestamp as string))).toBe(false);
  });

  it('publishes cached tokens and the invocation’s cost at the configured prices', async () => {
    // Prepare: every answer reports 1000 of its 1200 prompt tokens as cached
    rig.model.setHandler(() => ({
      kind: 'status',
      status: 200,
      body: {
        choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify({ value: null }) }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1_200, completion_tokens: 20, total_tokens: 1_220, prompt_tokens_details: { cached_tokens: 1_000 } },
      },
    }));
    const handler = rig.handlerWith({ MODEL_PRICE_INPUT_PER_MTOK: '0.4', MODEL_PRICE_CACHED_INPUT_PER_MTOK: '0.1', MODEL_PRICE_OUTPUT_PER_MTOK: '1.6' });

    // Act
    await handler(await rig.put('incoming/metrics/priced.png', Buffer.concat([TINY_PNG, Buffer.from('priced')])), lambdaContext());

    // Assess: 5 fields × (200 × 0.4 + 1000 × 0.1 + 20 × 1.6) per million, as in the document
    const metrics = emfMetrics(rig.logLines);
    expect(sumOf(metrics, 'InputTokens')).toBe(6_000);
    expect(sumOf(metrics, 'CachedInputTokens')).toBe(5_000);
    expect(sumOf(metrics, 'OutputTokens')).toBe(100);
    const cost = metrics.filter((m) => m.name === 'Cost');
    expect(cost).toHaveLength(1);
    expect(cost[0]!.unit).toBe('None');
    expect(cost[0]!.values).toEqual([0.00106]);
  });

  it('counts a content-cache hit, with the document but no field or model metrics', async () => {
    // Prepare
    const handler = rig.handlerWith({ CONTENT_CACHE: 'on' });
    const bytes = Buffer.concat([TINY_PNG, Buffer.from('metrics-cache')]);
    await handler(await rig.put('incoming/metrics/cache-1.png', bytes), lambdaContext());
    rig.logLines.length = 0;

    // Act
    await handler(await rig.put('incoming/metrics/cache-2.png', bytes), lambdaContext(60_000, 'req-2'));

    // Assess
    const metrics = emfMetrics(rig.logLines);
    expect(sumOf(metrics, 'CacheHits')).toBe(1);
    expect(sumOf(metrics, 'Documents', { status: 'complete' })).toBe(1);
    expect(metrics.some((m) => m.name === 'Fields' || m.name === 'FieldLatency' || m.name === 'ModelRequests')).toBe(false);
  });
});
