import { describe, expect, it } from 'vitest';
import { createLimit } from '../../functions/core/limit';
import {
  cacheEntryRef,
  defaultCachePrefix,
  imageDigest,
  isCacheable,
  lookupCachedAnswers,
  type CacheEntry,
} from '../../functions/core/content-cache';
import { processObject, type DirectDeps, type Invocation } from '../../functions/core/direct';
import type { ResultDocument } from '../../functions/core/document';
import { ErrorCode } from '../../functions/core/errors';
import type { PipelineSettings } from '../../functions/core/settings';
import { aReply, FakeClock, FakeModel, finalError, memoryLogger, MemoryStore, pipelineSettings, PNG_BYTES, retryableError } from './fakes';

const BUCKET = 'labels';
const FINGERPRINT = 'a'.repeat(64);
const CACHE = { prefix: defaultCachePrefix('results/') };

function settings(overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return pipelineSettings(FINGERPRINT, { contentCache: CACHE, ...overrides });
}

function aWorld(o: { settings?: PipelineSettings; model?: FakeModel; store?: MemoryStore } = {}) {
  const store = o.store ?? new MemoryStore();
  const model = o.model ?? new FakeModel({ f0: [aReply('zero')], f1: [aReply('one')] });
  const clock = new FakeClock();
  const logger = memoryLogger();
  const deps: DirectDeps = {
    store,
    model,
    clock,
    limit: createLimit(2),
    logger,
    settings: o.settings ?? settings(),
    modelSettings: { timeoutMs: 60_000, maxRetries: 1, maxTokens: 256 },
  };
  const invocation: Invocation = {
    id: 'request-1',
    deadline: { signal: new AbortController().signal, at: clock.now() + 600_000 },
    endsAt: clock.now() + 900_000,
  };
  const run = async (key: string, bytes: Buffer = IMAGE): Promise<ResultDocument> => {
    store.put({ bucket: BUCKET, key }, bytes);
    const outcome = await processObject(deps, { bucket: BUCKET, key }, invocation);
    if (outcome.kind !== 'written') throw new Error(`expected a document, got ${JSON.stringify(outcome)}`);
    return outcome.document;
  };
  return { store, model, logger, run, deps, invocation };
}

const IMAGE = Buffer.concat([PNG_BYTES, Buffer.from('the same label photographed once')]);
const entryKey = (bytes: Buffer = IMAGE, fingerprint = FINGERPRINT) =>
  cacheEntryRef(BUCKET, CACHE, fingerprint, imageDigest(bytes)).key;

function anEntry(overrides: Partial<CacheEntry> = {}): CacheEntry {
  return {
    kind: 'fieldlens.content-cache',
    version: 1,
    sha256: imageDigest(IMAGE),
    fingerprint: FINGERPRINT,
    model: 'fake-vl',
    fields: { f0: 'cached zero', f1: 'cached one' },
    source: { bucket: BUCKET, key: 'incoming/first.png', etag: 'etag-first' },
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('content cache in direct mode', () => {
  it('answers an identical image from the first one’s answers, with no model call, and says where they came from', async () => {
    // Prepare: the first upload is answered by the model
    const { run, model, store } = aWorld();
    const first = await run('incoming/first.png');
    const callsAfterFirst = model.calls.length;

    // Act: the same bytes under another key
    const second = await run('incoming/copy-of-first.png');

    // Assess
    expect(first.cache).toEqual({ hit: false });
    expect(callsAfterFirst).toBe(2);
    expect(model.calls).toHaveLength(2);
    expect(second.status).toBe('complete');
    expect(second.fields).toEqual(first.fields);
    expect(second.cache).toMatchObject({ hit: true, source: { bucket: BUCKET, key: 'incoming/first.png', etag: first.source.etag } });
    expect(Object.values(second.fieldResults).every((r) => r.attempts === 0 && r.usage === undefined)).toBe(true);
    expect(second.source.key).toBe('incoming/copy-of-first.png');
    expect(store.writes.map((w) => w.ref.key)).toEqual([
      'results/first.png.json',
      entryKey(),
      'results/copy-of-first.png.json',
    ]);
  });

  it('asks the model for an image with other bytes', async () => {
    const { run, model } = aWorld();
    await run('incoming/first.png');

    const other = await run('incoming/other.png', Buffer.concat([PNG_BYTES, Buffer.from('another label')]));

    expect(other.cache).toEqual({ hit: false });
    expect(model.calls).toHaveLength(4);
  });

  it('keeps the cache apart per configuration: another fingerprint reads another entry', async () => {
    // Prepare: cached under one configuration
    const store = new MemoryStore();
    await aWorld({ store }).run('incoming/first.png');

    // Act: the same image under a changed configuration
    const changed = aWorld({ store, settings: settings({ fingerprint: 'b'.repeat(64) }) });
    const doc = await changed.run('incoming/again.png');

    // Assess
    expect(doc.cache).toEqual({ hit: false });
    expect(changed.model.calls).toHaveLength(2);
  });

  it.each([
    ['not JSON', () => Buffer.from('{"kind": "fieldlens.content')],
    ['a wrong kind', () => Buffer.from(JSON.stringify(anEntry({ kind: 'something-else' as 'fieldlens.content-cache' })))],
    ['an unknown property', () => Buffer.from(JSON.stringify({ ...anEntry(), extra: true }))],
    ['other image bytes', () => Buffer.from(JSON.stringify(anEntry({ sha256: 'c'.repeat(64) })))],
    ['another configuration', () => Buffer.from(JSON.stringify(anEntry({ fingerprint: 'd'.repeat(64) })))],
    ['a field missing', () => Buffer.from(JSON.stringify(anEntry({ fields: { f0: 'x' } })))],
    ['an answer of the wrong type', () => Buffer.from(JSON.stringify(anEntry({ fields: { f0: 'x', f1: ['not', 'a', 'string'] } })))],
  ])('ignores an entry with %s, asks the model and replaces the entry', async (_what, body) => {
    // Prepare
    const { run, model, store, logger } = aWorld();
    store.put({ bucket: BUCKET, key: entryKey() }, body());

    // Act
    const doc = await run('incoming/a.png');

    // Assess
    expect(doc.cache).toEqual({ hit: false });
    expect(doc.fields).toEqual({ f0: 'zero', f1: 'one' });
    expect(model.calls).toHaveLength(2);
    expect(logger.lines.some((l) => l.message === 'content cache entry ignored')).toBe(true);
    const replaced = JSON.parse(store.objects.get(`${BUCKET}/${entryKey()}`)!.body.toString('utf8')) as CacheEntry;
    expect(replaced.fields).toEqual({ f0: 'zero', f1: 'one' });
  });

  it('uses a valid entry written by another run', async () => {
    const { run, model, store } = aWorld();
    store.put({ bucket: BUCKET, key: entryKey() }, Buffer.from(JSON.stringify(anEntry())));

    const doc = await run('incoming/a.png');

    expect(model.calls).toHaveLength(0);
    expect(doc.fields).toEqual({ f0: 'cached zero', f1: 'cached one' });
    expect(doc.cache).toEqual({ hit: true, source: anEntry().source, createdAt: anEntry().createdAt });
  });

  it('treats a failed cache read as a miss and still answers the image', async () => {
    // Prepare: reading the entry fails (a 403 without ListBucket, a timeout, …)
    const store = new MemoryStore();
    const read = store.read.bind(store);
    store.read = async (ref, options) => {
      if (ref.key.startsWith(CACHE.prefix)) throw new Error('AccessDenied');
      return read(ref, options);
    };
    const { run, model } = aWorld({ store });

    // Act
    const doc = await run('incoming/a.png');

    // Assess
    expect(doc.status).toBe('complete');
    expect(model.calls).toHaveLength(2);
  });

  it('looks the entry up while the result is looked at once more after the claim, not after it', async () => {
    // Prepare: the second HEAD of the result (the one after the lease claim)
    // answers late; note whether the entry was asked for meanwhile
    const store = new MemoryStore();
    const { run } = aWorld({ store });
    const head = store.head.bind(store);
    const entryReadsWhileRechecking: number[] = [];
    let resultHeads = 0;
    store.head = async (ref) => {
      if (ref.key === 'results/a.png.json' && ++resultHeads === 2) {
        await new Promise((r) => setTimeout(r, 20));
        entryReadsWhileRechecking.push(store.reads.filter((r) => r.ref.key === entryKey()).length);
      }
      return head(ref);
    };

    // Act
    const doc = await run('incoming/a.png');

    // Assess
    expect(doc.status).toBe('complete');
    expect(entryReadsWhileRechecking).toEqual([1]);
  });

  it('cancels the lookup and writes nothing when that second look finds the result already final', async () => {
    // Prepare: another delivery's final document lands just after the claim
    const store = new MemoryStore();
    const { model, deps, invocation } = aWorld({ store });
    const etag = store.put({ bucket: BUCKET, key: 'incoming/a.png' }, IMAGE);
    store.put({ bucket: BUCKET, key: entryKey() }, Buffer.from(JSON.stringify(anEntry())));
    const putJson = store.putJson.bind(store);
    store.putJson = async (ref, value, metadata, options) => {
      const written = await putJson(ref, value, metadata, options);
      if (ref.key.endsWith('.lease')) {
        store.put({ bucket: BUCKET, key: 'results/a.png.json' }, Buffer.from('{}'), {
          metadata: { 'source-etag': etag, 'config-fingerprint': FINGERPRINT, 'result-state': 'final', 'result-runs': '1' },
        });
      }
      return written;
    };
    const head = store.head.bind(store);
    let resultHeads = 0;
    store.head = async (ref) => {
      // The second look answers after the image and the entry were asked for.
      if (ref.key === 'results/a.png.json' && ++resultHeads === 2) await new Promise((r) => setTimeout(r, 20));
      return head(ref);
    };

    // Act
    const outcome = await processObject(deps, { bucket: BUCKET, key: 'incoming/a.png', etag }, invocation);

    // Assess
    expect(outcome).toEqual({ kind: 'skipped', reason: 'duplicate', resultKey: 'results/a.png.json' });
    expect(model.calls).toHaveLength(0);
    expect(store.writes).toHaveLength(0);
    const entryRead = store.reads.find((r) => r.ref.key === entryKey());
    expect(entryRead?.options.signal?.aborted).toBe(true);
  });

  it('stores the entry beside the lease’s release: the release does not wait for the entry', async () => {
    // Prepare: the entry's write answers late; note whether the lease was released meanwhile
    const store = new MemoryStore();
    const { run } = aWorld({ store });
    const putJson = store.putJson.bind(store);
    const leaseDeletesWhileStoring: number[] = [];
    store.putJson = async (ref, value, metadata, options) => {
      if (ref.key === entryKey()) {
        await new Promise((r) => setTimeout(r, 20));
        leaseDeletesWhileStoring.push(store.deletes.filter((d) => d.key.endsWith('.lease')).length);
      }
      return putJson(ref, value, metadata, options);
    };

    // Act
    const doc = await run('incoming/a.png');

    // Assess: the entry is still stored, after the document
    expect(doc.status).toBe('complete');
    expect(leaseDeletesWhileStoring).toEqual([1]);
    const keys = store.writes.map((w) => w.ref.key);
    expect(keys.indexOf('results/a.png.json')).toBeLessThan(keys.indexOf(entryKey()));
  });

  it('caches no partial document: its failed fields would be handed to every copy of the image', async () => {
    // Prepare: f1 fails for good
    const model = new FakeModel({ f0: [aReply('zero')], f1: [finalError(ErrorCode.MODEL_BAD_REQUEST)] });
    const { run, store } = aWorld({ model });

    // Act
    const doc = await run('incoming/a.png');

    // Assess
    expect(doc.status).toBe('partial');
    expect(store.objects.has(`${BUCKET}/${entryKey()}`)).toBe(false);
  });

  it('caches no retryable document', async () => {
    const model = new FakeModel({ f0: [aReply('zero')], f1: [retryableError()] });
    const { run, store } = aWorld({ model });

    const doc = await run('incoming/a.png');

    expect(doc.retryable).toBe(true);
    expect(store.objects.has(`${BUCKET}/${entryKey()}`)).toBe(false);
  });

  it('with the cache off, neither reads nor writes an entry and leaves `cache` out of the document', async () => {
    // Prepare: a valid entry exists, but the cache is off
    const { contentCache: _off, ...off } = settings();
    const { run, model, store } = aWorld({ settings: off });
    store.put({ bucket: BUCKET, key: entryKey() }, Buffer.from(JSON.stringify(anEntry())));

    // Act
    const doc = await run('incoming/a.png');

    // Assess
    expect(model.calls).toHaveLength(2);
    expect(doc).not.toHaveProperty('cache');
    expect(store.reads.some((r) => r.ref.key.startsWith(CACHE.prefix))).toBe(false);
    expect(store.writes.some((w) => w.ref.key.startsWith(CACHE.prefix))).toBe(false);
  });

  it('never fails the image when the cache write fails', async () => {
    // Prepare: entry writes fail, document writes succeed
    const store = new MemoryStore();
    const putJson = store.putJson.bind(store);
    store.putJson = async (ref, value, metadata, options) => {
      if (ref.key.startsWith(CACHE.prefix)) throw new Error('SlowDown');
      return putJson(ref, value, metadata, options);
    };
    const { run, logger } = aWorld({ store });

    // Act
    const doc = await run('incoming/a.png');

    // Assess
    expect(doc.status).toBe('complete');
    expect(logger.lines.some((l) => l.message.startsWith('content cache entry not written'))).toBe(true);
  });
});

describe('content cache pieces', () => {
  it('keys an entry by fingerprint and the sha-256 of the bytes, under the prefix', () => {
    const ref = cacheEntryRef(BUCKET, CACHE, FINGERPRINT, imageDigest(Buffer.from('abc')));

    expect(ref).toEqual({
      bucket: BUCKET,
      key: `results/.fieldlens/cache/${FINGERPRINT}/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.json`,
    });
  });

  it('finds nothing where there is no entry', async () => {
    const lookup = await lookupCachedAnswers({
      store: new MemoryStore(),
      ref: { bucket: BUCKET, key: entryKey() },
      digest: imageDigest(IMAGE),
      scope: settings(),
      logger: memoryLogger(),
    });

    expect(lookup).toEqual({ kind: 'miss', invalid: false });
  });

  it('counts only final complete documents, not cache hits, as cacheable', () => {
    const base = { status: 'complete', retryable: false } as ResultDocument;

    expect(isCacheable(base)).toBe(true);
    expect(isCacheable({ ...base, status: 'partial' })).toBe(false);
    expect(isCacheable({ ...base, retryable: true })).toBe(false);
    expect(isCacheable({ ...base, cache: { hit: true } })).toBe(false);
  });
});
