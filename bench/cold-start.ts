/**
 * Section 4: cold start. The on-upload bundle as the stack builds it
 * (bench/stack-bundle.ts synthesizes the FieldlensStack with real esbuild
 * bundling), its size, and the median time to import it in a fresh Node
 * process, with and without `--enable-source-maps` (the stack sets it in
 * NODE_OPTIONS).
 *
 * Modules the bundle leaves out (the AWS SDK, which the Lambda runtime
 * provides) are linked from the project's node_modules next to the bundle,
 * so the import loads them as the runtime would: time spent loading them
 * is counted.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PROJECT_ROOT } from './local-s3';
import { fixed, mark, ms, type Check, type SectionResult } from './report';
import { median, round } from './stats';

/** Targets: bundle size and import time. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;
export const MAX_IMPORT_MS = 300;

export interface ColdStartOptions {
  /** Fresh processes per import measurement. */
  readonly runs: number;
}

export interface ImportTiming {
  /** Node flags of the measuring process. */
  readonly flags: readonly string[];
  readonly medianMs: number;
  readonly samplesMs: readonly number[];
}

export interface ColdStartFigures {
  /** How the bundle was built. */
  readonly builtBy: string;
  readonly bundleBytes: number;
  readonly sourceMapBytes: number;
  /** gzip -9 of the bundle: roughly what the deployment package adds. */
  readonly bundleGzipBytes: number;
  /** Bare imports the bundle leaves to the runtime. */
  readonly externals: readonly string[];
  /** As deployed (`--enable-source-maps`), then without source maps. */
  readonly imports: readonly ImportTiming[];
  readonly node: string;
  /** The same function built with `-c tracing=true` (the tracer bundled): size and import as deployed. */
  readonly traced?: { readonly bundleBytes: number; readonly imports: readonly ImportTiming[] };
}

const IMPORT_SCRIPT =
  'const t = performance.now(); const m = await import(process.argv[1]); const d = performance.now() - t;' +
  ' if (typeof m.handler !== "function") { console.error("no handler export"); process.exit(2); } console.log(d);';

export async function runColdStartSection(o: ColdStartOptions): Promise<SectionResult<ColdStartFigures>> {
  const outdir = await mkdtemp(join(tmpdir(), 'fieldlens-bench-bundle-'));
  try {
    const { assetDir, logicalId, bundle, code, externals } = await buildBundle(join(outdir, 'default'));
    const imports = await timeImports(bundle, assetDir, o.runs, [['--enable-source-maps'], []]);
    const traced = await buildBundle(join(outdir, 'traced'), 'traced');
    const tracedImports = await timeImports(traced.bundle, traced.assetDir, o.runs, [['--enable-source-maps']]);

    const figures: ColdStartFigures = {
      builtBy: `FieldlensStack synth (function ${logicalId}), esbuild options from infra/constructs/lambda-defaults.ts`,
      bundleBytes: code.length,
      sourceMapBytes: (await stat(`${bundle}.map`).catch(() => ({ size: 0 }))).size,
      bundleGzipBytes: gzipSync(code, { level: 9 }).length,
      externals,
      imports,
      node: process.version,
      traced: { bundleBytes: traced.code.length, imports: tracedImports },
    };
    return { id: 'coldStart', title: 'Cold start: the handler bundle', figures, ...present(figures) };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/** Synthesizes the stack (the `traced` variant with `tracing: true`) and links the bundle's externals next to it. */
async function buildBundle(outdir: string, variant?: 'traced') {
  await mkdir(outdir, { recursive: true });
  const built = await runNode(
    ['--import', 'tsx', fileURLToPath(new URL('./stack-bundle.ts', import.meta.url)), outdir, ...(variant ? [variant] : [])],
    PROJECT_ROOT,
    { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  );
  const { assetDir, logicalId } = JSON.parse(lastLine(built)) as { assetDir: string; logicalId: string };
  const bundle = join(assetDir, 'index.mjs');
  const code = await readFile(bundle);
  const externals = bareImports(code.toString('utf8'));
  await linkExternals(assetDir, externals);
  return { assetDir, logicalId, bundle, code, externals };
}

/** The median `await import(bundle)` in `runs` fresh processes, per set of Node flags. */
async function timeImports(bundle: string, assetDir: string, runs: number, flagSets: readonly (readonly string[])[]): Promise<ImportTiming[]> {
  const imports: ImportTiming[] = [];
  for (const flags of flagSets) {
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const out = await runNode([...flags, '--input-type=module', '-e', IMPORT_SCRIPT, pathToFileURL(bundle).href], assetDir, {
        PATH: process.env.PATH ?? '',
      });
      samples.push(round(Number(lastLine(out)), 1));
    }
    imports.push({ flags, medianMs: round(median(samples), 1), samplesMs: samples });
  }
  return imports;
}

/** Package names the bundle imports at run time (not `node:` built-ins). */
function bareImports(code: string): string[] {
  const names = new Set<string>();
  const packageName = /^(?:@[\w.~-]+\/)?[\w.~-]+(?:\/[\w./~-]*)?$/;
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"'./][^"']*)["']/g)) {
    const spec = m[1]!;
    if (spec.startsWith('node:') || builtinModules.includes(spec) || !packageName.test(spec)) continue;
    const parts = spec.split('/');
    names.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
  }
  return [...names].sort();
}

/** Links each external package from the project's node_modules next to the bundle. */
async function linkExternals(assetDir: string, externals: readonly string[]): Promise<void> {
  for (const name of externals) {
    const target = join(PROJECT_ROOT, 'node_modules', name);
    const link = join(assetDir, 'node_modules', name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(target, link, 'dir').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

async function runNode(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => void (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => void (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`node ${args.slice(0, 3).join(' ')} … failed (exit ${String(code)}):\n${stderr || stdout}`);
  return stdout;
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

function present(f: ColdStartFigures): Pick<SectionResult, 'tables' | 'checks'> {
  const deployed = f.imports[0]!;
  const checks: Check[] = [
    {
      name: 'bundle size (minified ESM)',
      target: `< 1 MiB (${MAX_BUNDLE_BYTES} B)`,
      value: `${f.bundleBytes} B (${fixed(f.bundleBytes / 1024, 1)} KiB)`,
      pass: f.bundleBytes < MAX_BUNDLE_BYTES,
    },
    {
      name: `import time, median of ${deployed.samplesMs.length} fresh processes (${deployed.flags.join(' ') || 'no flags'})`,
      target: `< ${MAX_IMPORT_MS} ms`,
      value: `${fixed(deployed.medianMs, 1)} ms`,
      pass: deployed.medianMs < MAX_IMPORT_MS,
    },
  ];
  return {
    tables: [
      {
        title: `functions/on-upload.ts as the stack bundles it; Node ${f.node}`,
        columns: ['measure', 'value', 'target', ''],
        rows: [
          ['bundle (index.mjs)', `${f.bundleBytes} B`, `< ${MAX_BUNDLE_BYTES} B`, mark(f.bundleBytes < MAX_BUNDLE_BYTES)],
          ['source map', `${f.sourceMapBytes} B`, '', ''],
          ['bundle, gzip -9', `${f.bundleGzipBytes} B`, '', ''],
          ['left to the runtime', f.externals.join(', ') || 'nothing', '', ''],
          ...f.imports.map((i) => [
            `import, ${i.flags.join(' ') || 'no source maps'}`,
            `${ms(i.medianMs)} ms (${i.samplesMs.map((s) => s.toFixed(0)).join(', ')})`,
            i === deployed ? `< ${MAX_IMPORT_MS} ms` : '',
            i === deployed ? mark(i.medianMs < MAX_IMPORT_MS) : '',
          ]),
          ...(f.traced
            ? [
                ['bundle with -c tracing=true', `${f.traced.bundleBytes} B (+${f.traced.bundleBytes - f.bundleBytes} B)`, `< ${MAX_BUNDLE_BYTES} B`, mark(f.traced.bundleBytes < MAX_BUNDLE_BYTES)],
                ...f.traced.imports.map((i) => [
                  `import with tracing, ${i.flags.join(' ') || 'no source maps'}`,
                  `${ms(i.medianMs)} ms (${i.samplesMs.map((s) => s.toFixed(0)).join(', ')})`,
                  'info',
                  '',
                ]),
              ]
            : []),
        ],
        notes: [
          `Built by ${f.builtBy}.`,
          'Import = `await import(bundle)` timed inside a fresh `node --input-type=module` process; median of the runs (samples in brackets).',
          'With tracing the bundle carries the Powertools tracer and the X-Ray SDK; without it esbuild drops them (docs/operations.md#tracing).',
        ],
      },
    ],
    checks,
  };
}
