/**
 * One case of the memory benchmark, run in a fresh process so its peak RSS
 * is the handler's alone: builds the handler (bench/handler.ts, no local
 * servers), runs it on one S3 event, and prints one JSON line with its
 * peak resident set size.
 *
 * On Linux the peak is the process's own `VmHWM` (/proc/self/status):
 * `process.resourceUsage().maxRSS` is reported too, but Linux carries the
 * pre-exec high-water mark over an exec, so a child forked from a large
 * parent starts with the parent's RSS as its maxRSS.
 *
 * Input: the `BENCH_MEMORY_CASE` environment variable, a JSON
 * {@link MemoryCaseInput}. Started by bench/memory.ts.
 */
import { readFileSync } from 'node:fs';
import { createBenchHandler, type ModelEndpoint } from './handler';
import { syntheticFields } from './fields';
import { localS3Client } from './s3-client';

export interface MemoryCaseInput {
  readonly s3Endpoint: string;
  readonly model: ModelEndpoint;
  readonly fields: number;
  readonly maxImageBytes: number;
  /** The S3 event for the uploaded image. */
  readonly event: unknown;
}

export interface MemoryCaseOutput {
  readonly fields: number;
  /** Peak resident set size of this process, in bytes: `VmHWM` on Linux, else `maxRSS`. */
  readonly peakRssBytes: number;
  readonly peakSource: 'VmHWM' | 'maxRSS';
  /** `process.resourceUsage().maxRSS` in bytes (see the module comment for Linux). */
  readonly maxRssBytes: number;
  /** RSS just before the invocation (modules loaded, handler built). */
  readonly rssBeforeBytes: number;
  readonly wallMs: number;
  readonly status: string;
  readonly imageBytes: number;
}

const input = JSON.parse(process.env.BENCH_MEMORY_CASE ?? 'null') as MemoryCaseInput | null;
if (!input) {
  process.stderr.write('BENCH_MEMORY_CASE is not set; this script is started by bench/memory.ts\n');
  process.exit(2);
}
const client = localS3Client(input.s3Endpoint);
const handler = await createBenchHandler({
  s3: client,
  model: input.model,
  fields: syntheticFields(input.fields),
  maxImageBytes: input.maxImageBytes,
});
try {
  const rssBeforeBytes = process.memoryUsage().rss;
  const invocation = await handler.invoke(input.event);
  // maxRSS is in kilobytes.
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  const hwm = vmHwmBytes();
  const output: MemoryCaseOutput = {
    fields: input.fields,
    peakRssBytes: hwm ?? maxRssBytes,
    peakSource: hwm === undefined ? 'maxRSS' : 'VmHWM',
    maxRssBytes,
    rssBeforeBytes,
    wallMs: invocation.wallMs,
    status: invocation.document.status,
    imageBytes: invocation.document.source.bytes,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
} finally {
  await handler.close();
  client.destroy();
}

/** This process's own peak RSS from /proc/self/status, or undefined off Linux. */
function vmHwmBytes(): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
