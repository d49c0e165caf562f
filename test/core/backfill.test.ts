import { describe, expect, it } from 'vitest';
import {
  addTallies,
  backfillItemFrom,
  checkItem,
  EMPTY_TALLY,
  isSelected,
  MAX_LISTED_FAILURES,
  runBackfillBatch,
  type BackfillItem,
  type BackfillTally,
} from '../../functions/core/backfill';
import { readBackfillBatch, reserveForAnotherImage } from '../../functions/core/backfill-batch';
import type { DirectDeps, Invocation } from '../../functions/core/direct';
import { ErrorCode, FieldlensError, ObjectReadError } from '../../functions/core/errors';
import { createLimit } from '../../functions/core/limit';
import type { ObjectInfo, ObjectRef } from '../../functions/core/ports';
import { RESULT_METADATA } from '../../functions/core/result-writer';
import type { PipelineSettings } from '../../functions/core/settings';
import { FakeClock, FakeModel, finalError, memoryLogger, MemoryStore, PNG_BYTES, retryableError, stringFields } from './fakes';

const BUCKET = 'labels';
const FINGERPRINT = 'f'.repeat(64);
const SETTINGS: PipelineSettings = {
  fields: stringFields(3),
  inputPrefix: 'incoming/',
  outputPrefix: 'results/',
  maxImageBytes: 1024,
  fingerprint: FINGERPRINT,
};

/** A store whose HEAD of some keys fails (an S3 error that is not "absent"). */
class FlakyStore extends MemoryStore {
  readonly failHead = new Set<string>();
  override async head(ref: ObjectRef): Promise<ObjectInfo | undefined> {
    if (this.failHead.has(ref.key)) throw new ObjectReadError(`cannot read s3://${ref.bucket}/${ref.key}: SlowDown (HTTP 503)`);
    return super.head(ref);
  }
}

function aWorld(model = new FakeModel()) {
  const store = new FlakyStore();
  const clock = new FakeClock();
  const deps: DirectDeps = {
    store,
    model,
    clock,
    limit: createLimit(3),
    logger: memoryLogger(),
    settings: SETTINGS,
    modelSettings: { timeoutMs: 60_000, maxRetries: 0, maxTokens: 256 },
  };
  const invocation: Invocation = {
    id: 'backfill-1',
    deadline: { signal: new AbortController().signal, at: clock.now() + 600_000 },
    endsAt: clock.now() + 900_000,
  };
  /** An image under the input prefix, listed as ListObjectsV2 would list it. */
  const image = (name: string): BackfillItem => {
    const key = `incoming/${name}`;
    const etag = store.put({ bucket: BUCKET, key }, PNG_BYTES, { contentType: 'image/png' });
    return { bucket: BUCKET, key, etag, size: PNG_BYTES.length };
  };
  /** A stored result for `item` with the given metadata. */
  const result = (item: BackfillItem, meta: { etag?: string; fingerprint?: string; state?: string }, body: unknown = {}) =>
    store.put({ bucket: BUCKET, key: `results/${item.key.slice('incoming/'.length)}.json` }, Buffer.from(JSON.stringify(body)), {
      metadata: {
        [RESULT_METADATA.sourceEtag]: meta.etag ?? item.etag!,
        [RESULT_METADATA.fingerprint]: meta.fingerprint ?? FINGERPRINT,
        [RESULT_METADATA.state]: meta.state ?? 'final',
      },
    });
  return { store, model, deps, invocation, image, result };
}

describe('checkItem: how a listed object’s result stands', () => {
  it('finds a missing, a stale (another ETag or configuration), a retryable and a current result', async () => {
    // Prepare
    const w = aWorld();
    const [missing, otherEtag, otherConfig, retryable, current] = ['m.png', 'e.png', 'c.png', 'r.png', 'ok.png'].map(w.image);
    w.result(otherEtag!, { etag: 'older-version' });
    w.result(otherConfig!, { fingerprint: 'another-field-set' });
    w.result(retryable!, { state: 'retryable' });
    w.result(current!, {});

    // Act
    const checks = await Promise.all([missing, otherEtag, otherConfig, retryable, current].map((i) => checkItem(w.deps, i!)));

    // Assess
    expect(checks.map((c) => (c.kind === 'checked' ? c.freshness : c.reason))).toEqual(['missing', 'stale', 'stale', 'retryable', 'current']);
  });

  it('skips what the key guard refuses, without a HEAD', async () => {
    const w = aWorld();

    const checks = await Promise.all(
      ['results/a.png.json', 'other/a.png', 'incoming/folder/'].map((key) => checkItem(w.deps, { bucket: BUCKET, key, etag: 'x' })),
    );

    expect(checks).toEqual([
      { kind: 'skip', reason: 'under-output-prefix' },
      { kind: 'skip', reason: 'outside-input-prefix' },
      { kind: 'skip', reason: 'folder-marker' },
    ]);
  });

  it('HEADs the object when the listing gave no ETag, and skips it when it is gone', async () => {
    const w = aWorld();
    const item = w.image('a.png');

    const found = await checkItem(w.deps, { bucket: BUCKET, key: item.key });
    const gone = await checkItem(w.deps, { bucket: BUCKET, key: 'incoming/deleted.png' });

    expect(found).toMatchObject({ kind: 'checked', freshness: 'missing', etag: item.etag });
    expect(gone).toEqual({ kind: 'skip', reason: 'not-found' });
  });
});

describe('isSelected', () => {
  it.each([
    ['missing', 'missing', true],
    ['missing', 'stale', false],
    ['stale', 'stale', true],
    ['retryable', 'retryable', true],
    ['retryable', 'all', true],
    ['missing', 'all', true],
    ['current', 'all', false],
    ['current', 'stale', false],
  ] as const)('%s under --only %s: %s', (freshness, selection, expected) => {
    expect(isSelected(freshness, selection)).toBe(expected);
  });
});

describe('runBackfillBatch', () => {
  it('computes what has no current result and costs only a HEAD for what has one', async () => {
    // Prepare
    const w = aWorld();
    const fresh = w.image('fresh.png');
    const done = w.image('done.png');
    w.result(done, {});

    // Act
    const { tally, remaining } = await runBackfillBatch(w.deps, [fresh, done], { selection: 'all', dryRun: false, invocation: w.invocation });

    // Assess
    expect(remaining).toEqual([]);
    expect(tally).toEqual({ items: 2, outcomes: { current: 1, 'written:complete': 1 }, modelCalls: 3, failures: [] });
    expect(w.model.calls).toHaveLength(3);
    expect(w.store.reads.map((r) => r.ref.key)).toEqual(['incoming/fresh.png']);
  });

  it('a second run over the same objects asks the model nothing', async () => {
    const w = aWorld();
    const items = ['a.png', 'b.png', 'c.png'].map(w.image);
    await runBackfillBatch(w.deps, items, { selection: 'all', dryRun: false, invocation: w.invocation });
    const callsAfterFirst = w.model.calls.length;

    const { tally } = await runBackfillBatch(w.deps, items, { selection: 'all', dryRun: false, invocation: w.invocation });

    expect(callsAfterFirst).toBe(9);
    expect(w.model.calls).toHaveLength(9);
    expect(tally).toMatchObject({ items: 3, outcomes: { current: 3 }, modelCalls: 0 });
  });

  it('computes only what the selection asks for and counts the rest as not selected', async () => {
    const w = aWorld();
    const missing = w.image('m.png');
    const stale = w.image('s.png');
    w.result(stale, { fingerprint: 'old' });

    const { tally } = await runBackfillBatch(w.deps, [missing, stale], { selection: 'stale', dryRun: false, invocation: w.invocation });

    expect(tally.outcomes).toEqual({ 'not-selected:missing': 1, 'written:complete': 1 });
    expect(w.store.writes.map((x) => x.ref.key)).toEqual(['results/s.png.json']);
  });

  it('in a dry run writes nothing, asks nothing, and counts the calls it would make', async () => {
    // Prepare: a real retryable document (one field failed for a passing reason), and an object without a result
    const [f1] = SETTINGS.fields.map((f) => f.name);
    const w = aWorld(new FakeModel({ [f1!]: [retryableError(ErrorCode.MODEL_SERVER_ERROR), retryableError(ErrorCode.MODEL_SERVER_ERROR)] }));
    const retryable = w.image('r.png');
    await runBackfillBatch(w.deps, [retryable], { selection: 'all', dryRun: false, invocation: w.invocation });
    const missing = w.image('m.png');
    const calls = w.model.calls.length;
    const writes = w.store.writes.length;

    // Act
    const { tally } = await runBackfillBatch(w.deps, [missing, retryable], { selection: 'all', dryRun: true, invocation: w.invocation });

    // Assess: every field of the missing one, only the failed field of the retryable one
    expect(w.model.calls).toHaveLength(calls);
    expect(w.store.writes).toHaveLength(writes);
    expect(tally.outcomes).toEqual({ 'would-compute:missing': 1, 'would-compute:retryable': 1 });
    expect(tally.modelCalls).toBe(3 + 1);
  });

  it('leaves the objects it has no time for to the next invocation, in order', async () => {
    const w = aWorld();
    const items = ['a.png', 'b.png', 'c.png'].map(w.image);
    let started = 0;

    const { tally, remaining } = await runBackfillBatch(w.deps, items, {
      selection: 'all',
      dryRun: false,
      invocation: w.invocation,
      hasTimeForAnother: () => ++started < 1,
    });

    expect(tally).toMatchObject({ items: 1, outcomes: { 'written:complete': 1 } });
    expect(remaining.map((i) => i.key)).toEqual(['incoming/b.png', 'incoming/c.png']);
  });

  it('records a failed object with its error and finishes the others', async () => {
    const w = aWorld();
    const [a, b] = ['a.png', 'b.png'].map(w.image);
    w.store.failHead.add('results/a.png.json');

    const { tally } = await runBackfillBatch(w.deps, [a!, b!], { selection: 'all', dryRun: false, invocation: w.invocation });

    expect(tally.outcomes).toEqual({ failed: 1, 'written:complete': 1 });
    expect(tally.failures).toEqual([{ key: 'incoming/a.png', code: ErrorCode.OBJECT_READ_FAILED, message: expect.stringContaining('SlowDown') }]);
  });

  it('labels a document by its status and whether it is retryable', async () => {
    const [f1] = SETTINGS.fields.map((f) => f.name);
    const w = aWorld(new FakeModel({ [f1!]: [retryableError(ErrorCode.MODEL_SERVER_ERROR)] }));
    const bad = aWorld(new FakeModel({}, finalError()));

    const partial = await runBackfillBatch(w.deps, [w.image('a.png')], { selection: 'all', dryRun: false, invocation: w.invocation });
    const failed = await runBackfillBatch(bad.deps, [bad.image('a.png')], { selection: 'all', dryRun: false, invocation: bad.invocation });

    expect(partial.tally.outcomes).toEqual({ 'written:partial:retryable': 1 });
    expect(failed.tally.outcomes).toEqual({ 'written:failed': 1 });
  });
});

describe('addTallies', () => {
  it('sums outcomes and calls and keeps the first failures only', () => {
    const failure = (i: number) => ({ key: `k${i}`, code: ErrorCode.INTERNAL, message: 'x' });
    const a: BackfillTally = { items: 15, outcomes: { current: 5, failed: 10 }, modelCalls: 4, failures: Array.from({ length: 15 }, (_, i) => failure(i)) };
    const b: BackfillTally = { items: 10, outcomes: { failed: 10 }, modelCalls: 1, failures: Array.from({ length: 10 }, (_, i) => failure(100 + i)) };

    const sum = addTallies(addTallies(EMPTY_TALLY, a), b);

    expect(sum).toMatchObject({ items: 25, outcomes: { current: 5, failed: 20 }, modelCalls: 5 });
    expect(sum.failures).toHaveLength(MAX_LISTED_FAILURES);
    expect(sum.failures[0]!.key).toBe('k0');
  });
});

describe('the batch contract', () => {
  it('reads ListObjectsV2 items: quoted ETags unquoted, the bucket from the batch input', () => {
    const batch = readBackfillBatch({
      Items: [{ Key: 'incoming/a b.png', ETag: '"abc"', Size: 12, LastModified: 'x', StorageClass: 'STANDARD' }],
      BatchInput: { bucket: BUCKET, only: 'missing', dryRun: false, source: 'list' },
    });

    expect(batch.items).toEqual([{ bucket: BUCKET, key: 'incoming/a b.png', etag: 'abc', size: 12 }]);
    expect(batch.selection).toBe('missing');
    expect(batch.carried).toEqual(EMPTY_TALLY);
  });

  it('decodes S3 Inventory keys, which its CSV reports URL-encode, and string sizes', () => {
    const batch = readBackfillBatch({
      Items: [{ Bucket: 'other', Key: 'incoming/a+b%2Bc.png', Size: '12' }],
      BatchInput: { bucket: BUCKET, source: 'inventory' },
    });

    expect(batch.items).toEqual([{ bucket: 'other', key: 'incoming/a b+c.png', size: 12 }]);
    expect(batch.batchInput).toMatchObject({ only: 'all', dryRun: false });
  });

  it('refuses a batch of another shape, naming the problem', () => {
    const act = () => readBackfillBatch({ Items: [{ Key: 'incoming/a.png' }], BatchInput: { bucket: BUCKET, only: 'everything' } });

    expect(act).toThrow(FieldlensError);
    expect(act).toThrow(/backfill batch: BatchInput\.only/);
  });

  it('keeps one attempt of every round of fields for another image, at most half the budget', () => {
    expect(reserveForAnotherImage({ fieldCount: 5, perImage: 5, timeoutMs: 20_000, budgetMs: 295_000 })).toBe(20_000);
    expect(reserveForAnotherImage({ fieldCount: 5, perImage: 2, timeoutMs: 20_000, budgetMs: 295_000 })).toBe(60_000);
    expect(reserveForAnotherImage({ fieldCount: 5, perImage: 5, timeoutMs: 300_000, budgetMs: 295_000 })).toBe(147_500);
  });

  it('turns listing entries into items', () => {
    expect(backfillItemFrom({ Key: 'incoming/x.png', ETag: 'W/"e"', Size: 0 }, BUCKET)).toEqual({ bucket: BUCKET, key: 'incoming/x.png', etag: 'e', size: 0 });
  });
});
