import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, FieldlensError, InputRejectedError, ObjectNotFoundError } from '../../functions/core/errors';
import { admit } from '../../functions/core/admission';
import { keyGuard, resultRefFor } from '../../functions/core/keys';
import { createLimit } from '../../functions/core/limit';
import { processObject, type DirectDeps, type Invocation } from '../../functions/core/direct';
import { RESULT_METADATA } from '../../functions/core/result-writer';
import { type PipelineSettings } from '../../functions/core/settings';
import type { ResultDocument } from '../../functions/core/document';
import { FakeClock, FakeModel, finalError, JPEG_BYTES, memoryLogger, MemoryStore, pipelineSettings, PNG_BYTES } from './fakes';

const BUCKET = 'labels';
const FINGERPRINT = 'f'.repeat(64);
/** The metadata of a final result for `etag` under this test's configuration. */
const finalResultOf = (etag: string) => ({
  [RESULT_METADATA.sourceEtag]: etag,
  [RESULT_METADATA.fingerprint]: FINGERPRINT,
  [RESULT_METADATA.state]: 'final',
  [RESULT_METADATA.runs]: '1',
});

function someSettings(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return pipelineSettings(FINGERPRINT, { ...overrides });
}

interface World {
  store: MemoryStore;
  model: FakeModel;
  deps: DirectDeps;
  invocation: Invocation;
}

function aWorld(overrides: { settings?: Partial<PipelineSettings>; model?: FakeModel } = {}): World {
  const store = new MemoryStore();
  const model = overrides.model ?? new FakeModel();
  const clock = new FakeClock();
  const deps: DirectDeps = {
    store,
    model,
    clock,
    limit: createLimit(2),
    logger: memoryLogger(),
    settings: someSettings(overrides.settings),
    modelSettings: { timeoutMs: 60_000, maxRetries: 3, maxTokens: 1024 },
  };
  const invocation: Invocation = {
    id: 'request-1',
    deadline: { signal: new AbortController().signal, at: clock.now() + 600_000 },
    endsAt: clock.now() + 900_000,
  };
  return { store, model, deps, invocation };
}

const source = (key: string) => ({ bucket: BUCKET, key });

describe('keyGuard', () => {
  const settings = { inputPrefix: 'incoming/', outputPrefix: 'results/' };

  it('accepts a key under the input prefix', () => {
    expect(keyGuard('incoming/2026/a.jpg', settings)).toBeUndefined();
  });

  it('skips a key outside the input prefix', () => {
    expect(keyGuard('other/a.jpg', settings)).toBe('outside-input-prefix');
  });

  it('skips a key under the output prefix even when it is also under the input prefix', () => {
    // Prepare: results nested inside the input prefix would loop
    const nested = { inputPrefix: 'incoming/', outputPrefix: 'incoming/results/' };

    // Act
    const reason = keyGuard('incoming/results/a.jpg.json', nested);

    // Assess
    expect(reason).toBe('under-output-prefix');
  });

  it('skips the output prefix when the input prefix is the whole bucket', () => {
    const wholeBucket = { inputPrefix: '', outputPrefix: 'results/' };

    expect(keyGuard('results/a.jpg.json', wholeBucket)).toBe('under-output-prefix');
    expect(keyGuard('a.jpg', wholeBucket)).toBeUndefined();
  });

  it('skips a folder marker', () => {
    expect(keyGuard('incoming/2026/', settings)).toBe('folder-marker');
  });
});

describe('resultRefFor', () => {
  it('writes beside the source when no output bucket is set', () => {
    expect(resultRefFor(source('incoming/2026/a.jpg'), someSettings())).toEqual({
      bucket: BUCKET,
      key: 'results/2026/a.jpg.json',
    });
  });

  it('writes into the output bucket when one is set', () => {
    expect(resultRefFor(source('incoming/a.jpg'), someSettings({ outputBucket: 'out' }))).toEqual({
      bucket: 'out',
      key: 'results/a.jpg.json',
    });
  });
});

describe('admit', () => {
  it('skips a guarded key without touching the store', async () => {
    // Prepare
    const { store, deps } = aWorld();
    const head = vi.spyOn(store, 'head');

    // Act
    const admission = await admit(deps, source('results/a.jpg.json'));

    // Assess
    expect(admission).toEqual({ kind: 'skip', reason: 'under-output-prefix' });
    expect(head).not.toHaveBeenCalled();
  });

  it('skips an object that does not exist', async () => {
    const { deps } = aWorld();

    const admission = await admit(deps, source('incoming/gone.jpg'));

    expect(admission).toEqual({
      kind: 'skip',
      reason: 'not-found',
      resultRef: { bucket: BUCKET, key: 'results/gone.jpg.json' },
    });
  });

  it('skips a duplicate: a result exists for the same source ETag', async () => {
    // Prepare
    const { store, deps } = aWorld();
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    store.put(source('results/a.jpg.json'), Buffer.from('{}'), { metadata: finalResultOf(etag) });

    // Act
    const admission = await admit(deps, { ...source('incoming/a.jpg'), etag });

    // Assess
    expect(admission).toMatchObject({ kind: 'skip', reason: 'duplicate' });
  });

  it('accepts an object whose old result was for another ETag', async () => {
    const { store, deps } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES, { etag: 'new' });
    store.put(source('results/a.jpg.json'), Buffer.from('{}'), { metadata: finalResultOf('old') });

    const admission = await admit(deps, source('incoming/a.jpg'));

    expect(admission).toMatchObject({ kind: 'accept', info: { etag: 'new', bytes: JPEG_BYTES.length } });
  });

  it('skips an object replaced since the event (ETag differs)', async () => {
    const { store, deps } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES, { etag: 'newer' });

    const admission = await admit(deps, { ...source('incoming/a.jpg'), etag: 'older' });

    expect(admission).toMatchObject({ kind: 'skip', reason: 'superseded' });
  });

  it('rejects an empty object with INPUT_EMPTY', async () => {
    const { store, deps } = aWorld();
    store.put(source('incoming/empty.jpg'), Buffer.alloc(0));

    const admission = await admit(deps, source('incoming/empty.jpg'));

    expect(admission.kind).toBe('reject');
    if (admission.kind === 'reject') expect(admission.error.code).toBe(ErrorCode.INPUT_EMPTY);
  });

  it('rejects an object over MAX_IMAGE_BYTES with INPUT_TOO_LARGE', async () => {
    // Prepare
    const { store, deps } = aWorld({ settings: { maxImageBytes: 100 } });
    store.put(source('incoming/big.jpg'), Buffer.concat([JPEG_BYTES, Buffer.alloc(100)]));

    // Act
    const admission = await admit(deps, source('incoming/big.jpg'));

    // Assess
    expect(admission.kind).toBe('reject');
    if (admission.kind === 'reject') {
      expect(admission.error).toBeInstanceOf(InputRejectedError);
      expect(admission.error.code).toBe(ErrorCode.INPUT_TOO_LARGE);
      expect(admission.error.message).toContain('over the limit of 100 bytes (MAX_IMAGE_BYTES)');
    }
  });

  it('accepts an object of exactly MAX_IMAGE_BYTES', async () => {
    const { store, deps } = aWorld({ settings: { maxImageBytes: JPEG_BYTES.length } });
    store.put(source('incoming/a.jpg'), JPEG_BYTES);

    expect((await admit(deps, source('incoming/a.jpg'))).kind).toBe('accept');
  });
});

describe('processObject', () => {
  it('reads the image while it claims the lease: the read is asked for before the claim is written', async () => {
    // Prepare: a store that notes how many reads had been asked for when the lease was written
    const { store, deps, invocation } = aWorld();
    const readsAtClaim: number[] = [];
    const putJson = store.putJson.bind(store);
    store.putJson = async (ref, value, metadata, options) => {
      if (ref.key.endsWith('.lease')) readsAtClaim.push(store.reads.length);
      return putJson(ref, value, metadata, options);
    };
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);

    // Act
    const outcome = await processObject(deps, { ...source('incoming/a.jpg'), etag }, invocation);

    // Assess
    expect(outcome.kind).toBe('written');
    expect(readsAtClaim).toEqual([1]);
  });

  it('cancels that read when the result became final before the claim, and asks nothing', async () => {
    // Prepare: the result turns final after admission looked (between the two HEADs)
    const { store, model, deps, invocation } = aWorld();
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const resultRef = { bucket: BUCKET, key: 'results/a.jpg.json' };
    const putJson = store.putJson.bind(store);
    store.putJson = async (ref, value, metadata, options) => {
      const written = await putJson(ref, value, metadata, options);
      if (ref.key.endsWith('.lease')) store.put(resultRef, Buffer.from('{}'), { metadata: finalResultOf(etag) });
      return written;
    };

    // Act
    const outcome = await processObject(deps, { ...source('incoming/a.jpg'), etag }, invocation);

    // Assess
    expect(outcome).toEqual({ kind: 'skipped', reason: 'duplicate', resultKey: resultRef.key });
    expect(model.calls).toHaveLength(0);
    expect(store.reads).toHaveLength(1);
    expect(store.reads[0]!.options.signal?.aborted).toBe(true);
    expect(store.writes).toHaveLength(0);
  });

  it('asks every field and writes the merged result with the source ETag as metadata', async () => {
    // Prepare
    const { store, model, deps, invocation } = aWorld();
    const etag = store.put(source('incoming/2026/a.jpg'), JPEG_BYTES, { contentType: 'application/octet-stream' });

    // Act
    const outcome = await processObject(deps, { ...source('incoming/2026/a.jpg'), etag }, invocation);

    // Assess
    expect(outcome.kind).toBe('written');
    expect(model.calls).toHaveLength(2);
    expect(store.reads).toEqual([
      { ref: source('incoming/2026/a.jpg'), options: { maxBytes: 1024, etag, signal: expect.any(AbortSignal) } },
    ]);
    expect(store.writes).toHaveLength(1);
    const [write] = store.writes;
    expect(write!.ref).toEqual({ bucket: BUCKET, key: 'results/2026/a.jpg.json' });
    expect(write!.metadata).toEqual(finalResultOf(etag));
    const doc = write!.value as ResultDocument;
    expect(doc).toMatchObject({
      status: 'complete',
      source: { bucket: BUCKET, key: 'incoming/2026/a.jpg', etag, bytes: JPEG_BYTES.length, contentType: 'image/jpeg' },
      fields: { f0: 'an answer', f1: 'an answer' },
      model: { name: 'fake-vl' },
    });
  });

  it('reports the written document and its key', async () => {
    const { store, deps, invocation } = aWorld();
    store.put(source('incoming/a.jpg'), PNG_BYTES);

    const outcome = await processObject(deps, source('incoming/a.jpg'), invocation);

    expect(outcome).toMatchObject({ kind: 'written', resultKey: 'results/a.jpg.json', document: { status: 'complete' } });
  });

  it('writes a partial document when some fields fail', async () => {
    const model = new FakeModel({ f1: [finalError()] });
    const { store, deps, invocation } = aWorld({ model });
    store.put(source('incoming/a.jpg'), JPEG_BYTES);

    await processObject(deps, source('incoming/a.jpg'), invocation);

    const doc = store.writes[0]!.value as ResultDocument;
    expect(doc.status).toBe('partial');
    expect(doc.fields).toEqual({ f0: 'an answer', f1: null });
    expect(doc.fieldResults.f1!.error!.code).toBe('MODEL_BAD_REQUEST');
  });

  it('writes into the output bucket when one is set', async () => {
    const { store, deps, invocation } = aWorld({ settings: { outputBucket: 'out' } });
    store.put(source('incoming/a.jpg'), JPEG_BYTES);

    await processObject(deps, source('incoming/a.jpg'), invocation);

    expect(store.writes[0]!.ref).toEqual({ bucket: 'out', key: 'results/a.jpg.json' });
  });

  it('rejects bytes that are not an image, whatever their name, with no model call', async () => {
    // Prepare
    const { store, model, deps, invocation } = aWorld();
    store.put(source('incoming/label.jpg'), Buffer.from('%PDF-1.7 not a label'), { contentType: 'image/jpeg' });

    // Act
    const outcome = await processObject(deps, source('incoming/label.jpg'), invocation);

    // Assess
    expect(model.calls).toHaveLength(0);
    expect(outcome.kind).toBe('written');
    const doc = store.writes[0]!.value as ResultDocument;
    expect(doc.status).toBe('rejected');
    expect(doc.error!.code).toBe('INPUT_NOT_IMAGE');
    expect(doc.error!.message).toContain('(declared image/jpeg)');
    expect(doc.fields).toEqual({});
  });

  it('rejects an empty object without reading it or calling the model', async () => {
    const { store, model, deps, invocation } = aWorld();
    store.put(source('incoming/empty.png'), Buffer.alloc(0));

    await processObject(deps, source('incoming/empty.png'), invocation);

    expect(store.reads).toHaveLength(0);
    expect(model.calls).toHaveLength(0);
    expect(store.writes[0]!.value).toMatchObject({ status: 'rejected', error: { code: 'INPUT_EMPTY' } });
  });

  it('rejects a too-large object without reading it or calling the model', async () => {
    const { store, model, deps, invocation } = aWorld({ settings: { maxImageBytes: 4 } });
    store.put(source('incoming/big.jpg'), JPEG_BYTES);

    await processObject(deps, source('incoming/big.jpg'), invocation);

    expect(store.reads).toHaveLength(0);
    expect(model.calls).toHaveLength(0);
    expect(store.writes[0]!.value).toMatchObject({ status: 'rejected', error: { code: 'INPUT_TOO_LARGE' } });
  });

  it('rejects when the store refuses the read as too large (the object grew)', async () => {
    // Prepare
    const { store, model, deps, invocation } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES);
    vi.spyOn(store, 'read').mockRejectedValue(new InputRejectedError(ErrorCode.INPUT_TOO_LARGE, 'grew'));

    // Act
    await processObject(deps, source('incoming/a.jpg'), invocation);

    // Assess
    expect(model.calls).toHaveLength(0);
    expect(store.writes[0]!.value).toMatchObject({ status: 'rejected', error: { code: 'INPUT_TOO_LARGE', message: 'grew' } });
  });

  it('skips an object deleted between head and read, writing nothing', async () => {
    // Prepare
    const { store, model, deps, invocation } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES);
    store.vanishOnRead.add(`${BUCKET}/incoming/a.jpg`);

    // Act
    const outcome = await processObject(deps, source('incoming/a.jpg'), invocation);

    // Assess
    expect(outcome).toEqual({ kind: 'skipped', reason: 'not-found', resultKey: 'results/a.jpg.json' });
    expect(model.calls).toHaveLength(0);
    expect(store.writes).toHaveLength(0);
  });

  it('skips when the store reports the object gone with ObjectNotFoundError', async () => {
    const { store, deps, invocation } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES);
    vi.spyOn(store, 'read').mockRejectedValue(new ObjectNotFoundError('gone'));

    const outcome = await processObject(deps, source('incoming/a.jpg'), invocation);

    expect(outcome).toMatchObject({ kind: 'skipped', reason: 'not-found' });
    expect(store.writes).toHaveLength(0);
  });

  it('skips a duplicate event with no model call and no write', async () => {
    // Prepare: the first event wrote the result
    const { store, model, deps, invocation } = aWorld();
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    await processObject(deps, { ...source('incoming/a.jpg'), etag }, invocation);
    const callsAfterFirst = model.calls.length;

    // Act
    const outcome = await processObject(deps, { ...source('incoming/a.jpg'), etag }, invocation);

    // Assess
    expect(outcome).toEqual({ kind: 'skipped', reason: 'duplicate', resultKey: 'results/a.jpg.json' });
    expect(model.calls).toHaveLength(callsAfterFirst);
    expect(store.writes).toHaveLength(1);
  });

  it('skips a key outside the input prefix without a result key', async () => {
    const { deps, invocation } = aWorld();

    expect(await processObject(deps, source('elsewhere/a.jpg'), invocation)).toEqual({
      kind: 'skipped',
      reason: 'outside-input-prefix',
    });
  });

  it('still writes a failed document when the deadline has already passed', async () => {
    // Prepare
    const { store, model, deps } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const signal = AbortSignal.abort(new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed'));

    // Act
    await processObject(deps, source('incoming/a.jpg'), { id: 'request-1', deadline: { signal, at: 0 }, endsAt: 60_000 });

    // Assess
    expect(model.calls).toHaveLength(0);
    const doc = store.writes[0]!.value as ResultDocument;
    expect(doc.status).toBe('failed');
    expect(Object.values(doc.fieldResults).map((r) => r.error?.code)).toEqual(['DEADLINE_EXCEEDED', 'DEADLINE_EXCEEDED']);
  });

  it('throws when the result cannot be written, so the event is retried', async () => {
    // Prepare
    const { store, deps, invocation } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES);
    store.failWrites = new Error('AccessDenied');

    // Act
    const act = processObject(deps, source('incoming/a.jpg'), invocation);

    // Assess
    await expect(act).rejects.toThrow('AccessDenied');
  });

  it('throws when a rejected document cannot be written', async () => {
    const { store, deps, invocation } = aWorld();
    store.put(source('incoming/empty.jpg'), Buffer.alloc(0));
    store.failWrites = new Error('SlowDown');

    await expect(processObject(deps, source('incoming/empty.jpg'), invocation)).rejects.toThrow('SlowDown');
  });

  it('throws a read failure that is not about the object (S3 down), writing nothing', async () => {
    const { store, deps, invocation } = aWorld();
    store.put(source('incoming/a.jpg'), JPEG_BYTES);
    vi.spyOn(store, 'read').mockRejectedValue(new Error('ServiceUnavailable'));

    await expect(processObject(deps, source('incoming/a.jpg'), invocation)).rejects.toThrow('ServiceUnavailable');
    expect(store.writes).toHaveLength(0);
  });
});
