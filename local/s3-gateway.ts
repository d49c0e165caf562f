/**
 * An HTTP gateway in front of s3rver 3.7.1 that adds what fieldlens relies
 * on and s3rver lacks, so that local runs behave like S3:
 *
 * - Conditional requests. s3rver ignores `If-None-Match: *` and `If-Match`
 *   on PutObject, `If-Match` on DeleteObject and GetObject/HeadObject; the
 *   gateway checks them under the key's lock, so of two racing conditional
 *   writes exactly one wins.
 * - Atomic objects. s3rver rewrites a file in place and answers a PUT before
 *   its write stream is flushed, so a reader could see an empty or partial
 *   body. Each key has a readers-writer lock: a write holds it until the file
 *   hashes to the ETag s3rver answered, a read until s3rver has sent it all.
 * - ListObjectsV2 for any number of keys. s3rver answers every truncated
 *   listing with a 500 (its continuation token uses DES, which OpenSSL 3
 *   refuses), lists in file-system order rather than key order and drops
 *   common prefixes whose objects sit two levels down. The gateway answers
 *   listings itself, from s3rver's files.
 *
 * Everything else is forwarded unchanged, the `host` and signature headers
 * included. s3rver keeps an object `a/b/c` of a bucket as
 * `<directory>/<bucket>/a/b/c._S3rver_object`, its MD5 (the ETag) in a
 * `.md5` file beside it (s3rver/lib/stores/filesystem.js, POSIX paths).
 * Requests must be path-style, as `createS3Client` sends them to a local
 * endpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

export interface S3GatewayOptions {
  /** Where s3rver listens. */
  readonly upstream: { readonly host: string; readonly port: number };
  /** s3rver's `directory`, read for object state and listings. */
  readonly directory: string;
  /** @default 0 (any free port) */
  readonly port?: number;
}

export interface S3Gateway {
  /** e.g. `http://127.0.0.1:4568`. */
  readonly endpoint: string;
  close(): Promise<void>;
}

interface S3Error {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly fields?: Readonly<Record<string, string>>;
}

interface ObjectState {
  readonly etag: string;
  readonly size: number;
  readonly mtime: Date;
}

const OBJECT_SUFFIX = '._S3rver_object';
const UPLOADS_DIR = '._S3rver_uploads';
/** Headers of one connection, not of the request. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'expect', 'upgrade', 'proxy-connection'];
/** How long a write waits for s3rver's file to hold what it acknowledged. */
const FLUSH_WAIT_MS = 5_000;
const PAGE_LIMIT = 1000;

/** One key's readers-writer lock, first come first served, so later readers cannot starve a waiting writer. */
class KeyLock {
  readers = 0;
  writer = false;
  readonly queue: Array<{ exclusive: boolean; grant: () => void }> = [];

  pump(): void {
    for (let next = this.queue[0]; next; next = this.queue[0]) {
      if (this.writer || (next.exclusive && this.readers > 0)) return;
      this.queue.shift();
      if (next.exclusive) this.writer = true;
      else this.readers++;
      next.grant();
    }
  }
}

class KeyLocks {
  readonly #locks = new Map<string, KeyLock>();

  async run<T>(key: string, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    const lock = this.#locks.get(key) ?? new KeyLock();
    this.#locks.set(key, lock);
    await new Promise<void>((grant) => {
      lock.queue.push({ exclusive, grant });
      lock.pump();
    });
    try {
      return await fn();
    } finally {
      if (exclusive) lock.writer = false;
      else lock.readers--;
      lock.pump();
      if (!lock.writer && lock.readers === 0 && lock.queue.length === 0) this.#locks.delete(key);
    }
  }
}

/** Starts the gateway on 127.0.0.1 in front of s3rver at `upstream`. */
export async function startS3Gateway(options: S3GatewayOptions): Promise<S3Gateway> {
  const { directory, upstream } = options;
  const agent = new Agent({ keepAlive: true });
  const locks = new KeyLocks();
  const fileOf = (bucket: string, key: string): string => {
    const parts = key.split('/');
    return join(directory, bucket, ...parts.slice(0, -1), `${parts.at(-1) ?? ''}${OBJECT_SUFFIX}`);
  };

  /** Forwards the request as it came; `beforeReply` runs before s3rver's answer is passed on. */
  const forward = (req: IncomingMessage, res: ServerResponse, beforeReply?: (up: IncomingMessage) => Promise<void>) =>
    new Promise<void>((resolve) => {
      const headers = withoutHopByHop(req.headers);
      const up = request({ ...upstream, method: req.method, path: req.url, headers, agent }, (upRes) => {
        void (beforeReply?.(upRes).catch(() => undefined) ?? Promise.resolve()).then(() => {
          if (res.headersSent) return void upRes.resume();
          res.writeHead(upRes.statusCode ?? 502, withoutHopByHop(upRes.headers));
          pipeline(upRes, res, () => resolve());
        });
      });
      up.on('error', () => {
        if (res.headersSent) res.destroy();
        else sendError(req, res, { status: 500, code: 'InternalError', message: 'The local S3 server did not answer.' });
        resolve();
      });
      pipeline(req, up, () => {});
    });

  const read = async (req: IncomingMessage, res: ServerResponse, file: string): Promise<void> => {
    const ifMatch = header(req, 'if-match');
    // An absent object is s3rver's to answer (404 NoSuchKey).
    const state = ifMatch === undefined ? undefined : await objectState(file);
    if (ifMatch !== undefined && state && !etagMatches(ifMatch, state.etag)) return sendError(req, res, preconditionFailed('If-Match'));
    await forward(req, res);
  };

  const write = async (req: IncomingMessage, res: ServerResponse, file: string, key: string, query: URLSearchParams): Promise<void> => {
    const refusal = await refuseWrite(req, key, file);
    if (refusal) {
      req.resume();
      return sendError(req, res, refusal);
    }
    const rewritesObject = req.method === 'PUT' && !req.headers['x-amz-copy-source'] && !query.has('uploadId');
    await forward(req, res, async (up) => {
      const md5 = /^"?([0-9a-f]{32})"?$/.exec(String(up.headers.etag ?? ''))?.[1];
      if (rewritesObject && up.statusCode === 200 && md5) await untilWritten(file, md5);
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const [bucketPart = '', ...keyParts] = url.pathname.slice(1).split('/');
    let bucket: string;
    let key: string;
    try {
      bucket = decodeURIComponent(bucketPart);
      key = decodeURIComponent(keyParts.join('/'));
    } catch {
      return forward(req, res); // a malformed path is s3rver's to refuse
    }
    if (bucket && !key && req.method === 'GET' && url.searchParams.get('list-type') === '2') {
      const page = await listObjectsV2(directory, bucket, url.searchParams, (k) =>
        locks.run(`${bucket}/${k}`, false, () => objectState(fileOf(bucket, k))),
      );
      if ('status' in page) return sendError(req, res, page);
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(page.xml) });
      return void res.end(page.xml);
    }
    if (!bucket || !key) return forward(req, res);
    const file = fileOf(bucket, key);
    if (req.method === 'GET' || req.method === 'HEAD') return locks.run(`${bucket}/${key}`, false, () => read(req, res, file));
    if (req.method === 'PUT' || req.method === 'POST' || req.method === 'DELETE') {
      return locks.run(`${bucket}/${key}`, true, () => write(req, res, file, key, url.searchParams));
    }
    return forward(req, res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else sendError(req, res, { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/** S3's answer to a PUT, POST (multipart completion) or DELETE whose condition fails, if it does. */
async function refuseWrite(req: IncomingMessage, key: string, file: string): Promise<S3Error | undefined> {
  const ifNoneMatch = req.method === 'DELETE' ? undefined : header(req, 'if-none-match');
  const ifMatch = header(req, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    const message = 'A header you provided implies functionality that is not implemented';
    return { status: 501, code: 'NotImplemented', message, fields: { Header: 'If-None-Match' } };
  }
  const state = await objectState(file);
  if (ifNoneMatch !== undefined && state) return preconditionFailed('If-None-Match');
  // S3 answers If-Match on a missing key with 404 NoSuchKey, not 412.
  if (ifMatch !== undefined && !state) return { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.', fields: { Key: key } };
  if (ifMatch !== undefined && state && !etagMatches(ifMatch, state.etag)) return preconditionFailed('If-Match');
  return undefined;
}

/** One ListObjectsV2 page: keys in UTF-8 byte order, at most 1000 entries, common prefixes counted as one each. */
async function listObjectsV2(
  directory: string,
  bucket: string,
  query: URLSearchParams,
  describe: (key: string) => Promise<ObjectState | undefined>,
): Promise<{ xml: string } | S3Error> {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const maxKeysParam = query.get('max-keys');
  if (maxKeysParam !== null && !/^\d{1,10}$/.test(maxKeysParam)) {
    return { status: 400, code: 'InvalidArgument', message: 'Provided max-keys not an integer or within integer range' };
  }
  const maxKeys = Math.min(PAGE_LIMIT, maxKeysParam === null ? PAGE_LIMIT : Number(maxKeysParam));
  const token = query.get('continuation-token');
  const from = token === null ? { after: query.get('start-after') ?? '', afterPrefix: false } : decodeToken(token);
  if (!from) return { status: 400, code: 'InvalidArgument', message: 'The continuation token provided is incorrect' };
  const root = join(directory, bucket);
  if (!(await stat(root).then((s) => s.isDirectory(), () => false))) {
    return { status: 404, code: 'NoSuchBucket', message: 'The specified bucket does not exist', fields: { BucketName: bucket } };
  }

  // Only the directory the prefix names needs walking. S3 orders keys by
  // their UTF-8 bytes, which differs from JavaScript's UTF-16 order above U+FFFF.
  const keys = (await objectFilesUnder(join(root, prefix.slice(0, prefix.lastIndexOf('/') + 1))))
    .map((f) => relative(root, f).split(sep).join('/').slice(0, -OBJECT_SUFFIX.length))
    .filter((k) => k.startsWith(prefix))
    .map((key) => ({ key, bytes: Buffer.from(key) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  const after = Buffer.from(from.after);
  const contents: string[] = [];
  const prefixes: string[] = [];
  let last: { item: string; isPrefix: boolean } | undefined;
  let truncated = false;
  for (const { key, bytes } of keys) {
    // A page that ended on a common prefix resumes after every key under it.
    if (Buffer.compare(bytes, after) <= 0 || (from.afterPrefix && key.startsWith(from.after))) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const item = cut >= 0 ? key.slice(0, cut + delimiter.length) : key;
    if (cut >= 0 && item === last?.item) continue; // keys under one common prefix are adjacent
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = maxKeys > 0;
      break;
    }
    (cut >= 0 ? prefixes : contents).push(item);
    last = { item, isPrefix: cut >= 0 };
  }

  // Described under each key's lock, so a listing never shows a half-written object.
  const objects: Array<[string, ObjectState]> = [];
  for (let i = 0; i < contents.length; i += 200) {
    const batch = contents.slice(i, i + 200);
    const states = await Promise.all(batch.map(describe));
    batch.forEach((key, j) => states[j] && objects.push([key, states[j]])); // gone since the walk: left out
  }
  const encoded = query.get('encoding-type') === 'url';
  const enc = (s: string) => xml(encoded ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const el = (name: string, value: string | undefined) => (value ? `<${name}>${value}</${name}>` : '');
  const body = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
    `<Name>${xml(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>${el('Delimiter', enc(delimiter))}${el('EncodingType', encoded ? 'url' : undefined)}`,
    `<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${objects.length + prefixes.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>`,
    token === null ? el('StartAfter', enc(from.after)) : el('ContinuationToken', xml(token)),
    truncated && last ? el('NextContinuationToken', encodeToken(last.item, last.isPrefix)) : '',
    ...objects.map(
      ([key, o]) =>
        `<Contents><Key>${enc(key)}</Key><LastModified>${o.mtime.toISOString()}</LastModified>` +
        `<ETag>&quot;${o.etag}&quot;</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    ),
    ...prefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`),
    '</ListBucketResult>',
  ];
  return { xml: body.join('') };
}

/** Every object file below `dir` (s3rver's multipart scratch space left out). */
async function objectFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory() && e.name !== UPLOADS_DIR) found.push(...(await objectFilesUnder(path)));
    else if (e.isFile() && e.name.endsWith(OBJECT_SUFFIX)) found.push(path);
  }
  return found;
}

/** The object's ETag (unquoted MD5), size and time, or `undefined` when there is no object. */
async function objectState(file: string): Promise<ObjectState | undefined> {
  const [info, stored] = await Promise.all([stat(file).catch(() => undefined), readFile(`${file}.md5`, 'utf8').catch(() => '')]);
  if (!info) return undefined;
  const etag = stored.trim() || (await md5Of(file).catch(() => undefined));
  return etag ? { etag, size: info.size, mtime: info.mtime } : undefined;
}

function md5Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('md5');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

/** Waits until s3rver's file holds the bytes it acknowledged (bounded: a stuck disk must not hang the key). */
async function untilWritten(file: string, md5: string): Promise<void> {
  const giveUpAt = Date.now() + FLUSH_WAIT_MS;
  while ((await md5Of(file).catch(() => undefined)) !== md5 && Date.now() < giveUpAt) await sleep(2);
}

function etagMatches(condition: string, etag: string): boolean {
  return condition.split(',').some((c) => {
    const v = c.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
    return v === '*' || v === etag;
  });
}

function preconditionFailed(condition: string): S3Error {
  const message = 'At least one of the pre-conditions you specified did not hold';
  return { status: 412, code: 'PreconditionFailed', message, fields: { Condition: condition } };
}

/** An S3 error document (no body for HEAD, as S3 does). */
function sendError(req: IncomingMessage, res: ServerResponse, e: S3Error): void {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const fields = Object.entries(e.fields ?? {}).map(([k, v]) => `<${k}>${xml(v)}</${k}>`);
  const body =
    req.method === 'HEAD'
      ? ''
      : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${xml(e.message)}</Message>${fields.join('')}<RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(e.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': requestId });
  res.end(body);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const copy = { ...headers };
  for (const h of HOP_BY_HOP) delete copy[h];
  return copy;
}

function encodeToken(after: string, afterPrefix: boolean): string {
  return Buffer.from(JSON.stringify([after, afterPrefix])).toString('base64url');
}

function decodeToken(token: string): { after: string; afterPrefix: boolean } | undefined {
  try {
    const [after, afterPrefix] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    return typeof after === 'string' && typeof afterPrefix === 'boolean' ? { after, afterPrefix } : undefined;
  } catch {
    return undefined;
  }
}

function xml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
