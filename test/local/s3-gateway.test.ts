/**
 * The S3 gateway in front of s3rver, with the real AWS SDK client: the
 * conditional requests, atomic objects and complete listings fieldlens
 * relies on, each next to what s3rver alone does with the same request.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ListObjectsV2CommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, S3ObjectStore } from '../../functions/adapters/s3-store';
import { startS3Gateway, type S3Gateway } from '../../local/s3-gateway';
import { startLocalS3, type S3NotificationEvent } from '../../local/s3-server';

const BUCKET = 'gateway-test';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

function clientFor(endpoint: string): S3Client {
  return createS3Client({ AWS_ENDPOINT_URL_S3: endpoint }, { endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
}

/** What a rejected SDK call carried: the S3 error code and the HTTP status. */
async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { name: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!err) throw new Error('expected the call to fail');
  return { name: err.name, status: err.$metadata?.httpStatusCode };
}

let dir: string;
let s3rver: S3rver;
let gateway: S3Gateway;
/** Straight to s3rver, to show what the gateway is for. */
let bare: S3Client;
let client: S3Client;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldlens-gateway-'));
  s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
  const { port } = await s3rver.run();
  gateway = await startS3Gateway({ upstream: { host: '127.0.0.1', port }, directory: dir });
  bare = clientFor(`http://127.0.0.1:${port}`);
  client = clientFor(gateway.endpoint);
});
afterAll(async () => {
  bare?.destroy();
  client?.destroy();
  await gateway?.close();
  await s3rver?.close();
  await rm(dir, { recursive: true, force: true });
});

const put = (c: S3Client, Key: string, Body: string | Buffer, extra: { IfNoneMatch?: string; IfMatch?: string } = {}) =>
  c.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ...extra }));
const text = async (Key: string) => (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body!.transformToString();

describe('conditional writes', () => {
  it('s3rver alone overwrites an existing key despite If-None-Match: *; the gateway answers 412 PreconditionFailed', async () => {
    // Prepare
    await put(client, 'cond/exists.json', 'first');

    // Act
    await put(bare, 'cond/exists.json', 'overwritten by s3rver', { IfNoneMatch: '*' });
    const refused = await failure(put(client, 'cond/exists.json', 'refused by the gateway', { IfNoneMatch: '*' }));

    // Assess
    expect(refused).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await text('cond/exists.json')).toBe('overwritten by s3rver');
  });

  it('writes with If-None-Match: * when the key is absent', async () => {
    // Act
    const out = await put(client, 'cond/new.json', 'created', { IfNoneMatch: '*' });

    // Assess
    expect(out.ETag).toBe(`"${createHash('md5').update('created').digest('hex')}"`);
    expect(await text('cond/new.json')).toBe('created');
  });

  it('writes with If-Match of the current ETag, and refuses a stale one with 412, leaving the object as it was', async () => {
    // Prepare
    const v1 = await put(client, 'cond/cas.json', 'v1');

    // Act
    const v2 = await put(client, 'cond/cas.json', 'v2', { IfMatch: v1.ETag! });
    const stale = await failure(put(client, 'cond/cas.json', 'v3', { IfMatch: v1.ETag! }));

    // Assess
    expect(v2.ETag).not.toBe(v1.ETag);
    expect(stale).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await text('cond/cas.json')).toBe('v2');
  });

  it('answers If-Match on an absent key with 404 NoSuchKey, as S3 does, and creates nothing', async () => {
    // Act
    const absent = await failure(put(client, 'cond/absent.json', 'x', { IfMatch: '"0123456789abcdef0123456789abcdef"' }));

    // Assess
    expect(absent).toEqual({ name: 'NoSuchKey', status: 404 });
    expect(await failure(text('cond/absent.json'))).toEqual({ name: 'NoSuchKey', status: 404 });
  });

  it('deletes with If-Match of the current ETag only', async () => {
    // Prepare
    const v1 = await put(client, 'cond/delete.json', 'v1');
    const del = (IfMatch: string) => client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'cond/delete.json', IfMatch }));

    // Act
    const stale = await failure(del('"0123456789abcdef0123456789abcdef"'));
    const keptAfterStale = await text('cond/delete.json');
    await del(v1.ETag!);

    // Assess
    expect(stale).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(keptAfterStale).toBe('v1');
    expect(await failure(text('cond/delete.json'))).toEqual({ name: 'NoSuchKey', status: 404 });
  });

  it('of concurrent If-None-Match: * writes to one absent key, exactly one wins and the others get 412', async () => {
    // Prepare
    const bodies = Array.from({ length: 8 }, (_, i) => `writer ${i}`);

    // Act
    const outcomes = await Promise.allSettled(bodies.map((b) => put(client, 'cond/race.json', b, { IfNoneMatch: '*' })));

    // Assess
    const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [bodies[i]] : []));
    const losers = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode] : []));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(7);
    for (const status of losers) expect([409, 412]).toContain(status);
    expect(await text('cond/race.json')).toBe(winners[0]);
  });

  it('of concurrent If-Match writes naming the same ETag, exactly one wins and the others get 412', async () => {
    // Prepare
    const seen = await put(client, 'cond/cas-race.json', 'v1');
    const bodies = Array.from({ length: 8 }, (_, i) => `updater ${i}`);

    // Act
    const outcomes = await Promise.allSettled(bodies.map((b) => put(client, 'cond/cas-race.json', b, { IfMatch: seen.ETag! })));

    // Assess
    const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [bodies[i]] : []));
    const losers = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as { name: string }).name] : []));
    expect(winners).toHaveLength(1);
    expect(losers).toEqual(Array(7).fill('PreconditionFailed'));
    expect(await text('cond/cas-race.json')).toBe(winners[0]);
  });

  it('refuses a GET whose If-Match names another version (s3rver alone returns the object)', async () => {
    // Prepare
    await put(client, 'cond/read.json', 'current');
    const get = (c: S3Client) => c.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'cond/read.json', IfMatch: '"0123456789abcdef0123456789abcdef"' }));

    // Act
    const viaGateway = await failure(get(client));
    const viaS3rver = await get(bare);

    // Assess
    expect(viaGateway).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await viaS3rver.Body!.transformToString()).toBe('current');
  });
});

describe('atomic objects', () => {
  it('a reader sees one whole body while another client overwrites the key with bodies of other sizes', async () => {
    // Prepare: each body is one repeated byte, so a torn read shows as a wrong length or a mixed byte.
    const bodies = [Buffer.alloc(16, 'a'), Buffer.alloc(20_000, 'b'), Buffer.alloc(120_000, 'c')];
    await put(client, 'atomic/k.bin', bodies[0]!);
    let writing = true;
    const torn: string[] = [];
    let reads = 0;

    // Act
    const writer = (async () => {
      for (let i = 1; i <= 60; i++) await put(client, 'atomic/k.bin', bodies[i % bodies.length]!);
      writing = false;
    })();
    const reader = async () => {
      while (writing) {
        const got = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'atomic/k.bin' }))).Body!.transformToByteArray());
        reads++;
        if (!bodies.some((b) => b.equals(got))) torn.push(`${got.length} bytes starting ${JSON.stringify(got.subarray(0, 1).toString())}`);
      }
    };
    await Promise.all([writer, reader(), reader()]);

    // Assess
    expect(reads).toBeGreaterThan(0);
    expect(torn).toEqual([]);
  });
});

describe('ListObjectsV2', () => {
  const direct = Array.from({ length: 2500 }, (_, i) => `many/${String(i).padStart(5, '0')}.json`);
  // U+FF5E sorts before U+1F600 in UTF-8 (S3's order), after it in UTF-16 (JavaScript's).
  const nested = ['many/deep/x/y.json', 'many/deep/z.json', 'many/sub/a.json', 'many/～.json', 'many/😀.json'];
  const inS3Order = [...direct, ...nested.slice(0, 3), 'many/～.json', 'many/😀.json'];
  const SEEDED_BODY = '{"seeded":true}';

  beforeAll(async () => {
    // Writing 2,500 objects through s3rver takes ~10 s here, so they are laid
    // out as s3rver stores them: <key>._S3rver_object and its .md5 beside it.
    // Each is a hard link to one body, as a new file costs ~4 ms on this kind
    // of disk and a link a tenth of a millisecond; no test overwrites them
    // (s3rver rewrites in place, which would change every link).
    const body = join(dir, 'seed-body');
    await writeFile(body, SEEDED_BODY);
    await writeFile(`${body}.md5`, createHash('md5').update(SEEDED_BODY).digest('hex'));
    for (const key of [...direct, ...nested]) {
      const file = join(dir, BUCKET, `${key}._S3rver_object`);
      await mkdir(dirname(file), { recursive: true });
      await link(body, file);
      await link(`${body}.md5`, `${file}.md5`);
    }
  });

  async function listAll(input: Omit<ListObjectsV2CommandInput, 'Bucket'>) {
    const pages: Array<{ keys: string[]; prefixes: string[]; keyCount: number | undefined; truncated: boolean | undefined }> = [];
    let token: string | undefined;
    do {
      const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, ...input, ContinuationToken: token }));
      pages.push({
        keys: (out.Contents ?? []).map((o) => o.Key!),
        prefixes: (out.CommonPrefixes ?? []).map((p) => p.Prefix!),
        keyCount: out.KeyCount,
        truncated: out.IsTruncated,
      });
      token = out.NextContinuationToken;
    } while (token && pages.length < 10);
    return pages;
  }

  it('s3rver alone answers a listing of more than 1,000 keys with a 500', async () => {
    // Act
    const outcome = await failure(bare.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'many/' })));

    // Assess
    expect(outcome).toEqual({ name: 'InternalError', status: 500 });
  });

  it('pages through 2,505 keys under a prefix: every key once, in S3 order, 1,000 a page', async () => {
    // Act
    const pages = await listAll({ Prefix: 'many/' });

    // Assess
    expect(pages.map((p) => [p.keys.length, p.keyCount, p.truncated])).toEqual([
      [1000, 1000, true],
      [1000, 1000, true],
      [505, 505, false],
    ]);
    expect(pages.flatMap((p) => p.keys)).toEqual(inS3Order);
  });

  it('rolls keys up into common prefixes with a delimiter, each counted once in KeyCount', async () => {
    // Act
    const pages = await listAll({ Prefix: 'many/', Delimiter: '/' });

    // Assess
    expect(pages.flatMap((p) => p.prefixes)).toEqual(['many/deep/', 'many/sub/']);
    expect(pages.flatMap((p) => p.keys)).toEqual([...direct, 'many/～.json', 'many/😀.json']);
    expect(pages.map((p) => [p.keys.length, p.prefixes.length, p.keyCount, p.truncated])).toEqual([
      [1000, 0, 1000, true],
      [1000, 0, 1000, true],
      [502, 2, 504, false],
    ]);
  });

  it('counts a common prefix as one entry against MaxKeys, resumes after it, and starts after StartAfter', async () => {
    // Act: one entry a page, so 'many/deep/' ends a page while 'many/deep/z.json' sorts after it.
    const byOne = await listAll({ Prefix: 'many/', Delimiter: '/', MaxKeys: 1, StartAfter: 'many/02499.json' });
    const after = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'many/', StartAfter: 'many/02497.json' }));

    // Assess
    expect(byOne.map((p) => [...p.prefixes, ...p.keys])).toEqual([['many/deep/'], ['many/sub/'], ['many/～.json'], ['many/😀.json']]);
    expect(byOne.map((p) => p.truncated)).toEqual([true, true, true, false]);
    expect(after.Contents?.map((o) => o.Key)).toEqual(inS3Order.slice(2498));
  });

  it('lists what s3rver stored: the ETag and size a PUT answered, a folder marker with its slash', async () => {
    // Prepare
    const written = await put(client, 'listed/one.txt', 'hello');
    const marker = await put(client, 'listed/folder/', '');

    // Act
    const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'listed/' }));

    // Assess
    expect(out.Contents?.map((o) => [o.Key, o.ETag, o.Size])).toEqual([
      ['listed/folder/', marker.ETag, 0],
      ['listed/one.txt', written.ETag, 5],
    ]);
    expect(await text('many/00042.json')).toBe(SEEDED_BODY);
  });
});

describe('S3ObjectStore through the gateway', () => {
  it('throws WriteConflictError for a conditional putJson that loses', async () => {
    // Prepare
    const store = new S3ObjectStore(client);
    const ref = { bucket: BUCKET, key: 'store/result.json' };
    const first = await store.putJson(ref, { n: 1 }, {}, { condition: { ifNoneMatch: '*' } });

    const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

    // Act
    const again = await caught(store.putJson(ref, { n: 2 }, {}, { condition: { ifNoneMatch: '*' } }));
    const stale = await caught(store.putJson(ref, { n: 3 }, {}, { condition: { ifMatch: 'ffffffffffffffffffffffffffffffff' } }));
    const current = await store.putJson(ref, { n: 4 }, {}, { condition: { ifMatch: first.etag } });

    // Assess
    expect(again).toMatchObject({ name: 'WriteConflictError', code: 'WRITE_CONFLICT' });
    expect(stale).toMatchObject({ name: 'WriteConflictError', code: 'WRITE_CONFLICT' });
    expect(current.etag).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.parse(await text('store/result.json'))).toEqual({ n: 4 });
  });

  it('takes If-Match on a key that is gone (S3 answers 404 NoSuchKey) as a lost race, but a missing bucket as a failure', async () => {
    const store = new S3ObjectStore(client);
    const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

    const gone = await caught(store.putJson({ bucket: BUCKET, key: 'store/gone.json' }, {}, {}, { condition: { ifMatch: 'ffffffffffffffffffffffffffffffff' } }));
    const noBucket = await caught(store.putJson({ bucket: 'no-such-bucket', key: 'x.json' }, {}, {}, { condition: { ifNoneMatch: '*' } }));

    expect(gone).toMatchObject({ code: 'WRITE_CONFLICT' });
    expect(noBucket).toMatchObject({ code: 'RESULT_WRITE_FAILED' });
  });

  it('deletes an absent key without complaint', async () => {
    // Act / Assess
    await expect(new S3ObjectStore(client).delete({ bucket: BUCKET, key: 'store/never-written.json' })).resolves.toBeUndefined();
  });
});

describe('startLocalS3', () => {
  it('serves through the gateway and still sends events shaped as real S3 sends them, none for a refused write', async () => {
    // Prepare
    const local = await startLocalS3({ directory: join(dir, 'local'), buckets: ['local'] });
    const c = clientFor(local.endpoint);
    const events: S3NotificationEvent[] = [];
    local.onObjectCreated((e) => events.push(e));

    try {
      // Act
      await c.send(new PutObjectCommand({ Bucket: 'local', Key: 'incoming/a b.png', Body: 'x', IfNoneMatch: '*' }));
      const refused = await failure(c.send(new PutObjectCommand({ Bucket: 'local', Key: 'incoming/a b.png', Body: 'y', IfNoneMatch: '*' })));

      // Assess
      expect(refused).toEqual({ name: 'PreconditionFailed', status: 412 });
      expect(events.map((e) => e.Records[0]!.s3.object.key)).toEqual(['incoming/a+b.png']);
    } finally {
      c.destroy();
      await local.close();
    }
  });
});
