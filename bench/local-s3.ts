/**
 * The local S3-compatible server for one benchmark section: a temporary
 * directory, one bucket, an S3 client pointed at it, and uploads that return
 * the real-S3-shaped event the handler receives.
 *
 * The server runs in a child process (bench/s3-process.ts): sharing the
 * handlers' event loop on a 2-core machine would add its own work to every
 * S3 call the benchmark times.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3ObjectCreatedEvent, type S3NotificationEvent } from '../local/s3-server';
import { localS3Client } from './s3-client';

export const BENCH_BUCKET = 'fieldlens-bench';

/** Where `--import tsx` resolves from in the benchmark's child processes. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BenchS3 {
  readonly endpoint: string;
  readonly bucket: string;
  /** Uploads `body` under `key` and returns the event S3 would send for it. */
  put(key: string, body: Buffer, contentType?: string): Promise<S3NotificationEvent>;
  close(): Promise<void>;
}

/** Starts the server process and waits until it listens. */
export async function startBenchS3(): Promise<BenchS3> {
  const directory = await mkdtemp(join(tmpdir(), 'fieldlens-bench-s3-'));
  const script = fileURLToPath(new URL('./s3-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, directory, BENCH_BUCKET], {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    exited.then(([code]) => {
      throw new Error(`the local S3 server exited (${String(code)}) before listening:\n${stderr}`);
    }),
  ]);
  lines.close();
  // Keep draining its output, and say so if it stops while the run needs it.
  child.stdout.resume();
  let closing = false;
  void exited.then(([code]) => {
    if (!closing) process.stderr.write(`the local S3 server exited (${String(code)}) during the run:\n${stderr}\n`);
  });
  const { endpoint } = JSON.parse(first) as { endpoint: string };
  const client = localS3Client(endpoint);

  return {
    endpoint,
    bucket: BENCH_BUCKET,
    async put(key, body, contentType = 'image/png') {
      const out = await client.send(
        new PutObjectCommand({ Bucket: BENCH_BUCKET, Key: key, Body: body, ContentType: contentType }),
      );
      return s3ObjectCreatedEvent({ bucket: BENCH_BUCKET, key, size: body.length, etag: out.ETag ?? '' });
    },
    async close() {
      closing = true;
      client.destroy();
      if (child.exitCode === null) {
        child.stdin.end();
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
