/**
 * The Step Functions tasks' core, without network: the same pieces as
 * direct mode, split into steps, with the field outcomes passed by
 * reference through the in-memory store.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, FieldSetError } from '../../../functions/core/errors';
import { SNIFF_BYTES } from '../../../functions/core/image';
import { fieldPartRefFor } from '../../../functions/core/keys';
import { createLimit } from '../../../functions/core/limit';
import { processObject, type DirectDeps } from '../../../functions/core/direct';
import { RESULT_METADATA } from '../../../functions/core/result-writer';
import { type PipelineSettings } from '../../../functions/core/settings';
import type { ResultDocument } from '../../../functions/core/document';
import type { FieldTaskResult, MergeInput, PreparedRun, RunInput, RunResult } from '../../../functions/core/stepfunctions/contract';
import {
  extractFieldRun,
  mergeRun,
  prepareRun,
  recordFieldFailure,
  recordRunFailure,
  taskFailureInfo,
  type StepDeps,
} from '../../../functions/core/stepfunctions/steps';
import { aReply, FakeClock, FakeModel, finalError, memoryLogger, MemoryStore, PNG_BYTES, retryableError, stringFields } from '../fakes';

const BUCKET = 'labels';
const FINGERPRINT = 'f'.repeat(64);
const IMAGE = { bucket: BUCKET, key: 'incoming/a.png' };
const RESULT = { bucket: BUCKET, key: 'results/a.png.json' };
const finalResultOf = (etag: string) => ({
  [RESULT_METADATA.sourceEtag]: etag,
  [RESULT_METADATA.fingerprint]: FINGERPRINT,
  [RESULT_METADATA.state]: 'final',
  [RESULT_METADATA.runs]: '1',
});
const forever = { signal: new AbortController().signal, at: Number.MAX_SAFE_INTEGER };
const foreverInvocation = { id: 'request-1', deadline: forever, endsAt: Number.MAX_SAFE_INTEGER - 60_000 };

function aWorld(settings: Partial<PipelineSettings> = {}, model = new FakeModel(), store = new MemoryStore()) {
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
type World = ReturnType<typeof aWorld>;

/** The documents written (field parts and leases left out). */
const documents = (w: World) => w.store.writes.filter((x) => x.ref.key.endsWith('.json'));
/** The field parts currently stored. */
const storedParts = (w: World) => [...w.store.objects.keys()].filter((k) => k.includes('/.fieldlens/parts/'));

/** A document without its times. */
function timeless(doc: ResultDocument): unknown {
  const { startedAt: _s, finishedAt: _f, durationMs: _d, ...rest } = doc;
  return { ...rest, fieldResults: Object.fromEntries(Object.entries(doc.fieldResults).map(([k, { latencyMs: _l, ...r }]) => [k, r])) };
}

/** What the Map hands Merge, from Prepare's answer. */
const mergeInputOf = (p: PreparedRun, outcomes: readonly FieldTaskResult[]): MergeInput => ({
  source: p.source,
  resultRef: p.resultRef,
  resultEtag: p.resultEtag,
  startedAt: p.startedAt,
  runs: p.runs,
  kept: p.kept,
  outcomes,
  cache: p.cache,
});

/** Prepare, one ExtractField per field to ask, Merge: what the state machine does on the happy path. */
async function runSteps(w: World, input: RunInput = IMAGE): Promise<{ prepared: PreparedRun; out: RunResult; doc: ResultDocument }> {
  const prepared = (await prepareRun(w.steps, input)) as PreparedRun;
  expect(prepared.action).toBe('extract');
  const outcomes = await Promise.all(
    prepared.fields.map((field) => extractFieldRun(w.full, { field, source: prepared.source, runs: prepared.runs }, forever)),
  );
  const out = await mergeRun(w.steps, mergeInputOf(prepared, outcomes));
  const doc = JSON.parse(w.store.objects.get(`${RESULT.bucket}/${RESULT.key}`)!.body.toString('utf8')) as ResultDocument;
  return { prepared, out, doc };
}

describe('prepareRun', () => {
  it('returns references only: source (with the sniffed type), result key, the fields to ask, the run number, start time', async () => {
    // Prepare
    const w = aWorld();
    const etag = w.store.put(IMAGE, PNG_BYTES, { contentType: 'application/octet-stream' });

    // Act
    const out = await prepareRun(w.steps, { ...IMAGE, etag });

    // Assess
    expect(out).toEqual({
      action: 'extract',
      source: { ...IMAGE, etag, bytes: PNG_BYTES.length, contentType: 'image/png' },
      resultRef: RESULT,
      resultEtag: null,
      fields: ['f0', 'f1', 'f2'],
      kept: [],
      runs: 1,
      startedAt: new Date(w.clock.now()).toISOString(),
      cache: null,
    });
    expect(w.store.reads).toEqual([{ ref: IMAGE, options: { maxBytes: 1024, etag, firstBytes: SNIFF_BYTES } }]);
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

  it('skips a version whose final result exists (duplicate), one replaced since the event (superseded), and one gone', async () => {
    const w = aWorld();
    const etag = w.store.put(IMAGE, PNG_BYTES);
    w.store.put(RESULT, Buffer.from('{}'), { metadata: finalResultOf(etag) });

    expect(await prepareRun(w.steps, { ...IMAGE, etag })).toMatchObject({ action: 'done', reason: 'duplicate' });
    expect(await prepareRun(w.steps, { ...IMAGE, etag: 'older' })).toMatchObject({ reason: 'superseded' });
    expect(await prepareRun(w.steps, { bucket: BUCKET, key: 'incoming/gone.png' })).toMatchObject({ reason: 'not-found' });
  });

  it('resumes a retryable document: only its failed fields are asked, the good ones kept, the run counted', async () => {
    // Prepare: a first run in which f1 failed for a passing reason.
    const w = aWorld({}, new FakeModel({ f1: [retryableError(), retryableError(), retryableError(), aReply('one')] }));
    const etag = w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const first = await runSteps(w, { ...IMAGE, etag });
    expect(first.doc).toMatchObject({ status: 'partial', retryable: true, runs: 1 });

    // Act: the next event, named after generation 1.
    const out = (await prepareRun(w.steps, { ...IMAGE, etag, generation: 1 })) as PreparedRun;

    // Assess
    expect(out).toMatchObject({ action: 'extract', fields: ['f1'], kept: ['f0', 'f2'], runs: 2 });
    expect(out.resultEtag).toBe(w.store.objects.get(`${BUCKET}/${RESULT.key}`)!.etag);
  });

  it('recomputes every field when the configuration changed (another fingerprint), even over a final result', async () => {
    const w = aWorld({ fingerprint: 'a'.repeat(64) });
    const etag = w.store.put(IMAGE, PNG_BYTES);
    w.store.put(RESULT, Buffer.from('{}'), { metadata: finalResultOf(etag) });

    const out = await prepareRun(w.steps, { ...IMAGE, etag });

    expect(out).toMatchObject({ action: 'extract', fields: ['f0', 'f1', 'f2'], kept: [], runs: 1 });
  });

  it('counts the run one past the generation it was named after, even when the stored document cannot be read back', async () => {
    // Prepare: metadata says "retryable after 4 runs", the body is not a document.
    const w = aWorld();
    const etag = w.store.put(IMAGE, PNG_BYTES);
    w.store.put(RESULT, Buffer.from('not json'), {
      metadata: { ...finalResultOf(etag), [RESULT_METADATA.state]: 'retryable', [RESULT_METADATA.runs]: '4' },
    });

    // Act
    const out = await prepareRun(w.steps, { ...IMAGE, etag, generation: 4 });

    // Assess: everything is asked again, and the run is the fifth.
    expect(out).toMatchObject({ fields: ['f0', 'f1', 'f2'], kept: [], runs: 5 });
  });
});

describe('extractFieldRun', () => {
  it("writes the field's outcome as a part under the output prefix and returns only where it is", async () => {
    // Prepare
    const w = aWorld({}, new FakeModel({ f1: [aReply('one')] }));
    const etag = w.store.put(IMAGE, PNG_BYTES);
    const source = { ...IMAGE, etag, bytes: PNG_BYTES.length };

    // Act
    const out = await extractFieldRun(w.full, { field: 'f1', source, runs: 3 }, forever);

    // Assess
    const ref = fieldPartRefFor({ source, fingerprint: FINGERPRINT, runs: 3 }, 'f1', w.full.settings);
    expect(ref.key).toMatch(new RegExp(`^results/\\.fieldlens/parts/[0-9a-f]{64}/${etag}-${FINGERPRINT.slice(0, 16)}-3/f1\\.part$`));
    expect(out).toEqual({ name: 'f1', status: 'ok', ref });
    expect(JSON.parse(w.store.objects.get(`${ref.bucket}/${ref.key}`)!.body.toString('utf8'))).toMatchObject({
      name: 'f1',
      value: 'one',
      result: { status: 'ok', attempts: 1 },
    });
    expect(JSON.stringify(out)).not.toContain('one');
  });

  it('reads the image only with the ETag Prepare saw, and records a replaced image as OBJECT_NOT_FOUND', async () => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES);
    const source = { ...IMAGE, etag: 'the-old-version', bytes: PNG_BYTES.length };

    const out = await extractFieldRun(w.full, { field: 'f1', source, runs: 1 }, forever);

    expect(out).toMatchObject({ name: 'f1', status: 'error' });
    const part = JSON.parse(w.store.objects.get(`${out.ref.bucket}/${out.ref.key}`)!.body.toString('utf8'));
    expect(part).toMatchObject({ value: null, result: { status: 'error', attempts: 0, error: { code: 'OBJECT_NOT_FOUND' } } });
    expect(w.model.calls).toHaveLength(0);
  });

  it('refuses a field the function does not know (functions deployed with different field sets)', async () => {
    const w = aWorld();

    const act = extractFieldRun(w.full, { field: 'colour', source: { ...IMAGE, etag: 'e', bytes: 1 }, runs: 1 }, forever);

    await expect(act).rejects.toThrow(FieldSetError);
    await expect(act).rejects.toThrow(/field "colour" is not in this function's field set \(f0, f1, f2\)/);
  });
});

describe('the steps together', () => {
  it('write the same document as processObject for the same image and answers, and leave no part behind', async () => {
    // Prepare: two worlds with the same object and the same scripted answers.
    const script = () => new FakeModel({ f0: [aReply('zero')], f1: [finalError()], f2: [aReply(['a', 'b'])] });
    const direct = aWorld({}, script());
    const steps = aWorld({}, script());
    for (const w of [direct, steps]) w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });

    // Act
    const processed = await processObject(direct.full, IMAGE, foreverInvocation);
    const { doc } = await runSteps(steps);

    // Assess: the fake clock does not move, so even the times agree.
    expect(processed.kind).toBe('written');
    expect(doc).toEqual((processed as { document: ResultDocument }).document);
    expect(doc.status).toBe('partial');
    expect(storedParts(steps)).toEqual([]);
  });

  it('resume a retryable document as processObject does: only the failed field asked again, the same document', async () => {
    // Prepare: f1 fails for a passing reason in the first run, then answers.
    const script = () =>
      new FakeModel({ f0: [aReply('zero')], f1: [retryableError(), retryableError(), retryableError(), aReply('one')], f2: [aReply('two')] });
    const direct = aWorld({}, script());
    const steps = aWorld({}, script());
    for (const w of [direct, steps]) w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    await processObject(direct.full, IMAGE, foreverInvocation);
    const first = await runSteps(steps, { ...IMAGE, etag: 'e1', generation: 0 });
    const callsAfterFirst = steps.model.calls.length;

    // Act
    const again = await processObject(direct.full, IMAGE, foreverInvocation);
    const second = await runSteps(steps, { ...IMAGE, etag: 'e1', generation: first.doc.runs });

    // Assess
    expect(second.doc).toMatchObject({ status: 'complete', retryable: false, runs: 2, fields: { f0: 'zero', f1: 'one', f2: 'two' } });
    expect(steps.model.calls.slice(callsAfterFirst).map((c) => c.request.schemaName)).toEqual(['f1']);
    // The retries' waits move each world's clock by its own jitter: compare without the times.
    expect(timeless(second.doc)).toEqual(timeless((again as { document: ResultDocument }).document));
  });
});

describe('the steps with the content cache and prices', () => {
  const CACHE = { prefix: 'results/.fieldlens/cache/' };
  const PRICES = { currency: 'USD', inputPerMillion: 0.4, cachedInputPerMillion: 0.1, outputPerMillion: 1.6 };
  const usage = { promptTokens: 1_000, completionTokens: 10, cachedTokens: 800 };
  const script = () => new FakeModel({ f0: [aReply('zero', { usage })], f1: [aReply('one', { usage })], f2: [aReply('two', { usage })] });
  const SECOND = { bucket: BUCKET, key: 'incoming/copy.png' };
  const SECOND_RESULT = `${BUCKET}/results/copy.png.json`;

  it('write the same document as processObject (cost, cache miss), then answer the same bytes under another key from the cache', async () => {
    // Prepare: two worlds, the cache and prices on in both
    const direct = aWorld({ contentCache: CACHE, prices: PRICES }, script());
    const steps = aWorld({ contentCache: CACHE, prices: PRICES }, script());
    for (const w of [direct, steps]) {
      w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
      w.store.put(SECOND, PNG_BYTES, { etag: 'e2' });
    }

    // Act: the first image through each mode, then its copy
    const processed = await processObject(direct.full, IMAGE, foreverInvocation);
    const { prepared, doc } = await runSteps(steps);
    const copyDirect = await processObject(direct.full, SECOND, foreverInvocation);
    const copySteps = await prepareRun(steps.steps, SECOND);

    // Assess: Prepare hashed the image once, Merge stored the entry after the document
    expect(prepared.cache).toEqual({ digest: expect.stringMatching(/^[0-9a-f]{64}$/), replace: false });
    expect(doc).toEqual((processed as { document: ResultDocument }).document);
    expect(doc.cache).toEqual({ hit: false });
    expect(doc.status).toBe('complete');
    expect(doc.cost).toMatchObject({ currency: 'USD', total: expect.any(Number) });
    expect(doc.cost!.total).toBeCloseTo(3 * (200 * 0.4 + 800 * 0.1 + 10 * 1.6) / 1e6, 12);
    const entries = [...steps.store.objects.keys()].filter((k) => k.includes('/.fieldlens/cache/'));
    expect(entries).toHaveLength(1);
    // The copy: a complete document from Prepare alone, no model call, the same as direct mode's
    expect(copySteps).toEqual({ action: 'done', status: 'complete', resultKey: 'results/copy.png.json' });
    expect(steps.model.calls).toHaveLength(3);
    const copyDoc = JSON.parse(steps.store.objects.get(SECOND_RESULT)!.body.toString('utf8')) as ResultDocument;
    expect(copyDoc).toMatchObject({ status: 'complete', fields: { f0: 'zero', f1: 'one', f2: 'two' }, cache: { hit: true, source: { key: IMAGE.key } } });
    expect(copyDoc).toEqual((copyDirect as { document: ResultDocument }).document);
  });

  it('store the entry beside the deletion of the field parts, after the document', async () => {
    // Prepare: the entry's write answers late; note how many parts were deleted meanwhile
    const w = aWorld({ contentCache: CACHE }, script());
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const putJson = w.store.putJson.bind(w.store);
    const partsDeletedWhileStoring: number[] = [];
    w.store.putJson = async (ref, value, metadata, options) => {
      if (ref.key.includes('/.fieldlens/cache/')) {
        await new Promise((r) => setTimeout(r, 20));
        partsDeletedWhileStoring.push(w.store.deletes.filter((d) => d.key.includes('/.fieldlens/parts/')).length);
      }
      return putJson(ref, value, metadata, options);
    };

    // Act
    const { doc } = await runSteps(w);

    // Assess
    expect(doc.status).toBe('complete');
    expect(partsDeletedWhileStoring).toEqual([3]);
    const keys = w.store.writes.map((x) => x.ref.key);
    const entry = keys.findIndex((k) => k.includes('/.fieldlens/cache/'));
    expect(entry).toBeGreaterThan(keys.indexOf(RESULT.key));
  });

  it('store no entry for a partial document, so its copy is asked again', async () => {
    // Prepare
    const w = aWorld({ contentCache: CACHE }, new FakeModel({ f0: [aReply('zero'), aReply('zero')], f1: [finalError(), aReply('one')], f2: [aReply('two'), aReply('two')] }));
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    w.store.put(SECOND, PNG_BYTES, { etag: 'e2' });

    // Act
    const first = await runSteps(w);
    const copy = await prepareRun(w.steps, SECOND);

    // Assess
    expect(first.doc.status).toBe('partial');
    expect([...w.store.objects.keys()].filter((k) => k.includes('/.fieldlens/cache/'))).toEqual([]);
    expect(copy).toMatchObject({ action: 'extract', fields: ['f0', 'f1', 'f2'], cache: { replace: false } });
  });
});

describe('mergeRun', () => {
  const source = { ...IMAGE, etag: 'e1', bytes: 12, contentType: 'image/png' };
  const base = { source, resultRef: RESULT, resultEtag: null, startedAt: '2026-01-02T03:04:00.000Z', runs: 1, kept: [] };
  const partRef = (w: World, name: string, runs = 1) => fieldPartRefFor({ source, fingerprint: FINGERPRINT, runs }, name, w.steps.settings);
  const writePart = (w: World, name: string, body: unknown, runs = 1): FieldTaskResult => {
    const ref = partRef(w, name, runs);
    w.store.put(ref, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    return { name, status: 'ok', ref };
  };
  const okPart = (w: World, name: string) => writePart(w, name, { name, value: name.toUpperCase(), result: { status: 'ok', attempts: 1, latencyMs: 5 } });

  it('reads every field back from its part, writes the document and deletes the parts', async () => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });

    const out = await mergeRun(w.steps, { ...base, outcomes: ['f0', 'f1', 'f2'].map((f) => okPart(w, f)) });

    expect(out).toEqual({ status: 'complete', retryable: false, resultBucket: BUCKET, resultKey: RESULT.key });
    expect(documents(w)[0]!.value).toMatchObject({ fields: { f0: 'F0', f1: 'F1', f2: 'F2' }, runs: 1 });
    expect(storedParts(w)).toEqual([]);
  });

  it("counts a failed task as that field's TASK_FAILED error and keeps the other fields", async () => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const crashed: FieldTaskResult = { name: 'f1', taskError: { Error: 'Sandbox.Timedout', Cause: '{"errorMessage":"Task timed out after 300.00 seconds"}' } };

    const out = await mergeRun(w.steps, { ...base, outcomes: [okPart(w, 'f0'), crashed, okPart(w, 'f2')] });

    // A crashed task is a passing failure: the document is retryable.
    expect(out).toEqual({ status: 'partial', retryable: true, resultBucket: BUCKET, resultKey: RESULT.key });
    const doc = documents(w)[0]!.value as ResultDocument;
    expect(doc.fields).toEqual({ f0: 'F0', f1: null, f2: 'F2' });
    expect(doc.fieldResults.f1!.error).toEqual({ code: 'TASK_FAILED', message: 'Sandbox.Timedout: Task timed out after 300.00 seconds' });
    expect(doc.startedAt).toBe(base.startedAt);
    expect(documents(w)[0]!.metadata).toMatchObject({ [RESULT_METADATA.sourceEtag]: 'e1', [RESULT_METADATA.fingerprint]: FINGERPRINT });
  });

  it.each([
    ['missing', (w: World) => ({ name: 'f1', status: 'ok', ref: partRef(w, 'f1') }) as FieldTaskResult, /missing/],
    ['not JSON', (w: World) => writePart(w, 'f1', 'not json'), /not JSON/],
    ['not a valid outcome', (w: World) => writePart(w, 'f1', { name: 'f1', value: 1, result: { status: 'error' } }), /not a valid outcome/],
    ['for another field', (w: World) => writePart(w, 'f1', { name: 'f2', value: 1, result: { status: 'ok', attempts: 1, latencyMs: 1 } }), /not a valid outcome/],
    ['reported at another key', (w: World) => ({ name: 'f1', status: 'ok', ref: { bucket: BUCKET, key: 'results/elsewhere.part' } }) as FieldTaskResult, /not at its own key/],
  ])('records a part that is %s as TASK_FAILED (retryable) and keeps the other fields', async (_case, part, message) => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });

    const out = await mergeRun(w.steps, { ...base, outcomes: [okPart(w, 'f0'), part(w), okPart(w, 'f2')] });

    expect(out).toMatchObject({ status: 'partial', retryable: true });
    const doc = documents(w)[0]!.value as ResultDocument;
    expect(doc.fields).toEqual({ f0: 'F0', f1: null, f2: 'F2' });
    expect(doc.fieldResults.f1!.error).toMatchObject({ code: 'TASK_FAILED', message: expect.stringMatching(message) });
  });

  it('reads the kept fields from the retryable document Prepare saw, by its ETag', async () => {
    // Prepare: a first run with f1 failed, then Prepare of the second run.
    const w = aWorld({}, new FakeModel({ f0: [aReply('zero')], f1: [retryableError(), retryableError(), retryableError(), aReply('one')], f2: [aReply('two')] }));
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    await runSteps(w, { ...IMAGE, etag: 'e1' });
    const prepared = (await prepareRun(w.steps, { ...IMAGE, etag: 'e1', generation: 1 })) as PreparedRun;
    const f1 = await extractFieldRun(w.full, { field: 'f1', source: prepared.source, runs: prepared.runs }, forever);

    // Act
    const out = await mergeRun(w.steps, mergeInputOf(prepared, [f1]));

    // Assess
    expect(out).toMatchObject({ status: 'complete', retryable: false });
    expect(w.store.reads.filter((r) => r.ref.key === RESULT.key).at(-1)!.options).toMatchObject({ etag: prepared.resultEtag });
  });

  it('fails the kept fields (TASK_FAILED, asked again next run) when the document changed since Prepare', async () => {
    // Prepare: as above, but the document is rewritten between Prepare and Merge.
    const w = aWorld({}, new FakeModel({ f1: [retryableError(), retryableError(), retryableError(), aReply('one')] }));
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    await runSteps(w, { ...IMAGE, etag: 'e1' });
    const prepared = (await prepareRun(w.steps, { ...IMAGE, etag: 'e1', generation: 1 })) as PreparedRun;
    const f1 = await extractFieldRun(w.full, { field: 'f1', source: prepared.source, runs: prepared.runs }, forever);
    const stored = w.store.objects.get(`${BUCKET}/${RESULT.key}`)!;
    w.store.put(RESULT, stored.body, { metadata: stored.metadata });

    // Act
    const out = await mergeRun(w.steps, mergeInputOf(prepared, [f1]));

    // Assess: f1 answered; the kept ones are failed, and the conditional write still lands on the new ETag.
    expect(out).toMatchObject({ status: 'partial', retryable: true });
    const doc = JSON.parse(w.store.objects.get(`${BUCKET}/${RESULT.key}`)!.body.toString('utf8')) as ResultDocument;
    expect(doc.fields.f1).toBe('one');
    expect(doc.fieldResults.f0!.error).toMatchObject({ code: 'TASK_FAILED', message: expect.stringMatching(/document changed/) });
  });

  it('writes nothing when a field found the image gone, as direct mode does, and still deletes the parts', async () => {
    const w = aWorld();
    const gone = writePart(w, 'f1', { name: 'f1', value: null, result: { status: 'error', attempts: 0, latencyMs: 0, error: { code: 'OBJECT_NOT_FOUND', message: 'gone' } } });

    const out = await mergeRun(w.steps, { ...base, outcomes: [okPart(w, 'f0'), gone] });

    expect(out).toEqual({ status: 'skipped', retryable: false, reason: 'not-found', resultKey: RESULT.key });
    expect(documents(w)).toHaveLength(0);
    expect(storedParts(w)).toEqual([]);
  });

  it('writes nothing when the image was replaced since Prepare (a newer version supersedes)', async () => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e2' });

    const out = await mergeRun(w.steps, { ...base, outcomes: ['f0', 'f1', 'f2'].map((f) => okPart(w, f)) });

    expect(out).toMatchObject({ status: 'skipped', reason: 'superseded' });
    expect(documents(w)).toHaveLength(0);
  });

  it('leaves the document alone when it already counts this run (Merge ran before, its answer lost)', async () => {
    // Prepare: this run's document is written, its parts deleted.
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const input = { ...base, outcomes: ['f0', 'f1', 'f2'].map((f) => okPart(w, f)) };
    await mergeRun(w.steps, { ...input, outcomes: [okPart(w, 'f0'), { name: 'f1', taskError: { Error: 'E' } }, okPart(w, 'f2')] });
    const before = w.store.objects.get(`${BUCKET}/${RESULT.key}`)!.etag;

    // Act: the same Merge again, its parts gone.
    const out = await mergeRun(w.steps, input);

    // Assess
    expect(out).toMatchObject({ status: 'skipped', reason: 'duplicate' });
    expect(w.store.objects.get(`${BUCKET}/${RESULT.key}`)!.etag).toBe(before);
  });
});

describe('recordFieldFailure', () => {
  it("writes a crashed task's error as the field's part, which Merge records as TASK_FAILED", async () => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const source = { ...IMAGE, etag: 'e1', bytes: 12 };
    const cause = JSON.stringify({ errorType: 'TypeError', errorMessage: 'x is undefined', trace: ['at a (index.mjs:1:1)'] });

    const ref = await recordFieldFailure(w.steps, { fieldFailure: { field: 'f1', source, runs: 1, taskError: { Error: 'TypeError', Cause: cause } } });
    const out = await mergeRun(w.steps, { source, resultRef: RESULT, startedAt: '2026-01-02T03:04:00.000Z', runs: 1, kept: [], outcomes: [ref] });

    expect(ref).toMatchObject({ name: 'f1', status: 'error' });
    expect(out).toMatchObject({ status: 'failed', retryable: true });
    const doc = documents(w)[0]!.value as ResultDocument;
    expect(doc.fieldResults.f1!.error).toEqual({ code: 'TASK_FAILED', message: 'TypeError: x is undefined' });
  });
});

describe('recordRunFailure', () => {
  const failure = { Error: 'Lambda.Unknown', Cause: 'The cause could not be determined because Lambda did not return an error type.' };

  it('writes the failed document from the execution input when Prepare never answered', async () => {
    const w = aWorld();
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });

    const out = await recordRunFailure(w.steps, {
      run: { ...IMAGE, etag: 'e1', size: 12, failure },
      executionStartedAt: '2026-01-02T03:00:00.000Z',
    });

    expect(out).toEqual({ status: 'failed', retryable: true, resultBucket: BUCKET, resultKey: RESULT.key });
    const doc = documents(w)[0]!.value as ResultDocument;
    expect(doc).toMatchObject({
      status: 'failed',
      source: { ...IMAGE, etag: 'e1', bytes: 12 },
      error: { code: 'TASK_FAILED', message: `Lambda.Unknown: ${failure.Cause}` },
      startedAt: '2026-01-02T03:00:00.000Z',
      runs: 1,
    });
    expect(Object.keys(doc.fieldResults)).toEqual(['f0', 'f1', 'f2']);
  });

  it("uses Prepare's references when it answered (result key, sniffed type, run number) and deletes the run's parts", async () => {
    const w = aWorld({ outputPrefix: 'out/' });
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const prepared: PreparedRun = {
      action: 'extract',
      source: { ...IMAGE, etag: 'e1', bytes: 12, contentType: 'image/png' },
      resultRef: { bucket: 'other', key: 'out/a.png.json' },
      resultEtag: null,
      fields: ['f0'],
      kept: [],
      runs: 3,
      startedAt: '2026-01-02T03:01:00.000Z',
      cache: null,
    };
    const part = fieldPartRefFor({ source: prepared.source, fingerprint: FINGERPRINT, runs: 3 }, 'f0', w.steps.settings);
    w.store.put(part, Buffer.from('{}'));

    await recordRunFailure(w.steps, {
      run: { ...IMAGE, prepared: { ...prepared, fields: [...prepared.fields], kept: [] }, failure },
    });

    expect(documents(w)[0]!.ref).toEqual({ bucket: 'other', key: 'out/a.png.json' });
    expect(documents(w)[0]!.value).toMatchObject({ source: prepared.source, fields: { f0: null }, startedAt: prepared.startedAt, runs: 3 });
    expect(w.store.deletes).toContainEqual(part);
  });

  it('keeps the good fields of a retryable document of this version and counts one more run', async () => {
    // Prepare: a partial retryable document from a first run.
    const w = aWorld({}, new FakeModel({ f1: [retryableError(), retryableError(), retryableError()] }));
    w.store.put(IMAGE, PNG_BYTES, { etag: 'e1' });
    const first = await runSteps(w, { ...IMAGE, etag: 'e1' });

    // Act: the second run's Prepare breaks.
    const out = await recordRunFailure(w.steps, { run: { ...IMAGE, etag: 'e1', size: PNG_BYTES.length, generation: 1, failure } });

    // Assess
    expect(out).toMatchObject({ status: 'partial', retryable: true });
    const doc = JSON.parse(w.store.objects.get(`${BUCKET}/${RESULT.key}`)!.body.toString('utf8')) as ResultDocument;
    expect(doc.fields).toEqual({ ...first.doc.fields });
    expect(doc.fieldResults.f1!.error).toMatchObject({ code: 'TASK_FAILED' });
    expect(doc.runs).toBe(2);
  });

  it('never overwrites a final result for this version and configuration, nor one this run already wrote', async () => {
    const w = aWorld();
    w.store.put(RESULT, Buffer.from('{}'), { metadata: finalResultOf('e1') });
    w.store.put({ bucket: BUCKET, key: 'results/b.png.json' }, Buffer.from('{}'), {
      metadata: { ...finalResultOf('e1'), [RESULT_METADATA.state]: 'retryable', [RESULT_METADATA.runs]: '2' },
    });
    const preparedB: PreparedRun = {
      action: 'extract',
      source: { bucket: BUCKET, key: 'incoming/b.png', etag: 'e1', bytes: 12 },
      resultRef: { bucket: BUCKET, key: 'results/b.png.json' },
      resultEtag: 'r1',
      fields: ['f0'],
      kept: [],
      runs: 2,
      startedAt: '2026-01-02T03:01:00.000Z',
      cache: null,
    };

    const final = await recordRunFailure(w.steps, { run: { ...IMAGE, etag: 'e1', failure } });
    const ownRun = await recordRunFailure(w.steps, { run: { bucket: BUCKET, key: 'incoming/b.png', prepared: { ...preparedB, fields: ['f0'], kept: [] }, failure } });

    expect(final).toMatchObject({ status: 'skipped', reason: 'duplicate' });
    expect(ownRun).toMatchObject({ status: 'skipped', reason: 'duplicate' });
    expect(documents(w)).toHaveLength(0);
  });

  it('never writes for a key the pipeline does not own', async () => {
    const w = aWorld();

    const out = await recordRunFailure(w.steps, { run: { bucket: BUCKET, key: 'results/a.png.json', failure } });

    expect(out).toEqual({ status: 'skipped', retryable: false, reason: 'under-output-prefix' });
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
