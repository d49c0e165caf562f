/**
 * The direct mode end to end: the real handler, the real adapters, a real
 * S3-compatible server and a real OpenAI-compatible HTTP server on loopback.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { DEFAULT_LABEL_FIELDS } from '../functions/core/fields';
import { resultDocumentSchema } from '../functions/core/document';
import type { DirectResponse } from '../functions/on-upload';
import { answerByField } from './support/openai-test-server';
import { BUCKET, LABEL_ANSWERS, labelHandler, lambdaContext, sqsEvent, startRig, TINY_PNG, type Rig } from './support/harness';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig({ buckets: [BUCKET, 'other-results'] });
});
afterAll(async () => rig?.close());
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler());
  rig.logLines.length = 0;
});

describe('a label image becomes one merged document', () => {
  it('asks every field once and writes a complete, schema-valid document at the result key', async () => {
    // Prepare
    const event = await rig.put('incoming/2026/a.png', TINY_PNG);
    // Act
    const res = (await rig.handlerWith()(event, lambdaContext())) as DirectResponse;
    // Assess
    const doc = await rig.result('results/2026/a.png.json');
    expect(doc).toBeDefined();
    expect(resultDocumentSchema.safeParse(doc).success).toBe(true);
    expect(doc!.status).toBe('complete');
    expect(doc!.fields).toEqual(LABEL_ANSWERS);
    expect(doc!.source).toMatchObject({ bucket: BUCKET, key: 'incoming/2026/a.png', bytes: TINY_PNG.length, contentType: 'image/png' });
    expect(doc!.source.etag).toMatch(/^[0-9a-f]{32}$/);
    expect(doc!.model).toEqual({ name: 'test-model' });
    for (const field of DEFAULT_LABEL_FIELDS) {
      expect(doc!.fieldResults[field.name]).toMatchObject({ status: 'ok', attempts: 1, usage: { promptTokens: 100, completionTokens: 10 } });
    }
    expect(res.outcomes[0]!.outcome).toMatchObject({ kind: 'written', resultKey: 'results/2026/a.png.json' });
    expect(rig.model.requests).toHaveLength(5);
  });

  it('sends every field the same shared image with an exact content-length, temperature 0, max_tokens and a json_schema', async () => {
    const event = await rig.put('incoming/shape.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const reqs = rig.model.requests;
    expect(new Set(reqs.map((r) => r.field))).toEqual(new Set(DEFAULT_LABEL_FIELDS.map((f) => f.name)));
    expect(new Set(reqs.map((r) => r.imageSha256)).size).toBe(1);
    expect(reqs.every((r) => r.contentLengthOk)).toBe(true);
    expect(reqs[0]!.imageBase64Length).toBe(TINY_PNG.toString('base64').length);
    for (const r of reqs) {
      expect(r.body).toMatchObject({ model: 'test-model', temperature: 0, max_tokens: 1024 });
      expect(r.body.messages[1].content[0]).toEqual({ type: 'image_url', image_url: { url: '<image>' } });
      expect(r.body.response_format).toMatchObject({ type: 'json_schema', json_schema: { name: r.field, strict: true } });
      expect(r.body.response_format.json_schema.schema).toMatchObject({ required: ['value'], additionalProperties: false });
    }
  });

  it('uses json_object or no response_format when MODEL_RESPONSE_FORMAT says so', async () => {
    const a = await rig.put('incoming/fmt-a.png', TINY_PNG);
    await rig.handlerWith({ MODEL_RESPONSE_FORMAT: 'json_object' })(a, lambdaContext());
    expect(rig.model.requests.every((r) => r.body.response_format?.type === 'json_object')).toBe(true);
    rig.model.reset();
    rig.model.setHandler(() => ({ kind: 'answer', value: null }));
    const b = await rig.put('incoming/fmt-b.png', TINY_PNG);
    await rig.handlerWith({ MODEL_RESPONSE_FORMAT: 'none' })(b, lambdaContext());
    expect(rig.model.requests.every((r) => r.body.response_format === undefined)).toBe(true);
    expect((await rig.result('results/fmt-b.png.json'))!.status).toBe('complete');
  });

  it('fans out: with 5 fields answered after 300 ms each, the server sees all 5 in flight at once', async () => {
    rig.model.setHandler(labelHandler({}, 300));
    const event = await rig.put('incoming/fanout.png', TINY_PNG);
    const started = performance.now();
    await rig.handlerWith()(event, lambdaContext());
    const elapsed = performance.now() - started;
    expect(rig.model.maxInFlight).toBe(5);
    // All five were received before the first could have been answered.
    const arrivals = rig.model.requests.map((r) => r.receivedAt);
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeLessThan(300);
    expect(elapsed).toBeGreaterThanOrEqual(300);
  });

  it('never has more than MODEL_MAX_CONCURRENCY requests in flight', async () => {
    rig.model.setHandler(labelHandler({}, 100));
    const event = await rig.put('incoming/capped.png', TINY_PNG);
    await rig.handlerWith({ MODEL_MAX_CONCURRENCY: '2' })(event, lambdaContext());
    expect(rig.model.maxInFlight).toBe(2);
    expect((await rig.result('results/capped.png.json'))!.status).toBe('complete');
  });

  it('keys the result on the key without the input prefix, into OUTPUT_BUCKET when set', async () => {
    const event = await rig.put('incoming/x/y.png', TINY_PNG);
    await rig.handlerWith({ OUTPUT_BUCKET: 'other-results', OUTPUT_PREFIX: 'out/' })(event, lambdaContext());
    expect((await rig.result('out/x/y.png.json', 'other-results'))!.status).toBe('complete');
    expect(await rig.result('out/x/y.png.json')).toBeUndefined();
  });

  it('uses the field set from FIELDS', async () => {
    rig.model.setHandler(answerByField({ colour: 'red', parts: ['a', 'b'] }));
    const fields = [
      { name: 'colour', prompt: 'What colour is the label?', type: 'string' },
      { name: 'parts', prompt: 'List the parts.', type: 'string[]' },
    ];
    const event = await rig.put('incoming/custom.png', TINY_PNG);
    await rig.handlerWith({ FIELDS: JSON.stringify(fields) })(event, lambdaContext());
    expect((await rig.result('results/custom.png.json'))!.fields).toEqual({ colour: 'red', parts: ['a', 'b'] });
  });
});

describe('transient failures are retried; final ones are recorded per field', () => {
  it('honours 429 Retry-After and then succeeds', async () => {
    rig.model.setHandler(
      labelHandler({
        name: (r) =>
          r.attempt === 1
            ? { kind: 'status', status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '1' } }
            : { kind: 'answer', value: '乙醇' },
      }),
    );
    const event = await rig.put('incoming/r429.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/r429.png.json'))!;
    expect(doc.status).toBe('complete');
    expect(doc.fieldResults.name).toMatchObject({ status: 'ok', attempts: 2 });
    const [first, second] = rig.model.requests.filter((r) => r.field === 'name');
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(240);
  });

  it('retries a 5xx and a connection reset, and sums usage over the attempts', async () => {
    rig.model.setHandler(
      labelHandler({
        name: (r) => (r.attempt === 1 ? { kind: 'status', status: 503 } : { kind: 'answer', value: '乙醇' }),
        tag: (r) => (r.attempt === 1 ? { kind: 'reset' } : { kind: 'answer', value: ['危险'] }),
      }),
    );
    const event = await rig.put('incoming/r5xx.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/r5xx.png.json'))!;
    expect(doc.status).toBe('complete');
    expect(doc.fieldResults.name).toMatchObject({ status: 'ok', attempts: 2 });
    expect(doc.fieldResults.tag).toMatchObject({ status: 'ok', attempts: 2 });
    expect(doc.fields.tag).toEqual(['危险']);
  });

  it('gives up after MODEL_MAX_RETRIES on a persistent 500 and keeps the other fields (partial)', async () => {
    rig.model.setHandler(labelHandler({ suppliers: () => ({ kind: 'status', status: 500 }) }));
    const event = await rig.put('incoming/r500.png', TINY_PNG);
    await rig.handlerWith({ MODEL_MAX_RETRIES: '2' })(event, lambdaContext());
    const doc = (await rig.result('results/r500.png.json'))!;
    expect(doc.status).toBe('partial');
    expect(doc.fields.suppliers).toBeNull();
    expect(doc.fields.name).toBe('乙醇');
    expect(doc.fieldResults.suppliers).toMatchObject({ status: 'error', attempts: 3, error: { code: 'MODEL_SERVER_ERROR' } });
  });

  it('does not retry a 400 and records MODEL_BAD_REQUEST with the server message', async () => {
    rig.model.setHandler(
      labelHandler({
        risk_notice: () => ({
          kind: 'status',
          status: 400,
          body: { error: { message: 'prompt too long', type: 'invalid_request_error', code: null } },
        }),
      }),
    );
    const event = await rig.put('incoming/r400.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/r400.png.json'))!;
    expect(doc.fieldResults.risk_notice).toMatchObject({ status: 'error', attempts: 1, error: { code: 'MODEL_BAD_REQUEST' } });
    expect(doc.fieldResults.risk_notice!.error!.message).toContain('prompt too long');
    expect(rig.model.requests.filter((r) => r.field === 'risk_notice')).toHaveLength(1);
  });

  it('times out a hanging attempt after MODEL_TIMEOUT_MS, retries it, then records MODEL_TIMEOUT', async () => {
    rig.model.setHandler(labelHandler({ pre_notice: () => ({ kind: 'hang' }) }));
    const event = await rig.put('incoming/hang.png', TINY_PNG);
    await rig.handlerWith({ MODEL_TIMEOUT_MS: '300', MODEL_MAX_RETRIES: '1' })(event, lambdaContext());
    const doc = (await rig.result('results/hang.png.json'))!;
    expect(doc.status).toBe('partial');
    expect(doc.fieldResults.pre_notice).toMatchObject({ status: 'error', attempts: 2, error: { code: 'MODEL_TIMEOUT' } });
  });

  it('writes a partial document before the Lambda deadline when a field hangs', async () => {
    rig.model.setHandler(labelHandler({ pre_notice: () => ({ kind: 'hang' }) }));
    const event = await rig.put('incoming/deadline.png', TINY_PNG);
    const started = performance.now();
    // 3 s left, 0.5 s kept back to write: the document must be in S3 before
    // the Lambda's own limit, with room for a loaded 2-core machine.
    await rig.handlerWith({ MODEL_TIMEOUT_MS: '60000' })(event, lambdaContext(3_000));
    expect(performance.now() - started).toBeLessThan(3_000);
    const doc = (await rig.result('results/deadline.png.json'))!;
    expect(doc.status).toBe('partial');
    expect(doc.fieldResults.pre_notice).toMatchObject({ status: 'error', error: { code: 'DEADLINE_EXCEEDED' } });
  });

  it('re-asks once on malformed JSON, showing the model the error, and accepts the corrected answer', async () => {
    rig.model.setHandler(
      labelHandler({
        tag: (r) => (r.turns === 2 ? { kind: 'text', content: '{"value": ["危险", ' } : { kind: 'answer', value: ['危险', 'GHS02'] }),
      }),
    );
    const event = await rig.put('incoming/reask.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/reask.png.json'))!;
    expect(doc.fieldResults.tag).toMatchObject({ status: 'ok', attempts: 2, usage: { promptTokens: 200, completionTokens: 20 } });
    const second = rig.model.requests.find((r) => r.field === 'tag' && r.turns === 4)!;
    expect(second.body.messages[2]).toEqual({ role: 'assistant', content: '{"value": ["危险", ' });
    expect(second.body.messages[3].content).toMatch(/not valid/);
  });

  it('records ANSWER_INVALID when the re-ask is invalid too', async () => {
    rig.model.setHandler(labelHandler({ tag: () => ({ kind: 'text', content: 'I cannot see a label.' }) }));
    const event = await rig.put('incoming/invalid.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/invalid.png.json'))!;
    expect(doc.fieldResults.tag).toMatchObject({ status: 'error', attempts: 2, error: { code: 'ANSWER_INVALID' } });
  });

  it('treats finish_reason "length" as MODEL_TRUNCATED, never parsing the cut-off text', async () => {
    rig.model.setHandler(
      labelHandler({ risk_notice: () => ({ kind: 'text', content: '{"value": ["H225"]}', finishReason: 'length' }) }),
    );
    const event = await rig.put('incoming/trunc.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/trunc.png.json'))!;
    expect(doc.fields.risk_notice).toBeNull();
    expect(doc.fieldResults.risk_notice).toMatchObject({ status: 'error', attempts: 1, error: { code: 'MODEL_TRUNCATED' } });
  });

  it('marks the document failed when no field succeeds', async () => {
    rig.model.setHandler(() => ({ kind: 'status', status: 401 }));
    const event = await rig.put('incoming/allfail.png', TINY_PNG);
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/allfail.png.json'))!;
    expect(doc.status).toBe('failed');
    expect(Object.values(doc.fieldResults).every((r) => r.error?.code === 'MODEL_UNAUTHORIZED' && r.attempts === 1)).toBe(true);
  });
});

describe('events and inputs', () => {
  it('decodes keys as real S3 sends them: spaces as +, a literal +, Chinese characters', async () => {
    const key = 'incoming/批次 1/乙醇 a+b.png';
    const event = await rig.put(key, TINY_PNG);
    expect(JSON.stringify(event)).toContain('incoming/%E6%89%B9%E6%AC%A1+1/%E4%B9%99%E9%86%87+a%2Bb.png');
    await rig.handlerWith()(event, lambdaContext());
    const doc = (await rig.result('results/批次 1/乙醇 a+b.png.json'))!;
    expect(doc.source.key).toBe(key);
    expect(doc.status).toBe('complete');
  });

  it('processes every record of an event', async () => {
    const a = await rig.put('incoming/multi-a.png', TINY_PNG);
    const b = await rig.put('incoming/multi-b.png', TINY_PNG);
    const both = { Records: [...a.Records, ...b.Records] };
    await rig.handlerWith()(both, lambdaContext());
    expect((await rig.result('results/multi-a.png.json'))!.status).toBe('complete');
    expect((await rig.result('results/multi-b.png.json'))!.status).toBe('complete');
  });

  it('accepts SQS-wrapped S3 events and reports only the bad message as a batch item failure', async () => {
    const good = await rig.put('incoming/sqs.png', TINY_PNG);
    const res = await rig.handlerWith()(sqsEvent([good, 'not json']), lambdaContext());
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    expect((await rig.result('results/sqs.png.json'))!.status).toBe('complete');
  });

  it('ignores the s3:TestEvent', async () => {
    const res = (await rig.handlerWith()(
      { Service: 'Amazon S3', Event: 's3:TestEvent', Time: new Date().toISOString(), Bucket: BUCKET },
      lambdaContext(),
    )) as DirectResponse;
    expect(res.outcomes).toEqual([]);
    expect(rig.model.requests).toHaveLength(0);
  });

  it('never processes keys outside the input prefix or under the output prefix (no loop in a shared bucket)', async () => {
    const outside = await rig.put('elsewhere/a.png', TINY_PNG);
    const output = await rig.put('results/a.png', TINY_PNG);
    const nested = await rig.put('incoming/results/b.png', TINY_PNG);
    // OUTPUT_BUCKET named: the config cannot check overlap then, so the core's own guard is what is tested.
    const handler = rig.handlerWith({ OUTPUT_PREFIX: 'incoming/results/', OUTPUT_BUCKET: BUCKET });
    const res = (await handler({ Records: [...outside.Records, ...output.Records, ...nested.Records] }, lambdaContext())) as DirectResponse;
    expect(res.outcomes.map((o) => o.outcome)).toEqual([
      { kind: 'skipped', reason: 'outside-input-prefix' },
      { kind: 'skipped', reason: 'outside-input-prefix' },
      { kind: 'skipped', reason: 'under-output-prefix' },
    ]);
    expect(rig.model.requests).toHaveLength(0);
  });

  it('rejects an empty object, a non-image by its bytes and an oversized object without a model call', async () => {
    const empty = await rig.put('incoming/empty.png', Buffer.alloc(0));
    const text = await rig.put('incoming/notes.jpg', 'this is not an image', 'image/jpeg');
    const big = await rig.put('incoming/big.png', Buffer.concat([TINY_PNG, Buffer.alloc(2_000)]));
    const handler = rig.handlerWith({ MAX_IMAGE_BYTES: '1000' });
    await handler({ Records: [...empty.Records, ...text.Records, ...big.Records] }, lambdaContext());
    const docs = await Promise.all(['empty.png', 'notes.jpg', 'big.png'].map((k) => rig.result(`results/${k}.json`)));
    expect(docs.map((d) => [d!.status, d!.error!.code])).toEqual([
      ['rejected', 'INPUT_EMPTY'],
      ['rejected', 'INPUT_NOT_IMAGE'],
      ['rejected', 'INPUT_TOO_LARGE'],
    ]);
    expect(docs[2]!.error!.message).toContain('MAX_IMAGE_BYTES');
    expect(resultDocumentSchema.safeParse(docs[1]).success).toBe(true);
    expect(rig.model.requests).toHaveLength(0);
  });

  it('logs a warning and writes nothing for an object deleted before it is read', async () => {
    const event = await rig.put('incoming/gone.png', TINY_PNG);
    await rig.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'incoming/gone.png' }));
    const res = (await rig.handlerWith()(event, lambdaContext())) as DirectResponse;
    expect(res.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'not-found' });
    expect(await rig.result('results/gone.png.json')).toBeUndefined();
    const warn = rig.logLines.map((l) => JSON.parse(l)).find((l) => l.level === 'WARN');
    expect(warn).toMatchObject({ key: 'incoming/gone.png', requestId: 'req-1' });
  });

  it('costs no model call for a duplicate event of the same ETag, but recomputes a replaced object', async () => {
    const event = await rig.put('incoming/dup.png', TINY_PNG);
    const handler = rig.handlerWith();
    await handler(event, lambdaContext());
    expect(rig.model.requests).toHaveLength(5);
    const again = (await handler(event, lambdaContext())) as DirectResponse;
    expect(again.outcomes[0]!.outcome).toMatchObject({ kind: 'skipped', reason: 'duplicate' });
    expect(rig.model.requests).toHaveLength(5);
    const replaced = await rig.put('incoming/dup.png', Buffer.concat([TINY_PNG, Buffer.from([0])]));
    await handler(replaced, lambdaContext());
    expect(rig.model.requests).toHaveLength(10);
  });

  it('fails the invocation when the result cannot be written', async () => {
    const event = await rig.put('incoming/nowhere.png', TINY_PNG);
    const handler = rig.handlerWith({ OUTPUT_BUCKET: 'no-such-bucket' });
    await expect(handler(event, lambdaContext())).rejects.toMatchObject({ code: 'RESULT_WRITE_FAILED' });
  });

  it('reports an SQS message whose result cannot be written as a batch item failure', async () => {
    const event = await rig.put('incoming/nowhere-sqs.png', TINY_PNG);
    const res = await rig.handlerWith({ OUTPUT_BUCKET: 'no-such-bucket' })(sqsEvent([event]), lambdaContext());
    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-0' }] });
  });
});

describe('logs', () => {
  it('are JSON lines with the key, per-field outcomes, timings and request id, and never the image or the API key', async () => {
    const event = await rig.put('incoming/logs.png', TINY_PNG);
    await rig.handlerWith({ MODEL_API_KEY: 'sk-test-secret-123' })(event, lambdaContext(60_000, 'req-logs'));
    const lines = rig.logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const written = lines.find((l) => l.message === 'result written')!;
    expect(written).toMatchObject({
      requestId: 'req-logs',
      key: 'incoming/logs.png',
      status: 'complete',
      fieldsOk: 5,
      fields: { name: 'ok', tag: 'ok', risk_notice: 'ok', pre_notice: 'ok', suppliers: 'ok' },
    });
    expect(typeof written.durationMs).toBe('number');
    expect(lines.filter((l) => l.message === 'field finished')).toHaveLength(5);
    const all = rig.logLines.join('\n');
    expect(all).not.toContain('sk-test-secret-123');
    expect(all).not.toContain(TINY_PNG.toString('base64').slice(0, 40));
    expect(rig.model.requests[0]!.headers.authorization).toBe('Bearer sk-test-secret-123');
  });
});

describe('checks, confidence and the review flag', () => {
  const written = () =>
    rig.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'result written')!;

  it('checks a clean label, needs no review, and logs both', async () => {
    // Prepare
    const event = await rig.put('incoming/trust-clean.png', TINY_PNG);

    // Act
    await rig.handlerWith()(event, lambdaContext());

    // Assess
    const doc = (await rig.result('results/trust-clean.png.json'))!;
    expect(doc.checks!.summary).toEqual({ errors: 0, warnings: 0, infos: 0, codes: [] });
    expect(Object.keys(doc.checks!.byField)).toEqual(['tag', 'risk_notice', 'pre_notice', 'suppliers']);
    expect(doc.review).toEqual({ needed: false, reasons: [] });
    expect(written()).toMatchObject({ reviewNeeded: false, reviewReasons: [], findings: { error: 0, warning: 0, info: 0 } });
    // Confidences were not asked for.
    expect(rig.model.requests.every((r) => r.body.logprobs === undefined)).toBe(true);
    expect(Object.values(doc.fieldResults).every((r) => !('confidence' in r))).toBe(true);
  });

  it('flags a label whose pictograms lack one its hazards require, keeps its value, and logs the findings', async () => {
    rig.model.setHandler(labelHandler({ tag: () => ({ kind: 'answer', value: ['危险'] }) }));
    const event = await rig.put('incoming/trust-pictogram.png', TINY_PNG);

    await rig.handlerWith()(event, lambdaContext());

    const doc = (await rig.result('results/trust-pictogram.png.json'))!;
    expect(doc.status).toBe('complete');
    expect(doc.fields.tag).toEqual(['危险']);
    expect(doc.review).toEqual({ needed: true, reasons: ['check:GHS_PICTOGRAM_MISSING:tag'] });
    expect(written()).toMatchObject({ reviewNeeded: true, reviewReasons: ['check:GHS_PICTOGRAM_MISSING:tag'], findings: { error: 1, warning: 0, info: 0 } });
  });

  it('with MODEL_LOGPROBS=true records each field’s confidence and flags the one under the threshold', async () => {
    // Prepare: one unlikely token inside the product name's value
    rig.model.setHandler(labelHandler({ name: () => ({ kind: 'answer', value: '乙醇', logprobs: { tokens: { 醇: -1.2 } } }) }));
    const event = await rig.put('incoming/trust-logprobs.png', TINY_PNG);

    // Act
    await rig.handlerWith({ MODEL_LOGPROBS: 'true' })(event, lambdaContext());

    // Assess
    const doc = (await rig.result('results/trust-logprobs.png.json'))!;
    expect(rig.model.requests.every((r) => r.body.logprobs === true)).toBe(true);
    expect(doc.fieldResults.name!.confidence).toBeCloseTo(Math.exp(-1.2), 6);
    for (const name of ['tag', 'risk_notice', 'pre_notice', 'suppliers']) {
      expect(doc.fieldResults[name]!.confidence).toBeCloseTo(Math.exp(-0.0005), 6);
    }
    expect(doc.review).toEqual({ needed: true, reasons: ['confidence:name<0.80'] });
  });

  it('takes the threshold from REVIEW_CONFIDENCE_THRESHOLD', async () => {
    rig.model.setHandler(labelHandler({ name: () => ({ kind: 'answer', value: '乙醇', logprobs: { tokens: { 醇: -1.2 } } }) }));
    const event = await rig.put('incoming/trust-threshold.png', TINY_PNG);

    await rig.handlerWith({ MODEL_LOGPROBS: 'true', REVIEW_CONFIDENCE_THRESHOLD: '0.25' })(event, lambdaContext());

    expect((await rig.result('results/trust-threshold.png.json'))!.review).toEqual({ needed: false, reasons: [] });
  });

  it('records a null confidence when the endpoint sends no log-probabilities, and flags nothing for it', async () => {
    rig.model.setHandler(labelHandler({ name: () => ({ kind: 'answer', value: '乙醇', logprobs: { omit: true } }) }));
    const event = await rig.put('incoming/trust-none.png', TINY_PNG);

    await rig.handlerWith({ MODEL_LOGPROBS: 'true' })(event, lambdaContext());

    const doc = (await rig.result('results/trust-none.png.json'))!;
    expect(doc.fieldResults.name!.confidence).toBeNull();
    expect(doc.review).toEqual({ needed: false, reasons: [] });
  });

  it('names a field whose answer needed the re-ask, and a required field that came back empty', async () => {
    // Prepare
    const fields = [
      { name: 'colour', prompt: 'What colour is the label?', type: 'string[]' },
      { name: 'batch', prompt: 'What is the batch number?', type: 'string', required: true },
    ];
    rig.model.setHandler((r) =>
      r.field === 'colour'
        ? r.attempt === 1
          ? { kind: 'text', content: '{"value": "red"' }
          : { kind: 'answer', value: ['red'] }
        : { kind: 'answer', value: null },
    );
    const event = await rig.put('incoming/trust-reask.png', TINY_PNG);

    // Act
    await rig.handlerWith({ FIELDS: JSON.stringify(fields) })(event, lambdaContext());

    // Assess
    const doc = (await rig.result('results/trust-reask.png.json'))!;
    expect(doc.fieldResults.colour).toMatchObject({ status: 'ok', attempts: 2, reasked: true });
    expect(doc.fieldResults.batch!.error!.code).toBe('ANSWER_MISSING');
    expect(doc.checks).toBeUndefined();
    expect(doc.review).toEqual({ needed: true, reasons: ['missing:batch', 'reask:colour'] });
    expect(written()).toMatchObject({ reviewNeeded: true, reviewReasons: ['missing:batch', 'reask:colour'] });
    expect(written()).not.toHaveProperty('findings');
  });
});

describe('endpoint work: the content cache, cached tokens and cost', () => {
  /** A PNG of its own: the content cache keys on the bytes. */
  const image = (tag: string) => Buffer.concat([TINY_PNG, Buffer.from(tag)]);

  it('answers the same bytes under another key from the content cache, with no model call', async () => {
    // Prepare: the cache on, a first upload answered by the model
    const handler = rig.handlerWith({ CONTENT_CACHE: 'on' });
    const bytes = image('content-cache-1');
    await handler(await rig.put('incoming/cache/first.png', bytes), lambdaContext());
    const asked = rig.model.requests.length;

    // Act
    await handler(await rig.put('incoming/cache/second.png', bytes), lambdaContext());

    // Assess
    const first = await rig.result('results/cache/first.png.json');
    const second = await rig.result('results/cache/second.png.json');
    expect(asked).toBe(5);
    expect(rig.model.requests).toHaveLength(5);
    expect(first!.cache).toEqual({ hit: false });
    expect(second).toMatchObject({ status: 'complete', fields: LABEL_ANSWERS, cache: { hit: true, source: { key: 'incoming/cache/first.png' } } });
    expect(resultDocumentSchema.safeParse(second).success).toBe(true);
    const hitLine = rig.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('content cache hit'));
    expect(hitLine).toMatchObject({ key: 'incoming/cache/second.png', cacheSourceKey: 'incoming/cache/first.png' });
  });

  it('records the cached tokens the endpoint reports, per field and for the document, and prices them', async () => {
    // Prepare: every answer reports 1000 of its 1200 prompt tokens as cached
    rig.model.setHandler((req) => ({
      kind: 'status',
      status: 200,
      body: {
        choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify({ value: LABEL_ANSWERS[req.field as keyof typeof LABEL_ANSWERS] ?? null }) }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1_200, completion_tokens: 20, total_tokens: 1_220, prompt_tokens_details: { cached_tokens: 1_000 } },
      },
    }));
    const handler = rig.handlerWith({
      MODEL_PRICE_INPUT_PER_MTOK: '0.4',
      MODEL_PRICE_CACHED_INPUT_PER_MTOK: '0.1',
      MODEL_PRICE_OUTPUT_PER_MTOK: '1.6',
    });

    // Act
    await handler(await rig.put('incoming/priced.png', image('priced')), lambdaContext());

    // Assess: 5 fields × (200 × 0.4 + 1000 × 0.1 + 20 × 1.6) per million
    const doc = await rig.result('results/priced.png.json');
    expect(doc!.fieldResults.name!.usage).toEqual({ promptTokens: 1_200, completionTokens: 20, cachedTokens: 1_000 });
    expect(doc!.usage).toEqual({ promptTokens: 6_000, completionTokens: 100, cachedTokens: 5_000 });
    expect(doc!.cost).toEqual({ currency: 'USD', input: 0.0004, cachedInput: 0.0005, output: 0.00016, total: 0.00106 });
    const written = rig.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'result written');
    expect(written).toMatchObject({ cost: 0.00106, costCurrency: 'USD', costTotal: 0.00106 });
  });
});
