/**
 * The benchmark's settings: defaults, `--quick`, environment variables and
 * command-line flags, in that order of precedence (flags win).
 */
import { parseArgs } from 'node:util';

export const SECTIONS = ['latency', 'throughput', 'memory', 'cold-start', 's3', 'backfill', 'endpoint'] as const;
export type SectionId = (typeof SECTIONS)[number];

import type { BackfillScaleOptions } from './backfill-scale';

const MiB = 1024 * 1024;

export interface BenchOptions {
  readonly sections: readonly SectionId[];
  /** L: test server latency per field (sections 1, 2, 5). */
  readonly latencyMs: number;
  /** ± jitter as a share of L (section 1; section 2's informational run). */
  readonly jitter: number;
  /** Section 1: field counts. */
  readonly fieldCounts: readonly number[];
  /** Section 1: runs per field count and strategy. */
  readonly repeat: number;
  /** Section 2: N, F, C and the 429s' retry-after-ms. */
  readonly images: number;
  readonly throughputFields: number;
  readonly capacity: number;
  readonly retryAfterMs: number;
  /** Section 3: image size and field counts. */
  readonly memoryBytes: number;
  readonly memoryFields: readonly number[];
  /** Section 4: fresh processes per import measurement. */
  readonly importRuns: number;
  /** Section 5: image sizes in bytes and runs per size. */
  readonly s3Sizes: readonly number[];
  readonly s3Runs: number;
  /** Section 6: objects already in the bucket, fields each, capacity and share, latency, batch size. */
  readonly backfill: BackfillScaleOptions;
  /** Section 7: field counts of the busy-time table. */
  readonly endpointFieldCounts: readonly number[];
  readonly quick: boolean;
  /** Where the figures are written. */
  readonly out: string;
  /** A real model endpoint from MODEL_BASE_URL / MODEL_NAME / MODEL_API_KEY. */
  readonly endpoint?: { readonly baseUrl: string; readonly name: string; readonly apiKey?: string; readonly responseFormat?: string };
}

export const USAGE = `npm run bench -- [options]

Runs the benchmark against the OpenAI-compatible test server and a local
S3-compatible server on loopback, prints a table per section and writes the
figures as JSON.

  --sections <list>       ${SECTIONS.join(',')} (default: all)
  --latency <ms>          L, test server latency per field (default 500)        BENCH_LATENCY_MS
  --jitter <share>        ± jitter as a share of L (default 0.1)                BENCH_JITTER
  --fields <list>         section 1 field counts (default 1,5,10,20,50)         BENCH_FIELDS
  --repeat <n>            section 1 runs per case, medians reported (default 1)
  --images <n>            section 2 N images (default 50)
  --throughput-fields <n> section 2 F fields per image (default 5)
  --capacity <n>          section 2 C requests the server serves at once (default 10)
  --retry-after <ms>      section 2 retry-after-ms of the server's 429s (default 100)
  --memory-mib <n>        section 3 image size in MiB (default 20)
  --memory-fields <list>  section 3 field counts (default 1,10,20)
  --import-runs <n>       section 4 fresh processes per measurement (default 5)
  --s3-mib <list>         section 5 image sizes in MiB (default 0.2,1,5,20)
  --backfill-objects <n>  section 6 objects already in the bucket (default 10000; --quick 1000)
  --backfill-latency <ms> section 6 test server latency per request (default 5)
  --endpoint-fields <list> section 7 field counts (default 1,5,10,20)
  --quick                 a shorter run (same L): fields 1,5,20, N 20, memory 1,20, backfill 1000, endpoint 1,5,10  BENCH_QUICK=1
  --out <file>            results file (default bench/results/latest.json)      BENCH_OUT
  -h, --help

With MODEL_BASE_URL and MODEL_NAME (and MODEL_API_KEY) set, sections 1 and 5
ask that endpoint about the sample images (samples/*.png, else a synthetic
PNG) and latency is the model's own; section 1 then defaults to 1,5,10
fields. Sections 2, 3 and 6 need the test server's knobs and are skipped.`;

/** Parses `argv` (without node and the script) and `env`; throws a readable error on bad input. */
export function parseOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      sections: { type: 'string' },
      latency: { type: 'string' },
      jitter: { type: 'string' },
      fields: { type: 'string' },
      repeat: { type: 'string' },
      images: { type: 'string' },
      'throughput-fields': { type: 'string' },
      capacity: { type: 'string' },
      'retry-after': { type: 'string' },
      'memory-mib': { type: 'string' },
      'memory-fields': { type: 'string' },
      'import-runs': { type: 'string' },
      's3-mib': { type: 'string' },
      'backfill-objects': { type: 'string' },
      'backfill-latency': { type: 'string' },
      'endpoint-fields': { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick === true || env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  const endpoint =
    env.MODEL_BASE_URL && env.MODEL_BASE_URL.trim() !== ''
      ? {
          baseUrl: env.MODEL_BASE_URL,
          name: required(env.MODEL_NAME, 'MODEL_NAME (the model to ask) must be set with MODEL_BASE_URL'),
          ...(env.MODEL_API_KEY ? { apiKey: env.MODEL_API_KEY } : {}),
          ...(env.MODEL_RESPONSE_FORMAT ? { responseFormat: env.MODEL_RESPONSE_FORMAT } : {}),
        }
      : undefined;

  const defaultFields = endpoint ? '1,5,10' : quick ? '1,5,20' : '1,5,10,20,50';
  return {
    sections: list(values.sections ?? SECTIONS.join(','), 'sections').map((s) => {
      if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--sections: unknown section "${s}" (expected ${SECTIONS.join(', ')})`);
      return s as SectionId;
    }),
    latencyMs: int(values.latency ?? env.BENCH_LATENCY_MS ?? '500', 'latency', 1),
    jitter: num(values.jitter ?? env.BENCH_JITTER ?? '0.1', 'jitter', 0, 0.9),
    fieldCounts: list(values.fields ?? env.BENCH_FIELDS ?? defaultFields, 'fields').map((f) => int(f, 'fields', 1)),
    repeat: int(values.repeat ?? '1', 'repeat', 1),
    images: int(values.images ?? (quick ? '20' : '50'), 'images', 1),
    throughputFields: int(values['throughput-fields'] ?? '5', 'throughput-fields', 1),
    capacity: int(values.capacity ?? '10', 'capacity', 1),
    retryAfterMs: int(values['retry-after'] ?? '100', 'retry-after', 0),
    memoryBytes: Math.round(num(values['memory-mib'] ?? '20', 'memory-mib', 0.001, 100) * MiB),
    memoryFields: list(values['memory-fields'] ?? (quick ? '1,20' : '1,10,20'), 'memory-fields').map((f) => int(f, 'memory-fields', 1)),
    importRuns: int(values['import-runs'] ?? (quick ? '3' : '5'), 'import-runs', 1),
    s3Sizes: list(values['s3-mib'] ?? (quick ? '0.2,1,5' : '0.2,1,5,20'), 's3-mib').map((m) =>
      Math.round(num(m, 's3-mib', 0.001, 100) * MiB),
    ),
    // Against a real model every run costs model time: one run per image.
    s3Runs: endpoint ? 1 : quick ? 2 : 3,
    backfill: {
      objects: int(values['backfill-objects'] ?? (quick ? '1000' : '10000'), 'backfill-objects', 1),
      fields: 2,
      capacity: 20,
      share: 0.5,
      latencyMs: int(values['backfill-latency'] ?? '5', 'backfill-latency', 0),
      batchSize: 100,
    },
    endpointFieldCounts: list(values['endpoint-fields'] ?? (quick ? '1,5,10' : '1,5,10,20'), 'endpoint-fields').map((f) =>
      int(f, 'endpoint-fields', 1),
    ),
    quick,
    out: values.out ?? env.BENCH_OUT ?? 'bench/results/latest.json',
    ...(endpoint ? { endpoint } : {}),
  };
}

function required(value: string | undefined, message: string): string {
  if (!value || value.trim() === '') throw new Error(message);
  return value;
}

/** A comma-separated list of `--name`; throws a readable error when empty. */
export function list(value: string, name: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`--${name}: expected a comma-separated list, got "${value}"`);
  return items;
}

/** A whole number ≥ `min` for `--name`; throws a readable error otherwise. */
export function int(value: string, name: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got "${value}"`);
  return n;
}

/** A number from `min` to `max` for `--name`; throws a readable error otherwise. */
export function num(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected a number from ${min} to ${max}, got "${value}"`);
  return n;
}
