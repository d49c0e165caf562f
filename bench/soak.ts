/**
 * `npm run soak`: pushes a few hundred images through the real on-upload
 * handler under at-least-once delivery, model faults, failed result writes
 * and Lambda's retry semantics, prints one table, writes the figures to
 * bench/results/soak-latest.json (or `--out`) and exits non-zero when an
 * image is lost, a model call is spent on a duplicate, the endpoint had
 * more requests in flight than the budget, or the run did not settle in
 * time. See docs/benchmark.md#soak.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { arch, cpus, loadavg, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { renderChecks, renderTable } from './report';
import { soakChecks, soakTable } from './soak-accounting';
import { parseSoakOptions, SOAK_USAGE, type SoakOptions } from './soak-options';
import { formatMetricsSummary } from '../functions/telemetry/summary';
import { runSoak } from './soak-run';
import { round } from './stats';

async function main(): Promise<number> {
  let options: SoakOptions | 'help';
  try {
    options = parseSoakOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${SOAK_USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${SOAK_USAGE}\n`);
    return 0;
  }
  const o = options;
  // The SDK's notice about future Node versions says nothing about the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const environment = {
    node: process.version,
    platform: platform(),
    arch: arch(),
    cpus: cpus().length,
    loadAverageAtStart: loadavg().map((l) => round(l, 2)),
  };
  process.stdout.write(
    `fieldlens soak — ${o.images} images, ${o.concurrency} invocations at once, C = ${o.capacity}, ` +
      `${o.fields} fields, seed ${o.seed}, at most ${o.seconds} s; Node ${environment.node}, ${environment.cpus} CPUs\n\n`,
  );

  const { figures, metrics } = await runSoak(o);
  const checks = soakChecks(figures);
  process.stdout.write(`${renderTable(soakTable(figures))}\n\n${formatMetricsSummary(metrics).join('\n')}\n\n${renderChecks(checks)}\n`);

  const out = resolve(o.out);
  const document = {
    version: 1,
    generatedAt: new Date().toISOString(),
    command: ['npm run soak', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    settings: o,
    environment,
    figures,
    checks,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(`${out}.tmp`, `${JSON.stringify(document, null, 2)}\n`);
  await rename(`${out}.tmp`, out);
  process.stdout.write(`figures written to ${o.out}\n`);
  return checks.every((c) => c.pass) ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
