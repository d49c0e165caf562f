/**
 * The Step Functions tasks' core, without network: the same pieces as
 * direct mode, split into steps.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, FieldSetError } from '../../../functions/core/errors';
import { SNIFF_BYTES } from '../../../functions/core/image';
import { createLimit } from '../../../functions/core/limit';
import { processObject, type DirectDeps } from '../../../functions/core/direct';
import { RESULT_METADATA } from '../../../functions/core/result-writer';
import { type PipelineSettings } from '../../../functions/core/settings';
import type { ResultDocument } from '../../../functions/core/document';
import type { FieldTaskResult, PreparedRun } from '../../../functions/core/stepfunctions/contract';
import { extractFieldRun, mergeRun, prepareRun, recordRunFailure, taskFailureInfo, type StepDeps } from '../../../functions/core/stepfunctions/steps';
import { aReply, FakeClock, FakeModel, finalError, memoryLogger, MemoryStore, PNG_BYTES, stringFields } from '../fakes';

const BUCKET = 'labels';
const FINGERPRINT = 'f'.repeat(64);
const finalResultOf = (etag: string) => ({
  [RESULT_METADATA.sourceEtag]: etag,
  [RESULT_METADATA.fingerprint]: FINGERPRINT,
  [RESULT_METADATA.state]: 'final',
  [RESULT_METADATA.runs]: '1',
});
const forever = { signal: new AbortController().signal, at: Number.MAX_SAFE_INTEGER };
const foreverInvocation = { id: 'request-1', deadline: forever, endsAt: Number.MAX_SAFE_INTEGER - 60_000 };

function aWorld(settings: Partial<PipelineSettings> = {}, model = new FakeModel()) {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const full: DirectDeps = {
    store,
    model,
    clock,
    limit: createLimit(Infinity),
    logger: memoryLogger(),
    settings: { fields: stringFields(3), inputPrefix: 'incoming/', outputPrefix: 'results/', maxImageBytes: 1024, fingerprint: FINGERPRINT, ...settings },
    modelSettings: { timeoutMs: 60_000, maxRetries: 2, maxTokens: 256 },
  };
  const steps: StepDeps = { ...full, modelName: model.modelName };
  return { store, model, clock, full, steps };
}

/** Prepare, one ExtractField per field, Merge: what the state machine does on the happy path. */
async function runSteps(w: ReturnType<typeof aWorld>, key: string): Promise<ResultDocument> {
  const prepared = (await prepareRun(w.steps, { bucket: BUCKET, key })) as PreparedRun;
  const outcomes = await Promise.all(prepared.fields.map((field) => extractFieldRun(w.full, { field, source: prepared.source }, forever)));
  const out = await mergeRun(w.steps, { ...prepared, outcomes });
  return w.store.writes.find((x) => x.ref.key === out.resultKey)!.value as ResultDocument;
}

describe('prepareRun', () => {
  it('returns references only: source (with the sniffed type), result key, field names, start time', async () => {
    // Prepare
    const w = aWorld();
    const etag = w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES, { contentType: 'application/octet-stream' });

    // Act
    const out = await prepareRun(w.steps, { bucket: BUCKET, key: 'incoming/a.png', etag });

    // Assess
    expect(out).toEqual({
      action: 'extract',
      source: { bucket: BUCKET, key: 'incoming/a.png', etag, bytes: PNG_BYTES.length, contentType: 'image/png' },
      resultRef: { bucket: BUCKET, key: 'results/a.png.json' },
      fields: ['f0', 'f1', 'f2'],
      startedAt: new Date(w.clock.now()).toISOString(),
    });
    expect(w.store.reads).toEqual([{ ref: { bucket: BUCKET, key: 'incoming/a.png' }, options: { maxBytes: 1024, etag, firstBytes: SNIFF_BYTES } }]);
    expect(w.store.writes).toHaveLength(0);
  });

  it.each([
    ['an empty object', Buffer.alloc(0), ErrorCode.INPUT_EMPTY],
    ['an object over MAX_IMAGE_BYTES', Buffer.concat([PNG_BYTES, Buffer.alloc(2000)]), ErrorCode.INPUT_TOO_LARGE],
    ['an object that is not an image', Buffer.from('plain text, not an image'), ErrorCode.INPUT_NOT_IMAGE],
  ])('writes a rejected document for %s and ends the run', async (_case, body, code) => {
    const w = aWorld();
    w.store.put({ bucket: BUCKET, key: 'incoming/x.png' }, body);

    const out = await prepareRun(w.steps, { bucket: BUCKET, key: 'incoming/x.png' });

    expect(out).toEqual({ action: 'done', status: 'rejected', resultKey: 'results/x.png.json' });
    const doc = w.store.writes[0]!.value as ResultDocument;
    expect(doc).toMatchObject({ status: 'rejected', error: { code } });
  });

  it('skips a key under the output prefix without touching the store', async () => {
    const w = aWorld();

    const out = await prepareRun(w.steps, { bucket: BUCKET, key: 'results/a.png.json' });

    expect(out).toEqual({ action: 'done', status: 'skipped', reason: 'under-output-prefix' });
    expect(w.store.reads).toHaveLength(0);
  });

  it('skips a version whose result exists, and one that is gone or replaced', async () => {
    const w = aWorld();
    const etag = w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES);
    w.store.put({ bucket: BUCKET, key: 'results/a.png.json' }, Buffer.from('{}'), { metadata: finalResultOf(etag) });

    expect(await prepareRun(w.steps, { bucket: BUCKET, key: 'incoming/a.png', etag })).toMatchObject({ action: 'done', reason: 'duplicate' });
    expect(await prepareRun(w.steps, { bucket: BUCKET, key: 'incoming/a.png', etag: 'older' })).toMatchObject({ reason: 'superseded' });
    expect(await prepareRun(w.steps, { bucket: BUCKET, key: 'incoming/gone.png' })).toMatchObject({ reason: 'not-found' });
  });
});

describe('extractFieldRun', () => {
  it('reads the image only with the ETag Prepare saw, and records a replaced image as OBJECT_NOT_FOUND', async () => {
    const w = aWorld();
    w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES);
    const source = { bucket: BUCKET, key: 'incoming/a.png', etag: 'the-old-version', bytes: PNG_BYTES.length };

    const outcome = await extractFieldRun(w.full, { field: 'f1', source }, forever);

    expect(outcome).toMatchObject({ name: 'f1', value: null, result: { status: 'error', attempts: 0, error: { code: 'OBJECT_NOT_FOUND' } } });
    expect(w.model.calls).toHaveLength(0);
  });

  it('refuses a field the function does not know (functions deployed with different field sets)', async () => {
    const w = aWorld();

    const act = extractFieldRun(w.full, { field: 'colour', source: { bucket: BUCKET, key: 'incoming/a.png', etag: 'e', bytes: 1 } }, forever);

    await expect(act).rejects.toThrow(FieldSetError);
    await expect(act).rejects.toThrow(/field "colour" is not in this function's field set \(f0, f1, f2\)/);
  });
});

describe('the steps together', () => {
  it('write the same document as processObject for the same image and answers', async () => {
    // Prepare: two worlds with the same object and the same scripted answers.
    const script = () => new FakeModel({ f0: [aReply('zero')], f1: [finalError()], f2: [aReply(['a', 'b'])] });
    const direct = aWorld({}, script());
    const steps = aWorld({}, script());
    for (const w of [direct, steps]) w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES, { etag: 'e1' });

    // Act
    const processed = await processObject(direct.full, { bucket: BUCKET, key: 'incoming/a.png' }, foreverInvocation);
    const merged = await runSteps(steps, 'incoming/a.png');

    // Assess: the fake clock does not move, so even the times agree.
    expect(processed.kind).toBe('written');
    expect(merged).toEqual((processed as { document: ResultDocument }).document);
    expect(merged.status).toBe('partial');
  });
});

describe('mergeRun', () => {
  const prepared = {
    source: { bucket: BUCKET, key: 'incoming/a.png', etag: 'e1', bytes: 12, contentType: 'image/png' },
    resultRef: { bucket: BUCKET, key: 'results/a.png.json' },
    startedAt: '2026-01-02T03:04:00.000Z',
  };
  const ok = (name: string): FieldTaskResult => ({ name, value: name.toUpperCase(), result: { status: 'ok', attempts: 1, latencyMs: 5 } });

  it('counts a failed task as that field\'s TASK_FAILED error and keeps the other fields', async () => {
    const w = aWorld();
    w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES, { etag: 'e1' });
    const crashed: FieldTaskResult = { name: 'f1', taskError: { Error: 'Sandbox.Timedout', Cause: '{"errorMessage":"Task timed out after 300.00 seconds"}' } };

    const out = await mergeRun(w.steps, { ...prepared, outcomes: [ok('f0'), crashed, ok('f2')] });

    // A crashed task is a passing failure: the document is retryable.
    expect(out).toEqual({ status: 'partial', retryable: true, resultBucket: BUCKET, resultKey: 'results/a.png.json' });
    const doc = w.store.writes[0]!.value as ResultDocument;
    expect(doc.fields).toEqual({ f0: 'F0', f1: null, f2: 'F2' });
    expect(doc.fieldResults.f1!.error).toEqual({ code: 'TASK_FAILED', message: 'Sandbox.Timedout: Task timed out after 300.00 seconds' });
    expect(doc.startedAt).toBe(prepared.startedAt);
    expect(w.store.writes[0]!.metadata).toMatchObject({ [RESULT_METADATA.sourceEtag]: 'e1', [RESULT_METADATA.fingerprint]: FINGERPRINT });
  });

  it('writes nothing when a field found the image gone, as direct mode does', async () => {
    const w = aWorld();
    const gone: FieldTaskResult = {
      name: 'f1',
      value: null,
      result: { status: 'error', attempts: 0, latencyMs: 0, error: { code: 'OBJECT_NOT_FOUND', message: 'gone' } },
    };

    const out = await mergeRun(w.steps, { ...prepared, outcomes: [ok('f0'), gone] });

    expect(out).toEqual({ status: 'skipped', reason: 'not-found', resultKey: 'results/a.png.json' });
    expect(w.store.writes).toHaveLength(0);
  });
});

describe('recordRunFailure', () => {
  const failure = { Error: 'Lambda.Unknown', Cause: 'The cause could not be determined because Lambda did not return an error type.' };

  it('writes the failed document from the execution input when Prepare never answered', async () => {
    const w = aWorld();
    w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES, { etag: 'e1' });

    const out = await recordRunFailure(w.steps, {
      run: { bucket: BUCKET, key: 'incoming/a.png', etag: 'e1', size: 12, failure },
      executionStartedAt: '2026-01-02T03:00:00.000Z',
    });

    expect(out).toEqual({ status: 'failed', retryable: true, resultBucket: BUCKET, resultKey: 'results/a.png.json' });
    const doc = w.store.writes[0]!.value as ResultDocument;
    expect(doc).toMatchObject({
      status: 'failed',
      source: { bucket: BUCKET, key: 'incoming/a.png', etag: 'e1', bytes: 12 },
      error: { code: 'TASK_FAILED', message: `Lambda.Unknown: ${failure.Cause}` },
      startedAt: '2026-01-02T03:00:00.000Z',
    });
    expect(Object.keys(doc.fieldResults)).toEqual(['f0', 'f1', 'f2']);
  });

  it('uses Prepare\'s references when it answered (result key, sniffed type, field list)', async () => {
    const w = aWorld({ outputPrefix: 'out/' });
    w.store.put({ bucket: BUCKET, key: 'incoming/a.png' }, PNG_BYTES, { etag: 'e1' });
    const prepared: PreparedRun = {
      action: 'extract',
      source: { bucket: BUCKET, key: 'incoming/a.png', etag: 'e1', bytes: 12, contentType: 'image/png' },
      resultRef: { bucket: 'other', key: 'out/a.png.json' },
      fields: ['f0'],
      startedAt: '2026-01-02T03:01:00.000Z',
    };

    await recordRunFailure(w.steps, { run: { bucket: BUCKET, key: 'incoming/a.png', prepared: { ...prepared, fields: [...prepared.fields] }, failure } });

    expect(w.store.writes[0]!.ref).toEqual({ bucket: 'other', key: 'out/a.png.json' });
    expect(w.store.writes[0]!.value).toMatchObject({ source: prepared.source, fields: { f0: null }, startedAt: prepared.startedAt });
  });

  it('never overwrites a result already written for this object version', async () => {
    const w = aWorld();
    w.store.put({ bucket: BUCKET, key: 'results/a.png.json' }, Buffer.from('{}'), { metadata: finalResultOf('e1') });

    const out = await recordRunFailure(w.steps, { run: { bucket: BUCKET, key: 'incoming/a.png', etag: 'e1', failure } });

    expect(out).toMatchObject({ status: 'skipped', reason: 'duplicate' });
    expect(w.store.writes).toHaveLength(0);
  });

  it('never writes for a key the pipeline does not own', async () => {
    const w = aWorld();

    const out = await recordRunFailure(w.steps, { run: { bucket: BUCKET, key: 'results/a.png.json', failure } });

    expect(out).toEqual({ status: 'skipped', reason: 'under-output-prefix' });
    expect(w.store.writes).toHaveLength(0);
  });
});

describe('taskFailureInfo', () => {
  it('keeps only the message of a Lambda error, never its stack trace', () => {
    const cause = JSON.stringify({ errorType: 'TypeError', errorMessage: 'x is undefined', trace: ['at a (index.mjs:1:1)'] });

    expect(taskFailureInfo({ Error: 'TypeError', Cause: cause })).toEqual({ code: 'TASK_FAILED', message: 'TypeError: x is undefined' });
  });

  it('keeps a plain-text cause as it is, and names the error when there is no cause', () => {
    expect(taskFailureInfo({ Error: 'States.Timeout', Cause: 'Task timed out.' }).message).toBe('States.Timeout: Task timed out.');
    expect(taskFailureInfo({ Error: 'States.Timeout' }).message).toBe('States.Timeout');
    expect(taskFailureInfo({}).message).toBe('States.TaskFailed');
  });

  it('cuts a very long cause to 1000 characters', () => {
    expect(taskFailureInfo({ Error: 'E', Cause: 'x'.repeat(5000) }).message).toHaveLength(1000);
  });
});
