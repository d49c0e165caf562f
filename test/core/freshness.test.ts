/**
 * Results that stay true, on the pure core with the in-memory store (which
 * honours conditional writes like S3): fingerprints decide duplicates,
 * retryable documents are resumed field by field, leases stop in-flight
 * duplicates, a newer version's document is never overwritten, and keys
 * that cannot have a result get one at a fallback key.
 */
import { describe, expect, it } from 'vitest';
import { admit } from '../../functions/core/admission';
import { processObject, type DirectDeps, type Invocation } from '../../functions/core/direct';
import type { ResultDocument } from '../../functions/core/document';
import { ErrorCode, ObjectReadError } from '../../functions/core/errors';
import { configFingerprint } from '../../functions/core/fingerprint';
import { parseFieldSet } from '../../functions/core/fields';
import { fallbackResultKeyFor, leaseRefFor, MAX_KEY_BYTES, resultKeyProblem } from '../../functions/core/keys';
import { claimLease, releaseLease } from '../../functions/core/lease';
import { createLimit } from '../../functions/core/limit';
import type { ObjectRef } from '../../functions/core/ports';
import { publishResult, RESULT_METADATA } from '../../functions/core/result-writer';
import type { PipelineSettings } from '../../functions/core/settings';
import {
  aReply,
  deferred,
  FakeClock,
  FakeModel,
  finalError,
  flush,
  JPEG_BYTES,
  memoryLogger,
  MemoryStore,
  retryableError,
  stringFields,
} from './fakes';

const BUCKET = 'labels';
const source = (key: string): ObjectRef => ({ bucket: BUCKET, key });
const FIELDS = stringFields(3);

function settingsFor(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  const fields = overrides.fields ?? FIELDS;
  return {
    fields,
    inputPrefix: 'incoming/',
    outputPrefix: 'results/',
    maxImageBytes: 1024,
    fingerprint: configFingerprint({ fields, modelName: 'fake-vl', responseFormat: 'json_schema' }),
    ...overrides,
  };
}

function aWorld(options: { settings?: Partial<PipelineSettings>; model?: FakeModel; store?: MemoryStore } = {}) {
  const store = options.store ?? new MemoryStore();
  const model = options.model ?? new FakeModel();
  const clock = new FakeClock();
  const deps: DirectDeps = {
    store,
    model,
    clock,
    limit: createLimit(Infinity),
    logger: memoryLogger(),
    settings: settingsFor(options.settings),
    modelSettings: { timeoutMs: 60_000, maxRetries: 0, maxTokens: 256 },
  };
  const invocation = (id = 'request-1'): Invocation => ({
    id,
    deadline: { signal: new AbortController().signal, at: clock.now() + 600_000 },
    endsAt: clock.now() + 900_000,
  });
  return { store, model, clock, deps, invocation };
}

const docAt = (store: MemoryStore, key: string): ResultDocument =>
  JSON.parse(store.objects.get(`${BUCKET}/${key}`)!.body.toString('utf8')) as ResultDocument;

describe('configFingerprint', () => {
  const fields = parseFieldSet([{ name: 'total', type: 'object', prompt: 'The total?', schema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'string' } } } }]);
  const base = { fields, modelName: 'm', responseFormat: 'json_schema' };

  it('is 64 hex digits and stable for the same configuration', () => {
    expect(configFingerprint(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(configFingerprint(base)).toBe(configFingerprint({ ...base }));
  });

  it('changes with a prompt, a type, a schema, the model or the response format', () => {
    const other = [
      { ...base, fields: parseFieldSet([{ ...fields[0]!, prompt: 'The grand total?' }]) },
      { ...base, fields: parseFieldSet([{ name: 'total', type: 'string', prompt: 'The total?' }]) },
      { ...base, fields: parseFieldSet([{ ...fields[0]!, schema: { type: 'object', properties: { a: { type: 'string' } } } }]) },
      { ...base, modelName: 'm2' },
      { ...base, responseFormat: 'json_object' },
    ].map(configFingerprint);

    expect(new Set([configFingerprint(base), ...other]).size).toBe(6);
  });

  it('does not change when only the key order inside a schema does', () => {
    const reordered = parseFieldSet([{ ...fields[0]!, schema: { properties: { b: { type: 'string' }, a: { type: 'number' } }, type: 'object' } }]);
    expect(configFingerprint({ ...base, fields: reordered })).toBe(configFingerprint(base));
  });

  it('does not change when a field gains checks: they judge answers, they never change one', () => {
    // Prepare
    const plain = parseFieldSet([{ name: 'hazards', type: 'string[]', prompt: 'Hazard statements?' }]);
    const checked = parseFieldSet([{ name: 'hazards', type: 'string[]', prompt: 'Hazard statements?', checks: ['ghs.hazard-codes'] }]);

    // Act
    const [before, after] = [plain, checked].map((f) => configFingerprint({ ...base, fields: f }));

    // Assess
    expect(checked[0]!.checks).toEqual(['ghs.hazard-codes']);
    expect(after).toBe(before);
  });
});

describe('duplicates are decided by ETag, fingerprint and finality', () => {
  it('asks nothing for the same object and configuration the second time', async () => {
    // Prepare
    const w = aWorld();
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());
    const callsAfterFirst = w.model.calls.length;

    // Act
    const second = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-2'));

    // Assess
    expect(callsAfterFirst).toBe(3);
    expect(second).toEqual({ kind: 'skipped', reason: 'duplicate', resultKey: 'results/a.jpg.json' });
    expect(w.model.calls).toHaveLength(3);
  });

  it('recomputes the same object when the field set changed, and records the new fingerprint', async () => {
    // Prepare: a first run with three fields
    const store = new MemoryStore();
    const before = aWorld({ store });
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    await processObject(before.deps, { ...source('incoming/a.jpg'), etag }, before.invocation());
    const changed = aWorld({ store, settings: { fields: stringFields(4) } });

    // Act
    const outcome = await processObject(changed.deps, { ...source('incoming/a.jpg'), etag }, changed.invocation());

    // Assess
    expect(outcome.kind).toBe('written');
    expect(changed.model.calls).toHaveLength(4);
    const doc = docAt(store, 'results/a.jpg.json');
    expect(doc.fingerprint).toBe(changed.deps.settings.fingerprint);
    expect(doc.fingerprint).not.toBe(before.deps.settings.fingerprint);
    expect(Object.keys(doc.fields)).toEqual(['f0', 'f1', 'f2', 'f3']);
    expect(store.objects.get(`${BUCKET}/results/a.jpg.json`)!.metadata).toMatchObject({
      [RESULT_METADATA.fingerprint]: changed.deps.settings.fingerprint,
      [RESULT_METADATA.state]: 'final',
    });
  });

  it('recomputes a result written before results carried a fingerprint', async () => {
    const w = aWorld();
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    w.store.put(source('results/a.jpg.json'), Buffer.from('{}'), { metadata: { [RESULT_METADATA.sourceEtag]: etag } });

    const outcome = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());

    expect(outcome.kind).toBe('written');
    expect(w.model.calls).toHaveLength(3);
  });
});

describe('a failure for a passing reason is not final', () => {
  it('marks a document with a transient field failure retryable, and one with only final failures final', async () => {
    // Prepare
    const transient = aWorld({ model: new FakeModel({ f1: [retryableError(ErrorCode.MODEL_SERVER_ERROR)] }) });
    const permanent = aWorld({ model: new FakeModel({ f1: [finalError(ErrorCode.MODEL_BAD_REQUEST)] }) });
    for (const w of [transient, permanent]) w.store.put(source('incoming/a.jpg'), JPEG_BYTES);

    // Act
    await processObject(transient.deps, source('incoming/a.jpg'), transient.invocation());
    await processObject(permanent.deps, source('incoming/a.jpg'), permanent.invocation());

    // Assess
    expect(docAt(transient.store, 'results/a.jpg.json')).toMatchObject({ status: 'partial', retryable: true, runs: 1 });
    expect(docAt(permanent.store, 'results/a.jpg.json')).toMatchObject({ status: 'partial', retryable: false, runs: 1 });
    expect(transient.store.objects.get(`${BUCKET}/results/a.jpg.json`)!.metadata[RESULT_METADATA.state]).toBe('retryable');
    expect(permanent.store.objects.get(`${BUCKET}/results/a.jpg.json`)!.metadata[RESULT_METADATA.state]).toBe('final');
  });

  it('re-asks only the failed fields on the next delivery and keeps the good ones as they were', async () => {
    // Prepare: f1 times out the first time, then answers
    const model = new FakeModel({
      f0: [aReply('zero')],
      f1: [retryableError(ErrorCode.MODEL_TIMEOUT), aReply('one')],
      f2: [aReply('two')],
    });
    const w = aWorld({ model });
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());
    const first = docAt(w.store, 'results/a.jpg.json');

    // Act: the same event again (a retry or a redrive)
    const outcome = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-2'));

    // Assess
    expect(first).toMatchObject({ status: 'partial', retryable: true });
    expect(outcome).toMatchObject({ kind: 'written', kept: ['f0', 'f2'] });
    expect(model.callsFor('f0')).toHaveLength(1);
    expect(model.callsFor('f2')).toHaveLength(1);
    expect(model.callsFor('f1')).toHaveLength(2);
    const second = docAt(w.store, 'results/a.jpg.json');
    expect(second).toMatchObject({ status: 'complete', retryable: false, runs: 2, fields: { f0: 'zero', f1: 'one', f2: 'two' } });
    expect(second.fieldResults.f0).toEqual(first.fieldResults.f0);
  });

  it('recomputes checks and review over every field of a resumed document, kept ones included', async () => {
    // Prepare: the hazard statements answer at once; the pictograms fail for a passing reason, then lack GHS02
    const fields = parseFieldSet([
      { name: 'tag', type: 'string[]', prompt: 'Signal word and pictograms?', checks: ['ghs.pictograms', 'ghs.signal-word'] },
      { name: 'risk_notice', type: 'string[]', prompt: 'Hazard statements?', checks: ['ghs.hazard-codes'] },
    ]);
    const model = new FakeModel({
      tag: [retryableError(ErrorCode.MODEL_TIMEOUT), aReply(['危险'])],
      risk_notice: [aReply(['H225 高度易燃液体和蒸气'])],
    });
    const w = aWorld({ model, settings: { fields } });
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());
    const first = docAt(w.store, 'results/a.jpg.json');

    // Act
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-2'));

    // Assess: the kept hazard statements are what the pictogram check judged the new tag by
    expect(first.review).toEqual({ needed: true, reasons: ['failed:tag'] });
    expect(Object.keys(first.checks!.byField)).toEqual(['risk_notice']);
    expect(model.callsFor('risk_notice')).toHaveLength(1);
    const second = docAt(w.store, 'results/a.jpg.json');
    expect(second.status).toBe('complete');
    expect(second.checks!.byField.tag!.map((f) => f.code)).toEqual(['GHS_PICTOGRAM_MISSING']);
    expect(second.review).toEqual({ needed: true, reasons: ['check:GHS_PICTOGRAM_MISSING:tag'] });
  });

  it('does not ask a permanently failed document again', async () => {
    const model = new FakeModel({ f0: [finalError(ErrorCode.MODEL_UNAUTHORIZED)], f1: [finalError()], f2: [finalError()] });
    const w = aWorld({ model });
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());

    const again = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-2'));

    expect(docAt(w.store, 'results/a.jpg.json')).toMatchObject({ status: 'failed', retryable: false });
    expect(again).toMatchObject({ kind: 'skipped', reason: 'duplicate' });
    expect(model.calls).toHaveLength(3);
  });

  it('ignores a retryable document that does not read back valid, and asks every field', async () => {
    const w = aWorld();
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    w.store.put(source('results/a.jpg.json'), Buffer.from('{"not": "a document"}'), {
      metadata: {
        [RESULT_METADATA.sourceEtag]: etag,
        [RESULT_METADATA.fingerprint]: w.deps.settings.fingerprint,
        [RESULT_METADATA.state]: 'retryable',
      },
    });

    const outcome = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());

    expect(outcome).toMatchObject({ kind: 'written', kept: [] });
    expect(w.model.calls).toHaveLength(3);
  });
});

describe('a duplicate in flight costs nothing', () => {
  it('lets a second delivery that arrives while the first works do nothing, and says so', async () => {
    // Prepare: the first delivery's model answers only when released
    const gate = deferred();
    const model = new FakeModel({}, async () => {
      await gate.promise;
      return aReply('slow');
    });
    const w = aWorld({ model });
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const first = processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-1'));
    await flush();

    // Act
    const second = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-2'));
    const imageReadsCancelled = w.store.reads.filter((r) => r.ref.key === 'incoming/a.jpg').map((r) => r.options.signal?.aborted);
    gate.resolve();
    const firstOutcome = await first;

    // Assess
    expect(second).toEqual({ kind: 'skipped', reason: 'in-flight', resultKey: 'results/a.jpg.json' });
    expect(firstOutcome.kind).toBe('written');
    expect(model.calls).toHaveLength(3);
    // The second delivery's image read, started beside its claim, was cancelled when the claim failed.
    expect(imageReadsCancelled).toEqual([false, true]);
    expect(w.store.objects.has(`${BUCKET}/${leaseRefFor(source('incoming/a.jpg'), w.deps.settings).key}`)).toBe(false);
  });

  it('takes over an expired lease, so a crashed invocation blocks the image only until its timeout', async () => {
    const w = aWorld();
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const leaseRef = leaseRefFor(source('incoming/a.jpg'), w.deps.settings);
    const crashed = { etag, fingerprint: w.deps.settings.fingerprint, owner: 'crashed', expiresAt: w.clock.now() - 1 };
    w.store.put(leaseRef, Buffer.from(JSON.stringify(crashed)));

    const outcome = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());

    expect(outcome.kind).toBe('written');
    expect(w.model.calls).toHaveLength(3);
  });

  it('claims a lease once: of two claims for the same version exactly one wins', async () => {
    const store = new MemoryStore();
    const ref = { bucket: BUCKET, key: 'results/.fieldlens/leases/x.lease' };
    const lease = (owner: string) => ({ etag: 'e1', fingerprint: 'f', owner, expiresAt: 2_000 });

    const outcomes = await Promise.all([
      claimLease({ store, ref, lease: lease('a'), now: 1_000 }),
      claimLease({ store, ref, lease: lease('b'), now: 1_000 }),
    ]);

    expect(outcomes.map((o) => o.kind).sort()).toEqual(['claimed', 'held']);
    const mine = outcomes.find((o) => o.kind === 'claimed') as { kind: 'claimed'; etag: string };
    expect(await releaseLease(store, ref, mine.etag)).toBe(true);
    expect(await claimLease({ store, ref, lease: lease('c'), now: 1_000 })).toMatchObject({ kind: 'claimed' });
  });

  it('releases only its own lease: one taken over for a newer version stays with its holder', async () => {
    // Prepare: version 1 claims; version 2 takes the lease over (another version)
    const store = new MemoryStore();
    const ref = { bucket: BUCKET, key: 'results/.fieldlens/leases/x.lease' };
    const v1 = (await claimLease({ store, ref, lease: { etag: 'e1', fingerprint: 'f', owner: 'v1', expiresAt: 9_000 }, now: 1_000 })) as { etag: string };
    await claimLease({ store, ref, lease: { etag: 'e2', fingerprint: 'f', owner: 'v2', expiresAt: 9_000 }, now: 1_000 });

    // Act: version 1 finishes and gives back what it thinks is its lease
    await releaseLease(store, ref, v1.etag);

    // Assess
    const held = JSON.parse(store.objects.get(`${BUCKET}/${ref.key}`)!.body.toString('utf8')) as { owner: string };
    expect(held.owner).toBe('v2');
  });

  it('looks for a final result again after claiming: a delivery that just finished costs a HEAD, not every field', async () => {
    // Prepare: admission sees no result; the other delivery finishes before the claim
    const w = aWorld();
    const etag = w.store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const head = w.store.head.bind(w.store);
    let resultHeads = 0;
    w.store.head = async (ref: ObjectRef) => {
      if (ref.key === 'results/a.jpg.json' && ++resultHeads === 1) {
        const info = await head(ref);
        w.store.put(source('results/a.jpg.json'), Buffer.from('{}'), {
          metadata: {
            [RESULT_METADATA.sourceEtag]: etag,
            [RESULT_METADATA.fingerprint]: w.deps.settings.fingerprint,
            [RESULT_METADATA.state]: 'final',
          },
        });
        return info;
      }
      return head(ref);
    };

    // Act
    const outcome = await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());

    // Assess
    expect(outcome).toEqual({ kind: 'skipped', reason: 'duplicate', resultKey: 'results/a.jpg.json' });
    expect(w.model.calls).toHaveLength(0);
  });

  it('takes over a live lease for another version or configuration', async () => {
    const store = new MemoryStore();
    const ref = { bucket: BUCKET, key: 'results/.fieldlens/leases/x.lease' };
    store.put(ref, Buffer.from(JSON.stringify({ etag: 'old', fingerprint: 'f', owner: 'a', expiresAt: 9_000 })));

    expect(await claimLease({ store, ref, lease: { etag: 'new', fingerprint: 'f', owner: 'b', expiresAt: 9_000 }, now: 1_000 })).toMatchObject({
      kind: 'claimed',
    });
  });

  it('cancels the other HEAD when one of admission’s two fails, so nothing runs on after the handler returns', async () => {
    // Prepare: the source HEAD fails at once, the result HEAD would hang until aborted
    const w = aWorld();
    let resultHeadAborted = false;
    w.store.head = async (ref: ObjectRef, options?: { signal?: AbortSignal }) => {
      if (ref.key.startsWith('incoming/')) throw new ObjectReadError('SlowDown');
      return new Promise<undefined>((_, reject) => {
        options?.signal?.addEventListener('abort', () => {
          resultHeadAborted = true;
          reject(options.signal!.reason);
        });
      });
    };

    // Act
    const act = admit(w.deps, source('incoming/a.jpg'));

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'OBJECT_READ_FAILED' });
    expect(resultHeadAborted).toBe(true);
  });
});

describe('a newer image’s result is never overwritten', () => {
  it('writes nothing for a version replaced while it was being processed, whichever finishes last', async () => {
    // Prepare: version 1 is slow; version 2 arrives and finishes first
    const gate = deferred();
    const slow = new FakeModel({}, async () => {
      await gate.promise;
      return aReply('from version 1');
    });
    const store = new MemoryStore();
    const v1 = aWorld({ store, model: slow });
    const v2 = aWorld({ store, model: new FakeModel({}, aReply('from version 2')) });
    const e1 = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const running = processObject(v1.deps, { ...source('incoming/a.jpg'), etag: e1 }, v1.invocation('v1'));
    await flush();
    const e2 = store.put(source('incoming/a.jpg'), Buffer.concat([JPEG_BYTES, Buffer.from([1])]));
    await processObject(v2.deps, { ...source('incoming/a.jpg'), etag: e2 }, v2.invocation('v2'));

    // Act
    gate.resolve();
    const late = await running;

    // Assess
    expect(late).toEqual({ kind: 'skipped', reason: 'superseded', resultKey: 'results/a.jpg.json' });
    const doc = docAt(store, 'results/a.jpg.json');
    expect(doc.source.etag).toBe(e2);
    expect(doc.fields.f0).toBe('from version 2');
  });

  it('writes with If-None-Match when admission saw no result, and If-Match on the ETag it saw otherwise', async () => {
    // Prepare
    const store = new MemoryStore();
    const conditions: unknown[] = [];
    const put = store.putJson.bind(store);
    store.putJson = (ref, value, metadata, options) => {
      if (!ref.key.endsWith('.lease')) conditions.push(options?.condition);
      return put(ref, value, metadata, options);
    };
    const w = aWorld({ store, model: new FakeModel({ f1: [retryableError(), aReply('fine')] }) });
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);

    // Act: the first run finds no result; the resumed run finds the retryable one
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation());
    const seen = store.objects.get(`${BUCKET}/results/a.jpg.json`)!.etag;
    await processObject(w.deps, { ...source('incoming/a.jpg'), etag }, w.invocation('request-2'));

    // Assess
    expect(conditions).toEqual([{ ifNoneMatch: '*' }, { ifMatch: seen }]);
  });

  it('on a lost race for the same version, leaves a final document the other delivery wrote', async () => {
    // Prepare: admission saw no result; by the time we write, another delivery wrote a final one
    const store = new MemoryStore();
    const w = aWorld({ store });
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    const theirs = { source: { bucket: BUCKET, key: 'incoming/a.jpg', etag, bytes: JPEG_BYTES.length }, fingerprint: w.deps.settings.fingerprint };
    store.put(source('results/a.jpg.json'), Buffer.from(JSON.stringify(theirs)), {
      metadata: {
        [RESULT_METADATA.sourceEtag]: etag,
        [RESULT_METADATA.fingerprint]: w.deps.settings.fingerprint,
        [RESULT_METADATA.state]: 'final',
      },
    });
    const ours = { ...theirs, retryable: false, runs: 1 } as unknown as ResultDocument;

    // Act
    const outcome = await publishResult({ store, ref: source('results/a.jpg.json'), document: ours, seenEtag: undefined });

    // Assess
    expect(outcome).toEqual({ kind: 'duplicate' });
    expect(store.writes).toHaveLength(0);
  });

  it('on a lost race against a stale document, overwrites it on its new ETag', async () => {
    const store = new MemoryStore();
    const w = aWorld({ store });
    const etag = store.put(source('incoming/a.jpg'), JPEG_BYTES);
    store.put(source('results/a.jpg.json'), Buffer.from('{}'), { metadata: { [RESULT_METADATA.sourceEtag]: 'older-version' } });
    const ours = { source: { bucket: BUCKET, key: 'incoming/a.jpg', etag, bytes: 1 }, fingerprint: w.deps.settings.fingerprint, retryable: false, runs: 1 } as unknown as ResultDocument;

    const outcome = await publishResult({ store, ref: source('results/a.jpg.json'), document: ours, seenEtag: undefined });

    expect(outcome.kind).toBe('written');
    expect(store.objects.get(`${BUCKET}/results/a.jpg.json`)!.metadata[RESULT_METADATA.sourceEtag]).toBe(etag);
  });
});

describe('keys no result can live at', () => {
  const settings = settingsFor();

  it('names the problem for empty, "." and ".." segments and for result keys over 1,024 bytes', () => {
    expect(resultKeyProblem('incoming/a//b.png', settings)).toMatch(/empty path segment/);
    expect(resultKeyProblem('incoming//b.png', settings)).toMatch(/empty path segment/);
    expect(resultKeyProblem('incoming/./b.png', settings)).toMatch(/"\." path segment/);
    expect(resultKeyProblem('incoming/a/../b.png', settings)).toMatch(/"\.\." path segment/);
    const long = `incoming/${'x'.repeat(MAX_KEY_BYTES - 'incoming/'.length)}`;
    expect(resultKeyProblem(long, settings)).toMatch(/over S3's limit of 1024/);
    expect(resultKeyProblem('incoming/2026/a.b..c.png', settings)).toBeUndefined();
  });

  it('counts bytes, not characters, against the limit', () => {
    // 338 characters of 3 bytes each: a 1,023-byte source key whose result key is 8 + 1,014 + 5 bytes.
    const chinese = `incoming/${'标'.repeat(338)}`;
    const ascii = `incoming/${'x'.repeat(338)}`;
    expect(Buffer.byteLength(chinese)).toBe(1023);
    expect(resultKeyProblem(chinese, settings)).toBe("its result key would be 1027 bytes, over S3's limit of 1024");
    expect(resultKeyProblem(ascii, settings)).toBeUndefined();
  });

  it('writes a rejected document with INPUT_KEY_INVALID at the fallback key, before any model call', async () => {
    const w = aWorld();
    const key = 'incoming/a/../b.png';
    w.store.put(source(key), JPEG_BYTES);

    const outcome = await processObject(w.deps, source(key), w.invocation());

    const fallback = fallbackResultKeyFor(key, 'results/');
    expect(fallback).toMatch(/^results\/\.fieldlens\/rejected-keys\/[0-9a-f]{64}\.json$/);
    expect(outcome).toMatchObject({ kind: 'written', resultKey: fallback });
    expect(w.model.calls).toHaveLength(0);
    expect(docAt(w.store, fallback)).toMatchObject({
      status: 'rejected',
      retryable: false,
      source: { key },
      error: { code: 'INPUT_KEY_INVALID' },
    });
  });

  it('never writes a lease or a fallback key that a result key could take', () => {
    const lease = leaseRefFor(source('incoming/a.png'), settings).key;
    expect(lease.endsWith('.lease')).toBe(true);
    expect(lease.startsWith('results/')).toBe(true);
  });
});
