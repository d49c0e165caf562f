/**
 * The project's OpenAI-compatible test server, set up for the benchmark and
 * run in its own process (bench/model-process.ts): it answers every field
 * with a short string after the configured latency, and can answer at once
 * while handlers warm up (first connections, first S3 calls), so warm-ups
 * cost no model time and leave the counters clean.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ModelEndpoint } from './handler';
import { PROJECT_ROOT } from './local-s3';
import type { ModelProcessOptions, ModelServerCommand, ModelServerStats } from './model-process';

export type { ModelServerStats };

export interface BenchModelServer {
  readonly endpoint: ModelEndpoint;
  /** The server's counters since the last reset. */
  stats(): Promise<ModelServerStats>;
  /** Clears the counters (high-water marks restart from what is in flight now). */
  reset(): Promise<void>;
  /** Runs `fn` with instant answers, then resets the counters. */
  warm<T>(fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function startBenchModel(options: ModelProcessOptions): Promise<BenchModelServer> {
  const script = fileURLToPath(new URL('./model-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(options)], {
    cwd: PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const waiting = new Map<number, (reply: { stats?: ModelServerStats }) => void>();
  let ready: ((baseUrl: string) => void) | undefined;
  const started = new Promise<string>((resolve) => (ready = resolve));
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as { id?: number; baseUrl?: string; stats?: ModelServerStats };
    if (msg.baseUrl !== undefined) ready?.(msg.baseUrl);
    else if (msg.id !== undefined) {
      waiting.get(msg.id)?.(msg);
      waiting.delete(msg.id);
    }
  });
  const failed = exited.then(([code]) => {
    throw new Error(`the test model server exited (${String(code)}):\n${stderr}`);
  });
  failed.catch(() => undefined);
  const baseUrl = await Promise.race([started, failed]);

  let nextId = 0;
  const send = (command: ModelServerCommand): Promise<{ stats?: ModelServerStats }> => {
    const id = nextId++;
    const reply = new Promise<{ stats?: ModelServerStats }>((resolve) => waiting.set(id, resolve));
    child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    return Promise.race([reply, failed]);
  };

  return {
    endpoint: { baseUrl, name: 'fieldlens-bench' },
    async stats() {
      return (await send({ cmd: 'stats' })).stats!;
    },
    async reset() {
      await send({ cmd: 'reset' });
    },
    async warm(fn) {
      await send({ cmd: 'instant', on: true });
      try {
        return await fn();
      } finally {
        await send({ cmd: 'instant', on: false });
        await send({ cmd: 'reset' });
      }
    },
    async close() {
      if (child.exitCode === null) {
        child.stdin.end();
        await exited;
      }
    },
  };
}
