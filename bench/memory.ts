/**
 * Section 3: peak memory for one large image with 1, 10 and 20 fields.
 *
 * Each case runs the handler in a fresh child process (bench/memory-case.ts)
 * and reports that process's peak RSS. The local S3 server and the test
 * server run in processes of their own, so their memory is not counted. The image is read once and base64-encoded once, and every
 * field's request body shares that buffer: going from 1 to 20 fields should
 * add less than one base64 copy of the image.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pngSignedBytes } from './images';
import { PROJECT_ROOT, startBenchS3 } from './local-s3';
import type { MemoryCaseInput, MemoryCaseOutput } from './memory-case';
import { fixed, mark, ms, type Check, type SectionResult } from './report';
import { mb, round } from './stats';
import { startBenchModel } from './test-model';

export interface MemoryOptions {
  /** Size of the image in bytes. */
  readonly imageBytes: number;
  readonly fieldCounts: readonly number[];
  /** Test server latency: long enough for every request to be in flight at once. */
  readonly latencyMs: number;
}

export interface MemoryCase {
  readonly fields: number;
  /** Peak RSS of the handler's process (VmHWM on Linux). */
  readonly peakRssBytes: number;
  readonly peakSource: 'VmHWM' | 'maxRSS';
  /** `process.resourceUsage().maxRSS` (on Linux it can include the parent's RSS at fork). */
  readonly maxRssBytes: number;
  readonly rssBeforeBytes: number;
  /** Peak RSS over the case with the fewest fields. */
  readonly deltaBytes: number;
  readonly wallMs: number;
  readonly status: string;
}

export interface MemoryFigures {
  readonly imageBytes: number;
  /** One base64 copy of the image: the target for the growth from fewest to most fields. */
  readonly base64Bytes: number;
  readonly cases: readonly MemoryCase[];
  /** Peak RSS growth from the fewest to the most fields. */
  readonly growthBytes: number;
}

export async function runMemorySection(o: MemoryOptions): Promise<SectionResult<MemoryFigures>> {
  const s3 = await startBenchS3();
  const bench = await startBenchModel({ defaultLatencyMs: o.latencyMs });
  try {
    const image = pngSignedBytes(o.imageBytes);
    const outputs: MemoryCaseOutput[] = [];
    for (const fields of o.fieldCounts) {
      const event = await s3.put(`incoming/memory/${outputs.length}-${fields}-fields.png`, image.bytes);
      outputs.push(
        await runCase({ s3Endpoint: s3.endpoint, model: bench.endpoint, fields, maxImageBytes: o.imageBytes, event }),
      );
    }
    const base = outputs.reduce((a, b) => (b.fields < a.fields ? b : a));
    const most = outputs.reduce((a, b) => (b.fields > a.fields ? b : a));
    const figures: MemoryFigures = {
      imageBytes: o.imageBytes,
      base64Bytes: 4 * Math.ceil(o.imageBytes / 3),
      cases: outputs.map((c) => ({
        fields: c.fields,
        peakRssBytes: c.peakRssBytes,
        peakSource: c.peakSource,
        maxRssBytes: c.maxRssBytes,
        rssBeforeBytes: c.rssBeforeBytes,
        deltaBytes: c.peakRssBytes - base.peakRssBytes,
        wallMs: round(c.wallMs, 1),
        status: c.status,
      })),
      growthBytes: most.peakRssBytes - base.peakRssBytes,
    };
    return { id: 'memory', title: 'Memory: one large image', figures, ...present(figures) };
  } finally {
    await bench.close();
    await s3.close();
  }
}

async function runCase(input: MemoryCaseInput): Promise<MemoryCaseOutput> {
  const script = fileURLToPath(new URL('./memory-case.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      BENCH_MEMORY_CASE: JSON.stringify(input),
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  const last = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`memory case with ${input.fields} fields failed (exit ${String(code)}):\n${stderr || stdout}`);
  }
  return JSON.parse(last) as MemoryCaseOutput;
}

function present(f: MemoryFigures): Pick<SectionResult, 'tables' | 'checks'> {
  const fewest = f.cases[0]?.fields ?? 0;
  const most = f.cases.at(-1)?.fields ?? 0;
  const pass = f.growthBytes < f.base64Bytes;
  const checks: Check[] = [
    {
      name: `peak RSS growth from ${fewest} to ${most} fields`,
      target: `< one base64 copy (${fixed(mb(f.base64Bytes), 1)} MB)`,
      value: `${fixed(mb(f.growthBytes), 1)} MB`,
      pass,
    },
    {
      name: 'documents complete',
      target: 'all',
      value: `${f.cases.filter((c) => c.status === 'complete').length}/${f.cases.length}`,
      pass: f.cases.every((c) => c.status === 'complete'),
    },
  ];
  return {
    tables: [
      {
        title: `One ${fixed(mb(f.imageBytes), 1)} MB image (base64 ${fixed(mb(f.base64Bytes), 1)} MB), each case in a fresh process`,
        columns: ['fields', 'peak RSS MB', `Δ vs ${fewest} field${fewest === 1 ? '' : 's'} MB`, 'RSS before MB', 'wall ms', 'status'],
        rows: f.cases.map((c) => [
          String(c.fields),
          fixed(mb(c.peakRssBytes), 1),
          fixed(mb(c.deltaBytes), 1),
          fixed(mb(c.rssBeforeBytes), 1),
          ms(c.wallMs),
          c.status,
        ]),
        notes: [
          `Peak RSS = the handler process's own high-water mark (${f.cases[0]?.peakSource ?? 'VmHWM'}); RSS before = modules loaded, handler built.`,
          `Target: ${fewest} → ${most} fields adds less than one base64 copy of the image: ${fixed(mb(f.growthBytes), 1)} MB < ${fixed(mb(f.base64Bytes), 1)} MB ${mark(pass)}`,
        ],
      },
    ],
    checks,
  };
}
