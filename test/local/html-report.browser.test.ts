/**
 * The HTML report in a real headless Chromium: what a person opening the
 * file would see. Chromium comes from Debian's package; where it is absent
 * these tests are skipped, loudly, with the command that installs it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeResult, type FieldOutcome, type ResultDocument } from '../../functions/core/document';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { writeHtmlReport } from '../../local/report/write-report';
import { dumpDom, findOrInstallChromium } from '../support/chromium';

const chromium = findOrInstallChromium();
if ('missing' in chromium) console.warn(`SKIPPED: the HTML report's browser tests: ${chromium.missing}`);
const chromiumPath = 'path' in chromium ? chromium.path : '';

const SAMPLES = new URL('../../samples/', import.meta.url);
const ETHANOL = {
  name: '乙醇',
  tag: ['危险', 'GHS02', 'GHS07'],
  risk_notice: ['H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。'],
  pre_notice: ['P210 远离热源、热表面、火花、明火和其他点火源。禁止吸烟。'],
  suppliers: { name: '华东示例化工有限公司', address: '浙江省杭州市', phone: '0571-87654321', emergency_phone: '0571-86695555' },
};
const ACETONE_TAG_WITHOUT_FLAME = ['DANGER', 'GHS07'];

function documentFor(key: string, values: Record<string, unknown>, confidence?: Record<string, number>): ResultDocument {
  const outcomes: FieldOutcome[] = Object.entries(values).map(([name, value]) => ({
    name,
    value,
    result: { status: 'ok', attempts: 1, latencyMs: 900, ...(confidence?.[name] !== undefined ? { confidence: confidence[name] } : {}) },
  }));
  return mergeResult(
    {
      source: { bucket: 'local', key, etag: 'e', bytes: 1, contentType: 'image/png' },
      modelName: 'test-model',
      fingerprint: 'a'.repeat(64),
      startedAt: new Date('2026-01-02T03:04:05.000Z'),
      finishedAt: new Date('2026-01-02T03:04:06.000Z'),
    },
    outcomes,
    { fields: DEFAULT_LABEL_FIELDS },
  );
}

/** The section of the dumped page for one image. */
function sectionOf(dom: string, name: string): string {
  const start = dom.indexOf(`<section class="doc"`, dom.indexOf(`data-name="${name}"`) - 200);
  expect(start, `a section for ${name}`).toBeGreaterThanOrEqual(0);
  const end = dom.indexOf('</section>', start);
  return dom.slice(start, end);
}

/** The text a person reads: tags dropped, entities decoded, spaces collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

/** The `data-*` attributes of every label image in `html`. */
function images(html: string): { loaded?: string; width: number }[] {
  return [...html.matchAll(/<img\b[^>]*data-role="label-image"[^>]*>/g)].map((m) => ({
    loaded: /data-loaded="(\w+)"/.exec(m[0])?.[1],
    width: Number(/data-natural-width="(\d+)"/.exec(m[0])?.[1] ?? NaN),
  }));
}

describe.skipIf(!chromiumPath)('the HTML report in headless Chromium', () => {
  let dir: string;
  let runDom: string;
  let evalDom: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fieldlens-report-'));
    const broken = join(dir, 'broken.png');
    // A PNG signature and nothing after it: sniffed as PNG, undecodable by a browser.
    await writeFile(broken, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0]));
    const ethanol = documentFor('zh-ethanol.png', ETHANOL, { name: 0.97, suppliers: 0.42 });
    const acetone = documentFor('en-acetone.png', { ...ETHANOL, name: 'Acetone', tag: ACETONE_TAG_WITHOUT_FLAME });
    const runFile = await writeHtmlReport(
      join(dir, 'run', 'report.html'),
      [
        { imagePath: new URL('zh-ethanol.png', SAMPLES).pathname, document: ethanol, location: 's3://fieldlens-local/results/zh-ethanol.png.json' },
        { imagePath: new URL('en-acetone.png', SAMPLES).pathname, document: acetone },
        { imagePath: broken, document: documentFor('broken.png', { name: 'x' }) },
      ],
      { title: 'fieldlens — npm start' },
    );
    const expected = JSON.parse(await readFile(new URL('zh-ethanol.expected.json', SAMPLES), 'utf8')) as Record<string, unknown>;
    const evalFile = await writeHtmlReport(
      join(dir, 'eval', 'report.html'),
      [{ imagePath: new URL('zh-ethanol.png', SAMPLES).pathname, document: documentFor('zh-ethanol.png', { ...expected, name: '甲醇' }), expected }],
      { title: 'fieldlens — npm run eval' },
    );
    [runDom, evalDom] = await Promise.all([dumpDom(chromiumPath, runFile), dumpDom(chromiumPath, evalFile)]);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('renders each label image beside its values, and shows an image that cannot be decoded as not loaded', () => {
    // Assess
    expect(images(sectionOf(runDom, 'zh-ethanol.png'))).toEqual([{ loaded: 'true', width: expect.any(Number) }]);
    expect(images(sectionOf(runDom, 'zh-ethanol.png'))[0]!.width).toBeGreaterThan(100);
    expect(images(sectionOf(runDom, 'en-acetone.png'))[0]!.width).toBeGreaterThan(100);
    expect(images(sectionOf(runDom, 'broken.png'))).toEqual([{ loaded: 'false', width: 0 }]);
  });

  it('shows every field’s value as text', () => {
    const text = textOf(sectionOf(runDom, 'zh-ethanol.png'));

    for (const v of ['乙醇', '危险', 'GHS02', 'H225 高度易燃液体和蒸气。', 'H319 造成严重眼刺激。', 'P210 远离热源', '华东示例化工有限公司', '0571-86695555']) {
      expect(text).toContain(v);
    }
    expect(text).toContain('s3://fieldlens-local/results/zh-ethanol.png.json');
  });

  it('shows a review badge and the failed check, in words and by code, for a label missing a pictogram', () => {
    const acetone = sectionOf(runDom, 'en-acetone.png');

    expect(acetone).toMatch(/data-review="needed"/);
    expect(acetone).toMatch(/<span class="badge review-needed" data-role="review-badge">Review needed<\/span>/);
    expect(textOf(acetone)).toContain('tag: H225 require GHS02 (Flame), which is not shown check:GHS_PICTOGRAM_MISSING:tag');
    expect(acetone).toMatch(/<li class="finding sev-error" data-code="GHS_PICTOGRAM_MISSING">/);
  });

  it('shows confidences as percentages and the low one among the review reasons', () => {
    const ethanol = sectionOf(runDom, 'zh-ethanol.png');
    const text = textOf(ethanol);

    expect(ethanol).toMatch(/<span class="badge review-needed"/);
    expect(text).toContain('suppliers: confidence 42% is under 80% confidence:suppliers<0.80');
    expect(ethanol).toMatch(/<span class="high">97%<\/span>/);
    expect(ethanol).toMatch(/<span class="low">42%<\/span>/);
    expect(textOf(runDom)).toContain('2 need review');
  });

  it('in eval mode shows the expected value and a mismatch marker on the field that differs', () => {
    const section = sectionOf(evalDom, 'zh-ethanol.png');
    const nameRow = /<tr data-field="name"[^>]*>[\s\S]*?<\/tr>/.exec(section)![0];
    const tagRow = /<tr data-field="tag"[^>]*>[\s\S]*?<\/tr>/.exec(section)![0];

    expect(nameRow).toContain('data-match="false"');
    expect(textOf(nameRow)).toMatch(/甲醇 .*乙醇 .*✘ mismatch/);
    expect(tagRow).toContain('data-match="true"');
    expect(textOf(tagRow)).toContain('✔ match');
    expect(textOf(evalDom)).toContain('✘ 1 mismatched');
  });
});
