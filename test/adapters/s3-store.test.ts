/**
 * The S3 adapter against real servers on loopback: the local S3 server for
 * the normal paths, a tiny server that answers 403 the way S3 does for a
 * missing key when the caller may not list the bucket, and one that never
 * answers, for the deadlines.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, S3ObjectStore, type S3Timeouts } from '../../functions/adapters/s3-store';
import { startLocalS3, type LocalS3 } from '../../local/s3-server';

const BUCKET = 'store-test';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

function clientFor(endpoint: string, timeouts?: S3Timeouts): S3Client {
  return createS3Client(
    { AWS_ENDPOINT_URL_S3: endpoint },
    { endpoint, region: 'us-east-1', credentials, maxAttempts: 1 },
    timeouts ? { timeouts } : {},
  );
}

/** The error a promise rejects with, or `undefined` when it resolves. */
function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('S3ObjectStore against s3rver', () => {
  let dir: string;
  let s3: LocalS3;
  let client: S3Client;
  let store: S3ObjectStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fieldlens-store-'));
    s3 = await startLocalS3({ directory: dir, buckets: [BUCKET] });
    client = clientFor(s3.endpoint);
    store = new S3ObjectStore(client);
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'incoming/a b+c.png', Body: Buffer.from('0123456789'), ContentType: 'image/png' }),
    );
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('heads an object: unquoted ETag, size, content type, lower-case metadata', async () => {
    const info = await store.head({ bucket: BUCKET, key: 'incoming/a b+c.png' });
    expect(info).toMatchObject({ bucket: BUCKET, key: 'incoming/a b+c.png', bytes: 10, contentType: 'image/png', metadata: {} });
    expect(info!.etag).toMatch(/^[0-9a-f]{32}$/);
  });

  it('answers undefined for a key that does not exist (404)', async () => {
    expect(await store.head({ bucket: BUCKET, key: 'incoming/missing.png' })).toBeUndefined();
    expect(await store.read({ bucket: BUCKET, key: 'incoming/missing.png' }, { maxBytes: 100 })).toBeUndefined();
  });

  it('reads the whole object, or only its first bytes with the total size', async () => {
    const whole = await store.read({ bucket: BUCKET, key: 'incoming/a b+c.png' }, { maxBytes: 100 });
    expect(whole!.body.toString()).toBe('0123456789');
    const head = await store.read({ bucket: BUCKET, key: 'incoming/a b+c.png' }, { maxBytes: 100, firstBytes: 4 });
    expect(head!.body.toString()).toBe('0123');
    expect(head!.info.bytes).toBe(10);
  });

  it('refuses, without reading it, an object over maxBytes', async () => {
    await expect(store.read({ bucket: BUCKET, key: 'incoming/a b+c.png' }, { maxBytes: 5 })).rejects.toMatchObject({
      code: 'INPUT_TOO_LARGE',
    });
  });

  it('writes a JSON document with its metadata, readable back by head', async () => {
    await store.putJson({ bucket: BUCKET, key: 'results/a.json' }, { status: 'complete' }, { 'source-etag': 'abc' });
    const info = await store.head({ bucket: BUCKET, key: 'results/a.json' });
    expect(info).toMatchObject({ contentType: 'application/json; charset=utf-8', metadata: { 'source-etag': 'abc' } });
    const read = await store.read({ bucket: BUCKET, key: 'results/a.json' }, { maxBytes: 1000 });
    expect(JSON.parse(read!.body.toString())).toEqual({ status: 'complete' });
  });

  it('fails to write into a bucket that does not exist', async () => {
    await expect(store.putJson({ bucket: 'no-such-bucket', key: 'x.json' }, {}, {})).rejects.toMatchObject({ code: 'RESULT_WRITE_FAILED' });
  });
});

describe('S3ObjectStore and 403 for a missing key', () => {
  let server: Server;
  let store: S3ObjectStore;
  let client: S3Client;

  beforeAll(async () => {
    // What S3 answers for a missing key when the caller has no s3:ListBucket.
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    store = new S3ObjectStore(client);
  });
  afterAll(async () => {
    client?.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('reads 403 as absent only where asked (the result check)', async () => {
    expect(await store.head({ bucket: BUCKET, key: 'results/a.json' }, { forbiddenMeansAbsent: true })).toBeUndefined();
  });

  it('lets a 403 on the source through as an error, so a permission problem is never taken for a deleted image', async () => {
    await expect(store.head({ bucket: BUCKET, key: 'incoming/a.png' })).rejects.toMatchObject({
      code: 'OBJECT_READ_FAILED',
      cause: { $metadata: { httpStatusCode: 403 } },
    });
    await expect(store.read({ bucket: BUCKET, key: 'incoming/a.png' }, { maxBytes: 10 })).rejects.toMatchObject({
      code: 'OBJECT_READ_FAILED',
      cause: { $metadata: { httpStatusCode: 403 } },
    });
  });
});

describe('S3ObjectStore against a server that never answers', () => {
  let server: Server;
  let endpoint: string;
  const received: string[] = [];
  const ref = { bucket: BUCKET, key: 'results/a.json' };

  beforeAll(async () => {
    // Reads each request and never answers, as a stuck connection does;
    // the stalled key gets its headers and the first bytes of its body only.
    server = createServer((req, res) => {
      received.push(`${req.method} ${req.url?.split('?')[0]}`);
      req.resume();
      if (req.url?.startsWith(`/${BUCKET}/stalled`)) {
        res.writeHead(200, { 'content-length': '100', etag: '"0123456789abcdef0123456789abcdef"' });
        res.write('0123456789');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('gives up head, read and putJson when the invocation signal aborts, each with its own code', async () => {
    // Prepare: the default request timeout (15 s) is far off, so only the signal can end these calls.
    const client = clientFor(endpoint);
    const store = new S3ObjectStore(client);
    received.length = 0;

    // Act
    const [head, read, put] = await Promise.all([
      rejection(store.head(ref, { signal: AbortSignal.timeout(200) })),
      rejection(store.read(ref, { maxBytes: 100, signal: AbortSignal.timeout(200) })),
      rejection(store.putJson(ref, { status: 'complete' }, {}, { signal: AbortSignal.timeout(200) })),
    ]);
    client.destroy();

    // Assess
    expect(received.sort()).toEqual([`GET /${BUCKET}/results/a.json`, `HEAD /${BUCKET}/results/a.json`, `PUT /${BUCKET}/results/a.json`]);
    expect(head).toMatchObject({ code: 'OBJECT_READ_FAILED', cause: { name: 'AbortError' } });
    expect(read).toMatchObject({ code: 'OBJECT_READ_FAILED', cause: { name: 'AbortError' } });
    expect(put).toMatchObject({ code: 'RESULT_WRITE_FAILED', cause: { name: 'AbortError' } });
  });

  it('fails a request that gets no answer within the client request timeout, with no signal at all', async () => {
    // Prepare
    const client = clientFor(endpoint, { connectionMs: 1_000, requestMs: 200 });
    const store = new S3ObjectStore(client);

    // Act
    const [head, put] = await Promise.all([rejection(store.head(ref)), rejection(store.putJson(ref, {}, {}))]);
    client.destroy();

    // Assess
    expect(head).toMatchObject({ code: 'OBJECT_READ_FAILED', cause: { name: 'TimeoutError' } });
    expect(put).toMatchObject({ code: 'RESULT_WRITE_FAILED', cause: { name: 'TimeoutError' } });
  });

  it('fails a read whose body stops arriving half-way, on the same timeout, instead of waiting on', async () => {
    // Prepare
    const client = clientFor(endpoint, { connectionMs: 1_000, requestMs: 200 });
    const store = new S3ObjectStore(client);

    // Act
    const read = await rejection(store.read({ bucket: BUCKET, key: 'stalled.png' }, { maxBytes: 100 }));
    client.destroy();

    // Assess
    expect(read).toMatchObject({ code: 'OBJECT_READ_FAILED', cause: { name: 'TimeoutError' } });
  });
});
