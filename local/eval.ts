/**
 * `npm run eval`: how well the configured model extracts the fields.
 *
 *   npm run eval                              # the sample images, the offline local model
 *   npm run eval -- path/to/folder            # any folder of images with <name>.expected.json beside them
 *   MODEL_BASE_URL=… MODEL_NAME=… npm run eval  # a real endpoint (MODEL_API_KEY if it needs one)
 *
 * Every image goes through the project's real extraction (the same fan-out,
 * client, retries and answer validation the Lambda uses). Per field it
 * prints the exact-match rate and the mean similarity (see `eval/score.ts`),
 * over all images and per language (Chinese labels and English ones), then
 * the fields of images that did not match exactly, lowest first; it writes
 * every expected and extracted value to `.fieldlens/eval/latest.json` (or
 * `--out`), so models and prompts can be compared run against run.
 *
 * Options: `--out <file>`, `--min-similarity <0-1>` (exit 1 below it, for CI).
 * Settings come from the same variables as the Lambda: FIELDS,
 * MODEL_RESPONSE_FORMAT, MODEL_TIMEOUT_MS, MODEL_MAX_RETRIES,
 * MODEL_MAX_CONCURRENCY, MODEL_MAX_TOKENS.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeSharedPools } from '../functions/adapters/openai-chat';
import { costOf, createCostMeter, formatCost } from '../functions/core/cost';
import { startDeadline } from '../functions/core/deadline';
import { extractFields } from '../functions/core/extract';
import { AimdLevel, createAdaptiveLimit } from '../functions/core/adaptive-limit';
import { createModelClient } from '../functions/model-client';
import { loadModelRuntime } from '../functions/runtime';
import { prepareImage, sniffImage } from '../functions/core/image';
import { addUsage } from '../functions/core/usage';
import { formatTable, languageOf, lowestCells, scoreValue, summarise } from './eval/score';
import type { ScoredField } from './eval/score';
import { startLocalModelServer } from './model-server/server';
import { evalDocument, writeHtmlReport, type ReportSource } from './report/write-report';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif']);

/** An image and the values it should yield. */
interface Case {
  readonly image: string;
  readonly expectedFile: string;
  readonly expected: Record<string, unknown>;
}

/**
 * Images in `folder` that have expected values beside them, as
 * `<stem>.expected.json` (zh-ethanol.png → zh-ethanol.expected.json) or
 * `<file>.expected.json`.
 */
async function findCases(folder: string): Promise<Case[]> {
  const names = (await readdir(folder)).sort();
  const present = new Set(names);
  const cases: Case[] = [];
  for (const name of names) {
    const ext = path.extname(name).toLowerCase();
    if (!IMAGE_EXTENSIONS.has(ext)) continue;
    const candidates = [`${name.slice(0, -ext.length)}.expected.json`, `${name}.expected.json`];
    const expectedName = candidates.find((c) => present.has(c));
    if (!expectedName) continue;
    const expectedFile = path.join(folder, expectedName);
    let expected: unknown;
    try {
      expected = JSON.parse(await readFile(expectedFile, 'utf8'));
    } catch (err) {
      throw new Error(`${expectedFile}: not valid JSON (${(err as Error).message})`);
    }
    if (!expected || typeof expected !== 'object' || Array.isArray(expected)) {
      throw new Error(`${expectedFile}: expected a JSON object of field values`);
    }
    cases.push({ image: path.join(folder, name), expectedFile, expected: expected as Record<string, unknown> });
  }
  return cases;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string', default: path.join(ROOT, '.fieldlens', 'eval', 'latest.json') },
      'min-similarity': { type: 'string' },
    },
  });
  const folder = path.resolve(positionals[0] ?? path.join(ROOT, 'samples'));
  const minSimilarity = values['min-similarity'] === undefined ? undefined : Number(values['min-similarity']);
  if (minSimilarity !== undefined && !(minSimilarity >= 0 && minSimilarity <= 1)) {
    console.error(`--min-similarity must be a number from 0 to 1, got "${values['min-similarity']}"`);
    return 2;
  }
  const cases = await findCases(folder);
  if (cases.length === 0) {
    console.error(`No images with <name>.expected.json beside them in ${folder}`);
    return 2;
  }

  const env: Record<string, string | undefined> = { ...process.env };
  let local: Awaited<ReturnType<typeof startLocalModelServer>> | undefined;
  if (!env.MODEL_BASE_URL) {
    local = await startLocalModelServer({});
    env.MODEL_BASE_URL = local.baseUrl;
    env.MODEL_NAME = local.modelName;
  }
  try {
    env.LOG_LEVEL ??= 'warn';
    const rt = await loadModelRuntime(env, createModelClient, { logWrite: (l) => void process.stderr.write(l) });
    const { config, model, clock } = rt;
    console.log(
      `model: ${config.model.name} at ${config.model.baseUrl}${local ? ' (the offline local model)' : ''}; ` +
        `${cases.length} images, ${config.fields.length} fields, response format ${config.model.responseFormat}\n`,
    );

    const startedAt = new Date();
    const cells: ScoredField[] = [];
    const images: unknown[] = [];
    const reportSources: ReportSource[] = [];
    const spent = createCostMeter();
    // As in the handler: fewer requests at once while the endpoint throttles, learnt across the images.
    const level = new AimdLevel(config.model.maxConcurrency);
    for (const c of cases) {
      const bytes = await readFile(c.image);
      const mime = sniffImage(bytes);
      const rel = path.relative(process.cwd(), c.image);
      if (!mime) {
        console.log(`${rel}: not a JPEG, PNG, WebP or GIF image; skipped`);
        continue;
      }
      // Generous: every attempt of a field may time out and be retried.
      const deadline = startDeadline(config.model.timeoutMs * (config.model.maxRetries + 2), clock);
      const started = performance.now();
      const outcomes = await extractFields({
        image: prepareImage(bytes, mime),
        fields: config.fields,
        model,
        deadline: deadline.signal,
        deadlineAt: deadline.at,
        limit: createAdaptiveLimit(level),
        ...rt.modelSettings,
        clock,
        logger: rt.logger.child({ image: rel }),
      }).finally(() => deadline.dispose());
      const durationMs = Math.round(performance.now() - started);
      const document = evalDocument({ key: rel, bytes: bytes.length, mime, outcomes, settings: rt.settings, modelName: config.model.name, durationMs });
      reportSources.push({ imagePath: c.image, document, expected: c.expected });

      const fields: Record<string, unknown> = {};
      const scored: ScoredField[] = [];
      const language = languageOf(c.expected);
      for (const o of outcomes) {
        // Only fields the expected file names are scored.
        if (!(o.name in c.expected)) continue;
        const failed = o.result.status === 'error';
        const score = scoreValue(c.expected[o.name], failed ? null : o.value);
        scored.push({ field: o.name, score, language, image: rel, ...(failed ? { error: true } : {}) });
        fields[o.name] = {
          exact: score.exact,
          similarity: round(score.similarity),
          expected: c.expected[o.name] ?? null,
          actual: failed ? null : o.value,
          ...(o.result.error ? { error: o.result.error } : {}),
        };
      }
      cells.push(...scored);
      const mean = scored.reduce((n, s) => n + s.score.similarity, 0) / Math.max(1, scored.length);
      const ok = outcomes.filter((o) => o.result.status === 'ok').length;
      const usage = outcomes.reduce<ReturnType<typeof addUsage> | undefined>((u, o) => (o.result.usage ? addUsage(u, o.result.usage) : u), undefined);
      const cost = rt.settings.prices ? costOf(usage, rt.settings.prices) : undefined;
      if (cost) spent.add(cost);
      console.log(
        `${rel.padEnd(36)} ${ok}/${outcomes.length} fields ok  ${(durationMs / 1000).toFixed(1).padStart(5)} s  ` +
          `similarity ${mean.toFixed(3)}  exact ${scored.filter((s) => s.score.exact).length}/${scored.length}` +
          (cost ? `  cost ${formatCost(cost)}` : ''),
      );
      images.push({ image: rel, language, durationMs, fields, ...(usage ? { usage } : {}), ...(cost ? { cost } : {}) });
    }

    const summary = summarise(cells);
    console.log(`\n${formatTable(summary)}\n`);
    const lowest = lowestCells(cells);
    if (lowest.length > 0) {
      console.log('not exact, lowest similarity first:');
      for (const c of lowest) console.log(`  ${c.score.similarity.toFixed(3)}  ${c.field.padEnd(12)} ${c.image ?? ''}`);
      console.log('');
    }
    if (rt.settings.prices) {
      const currency = rt.settings.prices.currency;
      console.log(`cost: ${formatCost({ currency, total: spent.total })} for ${spent.documents} images (${formatCost({ currency, total: spent.total / Math.max(1, spent.documents) })} per image)\n`);
    }
    const report = {
      version: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      folder: path.relative(process.cwd(), folder) || '.',
      model: { name: config.model.name, baseUrl: config.model.baseUrl, local: local !== undefined },
      responseFormat: config.model.responseFormat,
      overall: { ...rounded(summary.overall), languages: summary.overall.languages.map(rounded) },
      fields: summary.fields.map((f) => ({ ...rounded(f), languages: f.languages.map(rounded) })),
      images,
    };
    await mkdir(path.dirname(values.out), { recursive: true });
    await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`report: ${path.relative(process.cwd(), values.out)}`);
    const html = await writeHtmlReport(path.join(path.dirname(values.out), 'report.html'), reportSources, { title: 'fieldlens — npm run eval', subtitle: `model ${config.model.name}, ${cases.length} images` });
    console.log(`HTML report: ${path.relative(process.cwd(), html)}`);
    if (local) {
      const s = local.stats();
      console.log(`local model: ${s.ocrRuns} OCR runs for ${cases.length} images (${s.hits} cache hits)`);
    }
    if (minSimilarity !== undefined && summary.overall.meanSimilarity < minSimilarity) {
      console.error(`mean similarity ${summary.overall.meanSimilarity.toFixed(3)} is below --min-similarity ${minSimilarity}`);
      return 1;
    }
    return 0;
  } finally {
    await closeSharedPools();
    await local?.close();
  }
}

function rounded<T extends { exactRate: number; meanSimilarity: number }>(f: T): T {
  return { ...f, exactRate: round(f.exactRate), meanSimilarity: round(f.meanSimilarity) };
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

process.exitCode = await main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  return 1;
});
