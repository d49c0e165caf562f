/**
 * `npm run bench`: runs the sections, prints a table per section with ✔/✘
 * against each target, and writes every figure to bench/results/latest.json
 * (or `--out`). See docs/benchmark.md.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { cpus, arch, platform, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { runBackfillScaleSection } from './backfill-scale';
import { runColdStartSection } from './cold-start';
import { DEFAULT_ENDPOINT_COST, runEndpointWorkSection } from './endpoint-work';
import { noisePng, sampleImages } from './images';
import { runLatencySection } from './latency';
import { runMemorySection } from './memory';
import { parseOptions, USAGE, type BenchOptions, type SectionId } from './options';
import { renderSection, type SectionResult } from './report';
import { runS3OverheadSection } from './s3-overhead';
import { round } from './stats';
import { runThroughputSection } from './throughput';

const TITLES: Record<SectionId, { key: string; title: string }> = {
  latency: { key: 'latency', title: 'Latency vs number of fields' },
  throughput: { key: 'throughput', title: 'Throughput under the endpoint’s capacity' },
  memory: { key: 'memory', title: 'Memory: one large image' },
  'cold-start': { key: 'coldStart', title: 'Cold start: the handler bundle' },
  s3: { key: 's3', title: 'S3 overhead per image' },
  backfill: { key: 'backfill', title: 'Backfill of a bucket that already holds objects' },
  endpoint: { key: 'endpoint', title: 'Endpoint work: one image, F questions' },
};

const SAMPLES_DIR = fileURLToPath(new URL('../samples', import.meta.url));

async function runSection(id: SectionId, o: BenchOptions): Promise<SectionResult> {
  const realImages = async () => {
    const samples = await sampleImages(SAMPLES_DIR);
    return samples.length > 0 ? samples : [noisePng(200_000)];
  };
  switch (id) {
    case 'latency':
      return runLatencySection({
        fieldCounts: o.fieldCounts,
        latencyMs: o.latencyMs,
        jitter: o.jitter,
        repeat: o.repeat,
        ...(o.endpoint ? { endpoint: o.endpoint, images: await realImages() } : {}),
      });
    case 'throughput':
      return runThroughputSection({
        images: o.images,
        fieldsPerImage: o.throughputFields,
        capacity: o.capacity,
        latencyMs: o.latencyMs,
        jitter: o.jitter,
        retryAfterMs: o.retryAfterMs,
        oversubscription: 2,
      });
    case 'memory':
      return runMemorySection({ imageBytes: o.memoryBytes, fieldCounts: o.memoryFields, latencyMs: 300 });
    case 'cold-start':
      return runColdStartSection({ runs: o.importRuns });
    case 's3':
      return runS3OverheadSection({
        sizes: o.s3Sizes,
        runs: o.s3Runs,
        fields: 5,
        latencyMs: o.latencyMs,
        ...(o.endpoint ? { endpoint: o.endpoint, images: await realImages() } : {}),
      });
    case 'backfill':
      return runBackfillScaleSection(o.backfill);
    case 'endpoint':
      return runEndpointWorkSection({
        fieldCounts: o.endpointFieldCounts,
        imageBytes: 200_000,
        fields: 5,
        images: o.images,
        capacity: o.capacity,
        // Twice C: while some images read and write S3, the others keep the endpoint busy.
        imagesAtOnce: 2 * o.capacity,
        cost: DEFAULT_ENDPOINT_COST,
      });
  }
}

/** Why a section cannot run against a real endpoint. */
function skipReason(id: SectionId, o: BenchOptions): string | undefined {
  if (!o.endpoint) return undefined;
  if (id === 'throughput') return 'needs the test server’s capacity and 429 knobs (MODEL_BASE_URL is set)';
  if (id === 'memory') return 'sends a 20 MiB non-decodable image; needs the test server (MODEL_BASE_URL is set)';
  if (id === 'backfill') return 'asks about thousands of synthetic objects; needs the test server (MODEL_BASE_URL is set)';
  if (id === 'endpoint') return 'needs the prefix-caching test server (MODEL_BASE_URL is set)';
  return undefined;
}

async function main(): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const o = options;
  // The SDK's notice about future Node versions says nothing about the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const started = performance.now();
  const environment = {
    node: process.version,
    platform: platform(),
    arch: arch(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemoryBytes: totalmem(),
    loadAverageAtStart: loadavg().map((l) => round(l, 2)),
  };
  process.stdout.write(
    `fieldlens benchmark — ${o.endpoint ? `model endpoint ${o.endpoint.baseUrl} (${o.endpoint.name})` : 'OpenAI-compatible test server'}, ` +
      `local S3-compatible server; Node ${environment.node}, ${environment.cpus} × ${environment.cpuModel}${o.quick ? '; --quick' : ''}\n\n`,
  );

  const results: SectionResult[] = [];
  let crashed = false;
  for (const id of o.sections) {
    const { key, title } = TITLES[id];
    const skipped = skipReason(id, o);
    let result: SectionResult;
    if (skipped) {
      result = { id: key, title, figures: null, tables: [], checks: [], skipped };
    } else {
      process.stderr.write(`running ${id}…\n`);
      const t = performance.now();
      try {
        result = await runSection(id, o);
      } catch (err) {
        crashed = true;
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        result = { id: key, title, figures: null, tables: [], checks: [], skipped: `failed: ${message}` };
      }
      process.stderr.write(`${id} took ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
    results.push(result);
    process.stdout.write(`${renderSection(result)}\n\n`);
  }

  const checks = results.flatMap((r) => r.checks.map((c) => ({ section: r.id, ...c })));
  const failed = checks.filter((c) => !c.pass);
  const durationMs = performance.now() - started;
  process.stdout.write(
    `${checks.length - failed.length} of ${checks.length} targets met` +
      (failed.length > 0 ? `; not met: ${failed.map((c) => `${c.section}: ${c.name}`).join('; ')}` : '') +
      ` — ${(durationMs / 1000).toFixed(0)} s\n`,
  );

  const out = resolve(o.out);
  const document = {
    version: 1,
    generatedAt: new Date().toISOString(),
    durationMs: round(durationMs),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    settings: { ...o, endpoint: o.endpoint ? { baseUrl: o.endpoint.baseUrl, name: o.endpoint.name } : null },
    environment,
    sections: Object.fromEntries(
      results.map((r) => [r.id, { title: r.title, ...(r.skipped ? { skipped: r.skipped } : {}), figures: r.figures, checks: r.checks }]),
    ),
    summary: { targets: checks.length, met: checks.length - failed.length, notMet: failed.map((c) => `${c.section}: ${c.name}`) },
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(`${out}.tmp`, `${JSON.stringify(document, null, 2)}\n`);
  await rename(`${out}.tmp`, out);
  process.stdout.write(`figures written to ${o.out}\n`);
  return crashed ? 1 : 0;
}

process.exitCode = await main();
